"""store.threads: work produced ahead, calls kept in order, work taken by the first free."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import closing

import pytest

from geo_platform.store.threads import FirstFree, InOrder, ahead, mapped


def test_ahead_yields_every_item_in_order_from_another_thread() -> None:
    threads: set[str] = set()

    def produce() -> Iterator[int]:
        for i in range(50):
            threads.add(threading.current_thread().name)
            yield i

    assert list(ahead(produce())) == list(range(50))
    assert threads == {"clean-ahead"}


def test_a_producer_error_reaches_the_consumer_after_the_items_before_it() -> None:
    def produce() -> Iterator[int]:
        yield 1
        raise ValueError("bad batch")

    got = []
    with pytest.raises(ValueError, match="bad batch"):
        for item in ahead(produce()):
            got.append(item)
    assert got == [1]


def test_closing_early_stops_the_producer_and_waits_for_it() -> None:
    produced: list[int] = []

    def produce() -> Iterator[int]:
        for i in range(1000):
            produced.append(i)
            yield i

    with closing(ahead(produce(), depth=1)) as items:
        assert next(items) == 0
    count = len(produced)
    time.sleep(0.2)
    assert len(produced) == count < 1000  # stopped, and no longer running
    assert not [t for t in threading.enumerate() if t.name == "clean-ahead"]


def test_mapped_keeps_the_order_and_runs_calls_side_by_side() -> None:
    inside, most = 0, 0
    lock = threading.Lock()

    def slow_square(i: int) -> int:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.02 if i % 2 else 0.001)  # later items often finish first
        with lock:
            inside -= 1
        return i * i

    assert list(mapped(slow_square, range(20), workers=3)) == [i * i for i in range(20)]
    assert most == 3
    assert list(mapped(slow_square, range(5), workers=1)) == [0, 1, 4, 9, 16]


def test_mapped_raises_an_error_in_order_and_closing_waits_for_the_calls() -> None:
    taken: list[int] = []

    def items() -> Iterator[int]:
        for i in range(1000):
            taken.append(i)
            yield i

    def fail_at_3(i: int) -> int:
        if i == 3:
            raise ValueError("bad piece 3")
        return i

    got = []
    with pytest.raises(ValueError, match="bad piece 3"):
        for value in mapped(fail_at_3, items(), workers=2):
            got.append(value)
    assert got == [0, 1, 2]
    assert len(taken) <= 6  # items are taken only as threads come free

    with closing(mapped(lambda i: i, items(), workers=2)) as values:
        assert next(values) == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("mapped")]


def test_in_order_runs_calls_in_sequence_and_raises_their_errors() -> None:
    seen: list[int] = []
    jobs = InOrder("t")
    for i in range(20):
        jobs.submit(seen.append, i)
    jobs.wait()
    assert seen == list(range(20))

    def slow_failure() -> None:
        time.sleep(0.05)
        raise ZeroDivisionError("in the thread")

    jobs.submit(slow_failure)
    with pytest.raises(ZeroDivisionError, match="in the thread"):
        jobs.wait()
    jobs.submit(slow_failure)
    jobs.wait(raise_errors=False)  # an abort: waits, raises nothing
    assert not [t for t in threading.enumerate() if t.name.startswith("t_")]


def test_first_free_runs_the_work_once_for_whoever_offers_first() -> None:
    calls: list[str] = []
    started, release = threading.Event(), threading.Event()

    def work(who: str) -> str:
        calls.append(who)
        started.set()
        release.wait(5)
        return f"done by {who}"

    task: FirstFree[str] = FirstFree(work)
    first = threading.Thread(target=task.offer, args=("index connection",))
    first.start()
    assert started.wait(5)
    task.offer("caller")  # taken: returns at once, while the work still runs
    release.set()
    first.join(5)
    assert calls == ["index connection"] and task.result() == "done by index connection"


def test_first_free_hands_its_error_to_whoever_asks() -> None:
    def work() -> int:
        raise ValueError("scan failed")

    task: FirstFree[int] = FirstFree(work)
    task.offer()
    task.offer()
    with pytest.raises(ValueError, match="scan failed"):
        task.result()
