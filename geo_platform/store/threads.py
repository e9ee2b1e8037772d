"""Small threading helpers of the loaders: work produced ahead, calls kept in order, and work
taken by whichever of two workers is free first.

On two cores a loader's stages (read and clean, encode and send, accumulate the extent) overlap
only when they run in threads of their own; GDAL, shapely, numpy and pyarrow release the GIL in
their heavy parts, so the threads do run side by side.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")
A = TypeVar("A")
_ITEM, _DONE, _ERROR = range(3)


def ahead(produce: Iterator[T], depth: int = 1) -> Generator[T, None, None]:
    """The items of ``produce``, computed in a worker thread at most ``depth`` ahead of the
    consumer (a loader reads and cleans the next batch, GDAL, shapely and numpy releasing the
    GIL, while this one is encoded and sent). An error of the producer is raised here; closing the
    iterator stops the producer and waits for it (before the source is closed)."""
    box: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[int, Any]) -> bool:
        while not stop.is_set():
            try:
                box.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in produce:
                if not put((_ITEM, item)):
                    return
            put((_DONE, None))
        except BaseException as exc:  # handed to the consumer
            put((_ERROR, exc))
        finally:  # a generator's own threads are done before the consumer goes on
            close = getattr(produce, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=work, name="clean-ahead", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = box.get()
            if kind == _ERROR:
                raise value
            if kind == _DONE:
                return
            yield value
    finally:
        stop.set()
        worker.join()


def mapped(fn: Callable[[A], T], items: Iterable[A], workers: int) -> Generator[T, None, None]:
    """``fn`` of each item, in the items' order, computed by up to ``workers`` threads at once
    (a loader cleans two batches side by side: shapely's GEOS calls release the GIL). An item is
    taken from ``items`` only when a thread is about to be free, so at most ``workers + 1``
    are held. An error of ``fn`` is raised here, in order; closing the generator waits for the
    calls under way and cancels the rest."""
    if workers <= 1:
        yield from map(fn, items)
        return
    pending: deque[Future[T]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mapped") as pool:
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for job in pending:
                job.cancel()


class InOrder:
    """Calls run one after another in one background thread (started on first use)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._pool: ThreadPoolExecutor | None = None
        self._jobs: list[Future[Any]] = []

    def submit(self, fn: Any, *args: Any) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        self._jobs.append(self._pool.submit(fn, *args))
        done = [j for j in self._jobs if j.done()]
        for job in done:
            job.result()  # an error surfaces at the next batch
            self._jobs.remove(job)

    def wait(self, raise_errors: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        jobs, self._jobs = self._jobs, []
        if raise_errors:
            for job in jobs:
                job.result()


class FirstFree(Generic[T]):
    """Work that either of two workers may do: the first to call ``offer`` does it, a later
    ``offer`` returns at once, and ``result`` gives its value (or raises its error) to whoever
    needs it. Two connections with a list of scans to run: whichever is free first takes the
    next one, whatever the sizes of the tables make their other work last."""

    def __init__(self, work: Callable[..., T]) -> None:
        self._work = work
        self._lock = threading.Lock()
        self._taken = False
        self._future: Future[T] = Future()

    def offer(self, *args: Any) -> None:
        with self._lock:
            if self._taken:
                return
            self._taken = True
        try:
            self._future.set_result(self._work(*args))
        except BaseException as exc:  # handed to whoever asks for the result
            self._future.set_exception(exc)

    def result(self) -> T:
        return self._future.result()
