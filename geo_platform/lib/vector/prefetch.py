"""A GeoJSON's reader opened while the file is being described.

GDAL parses a GeoJSON (or GeoJSONSeq) file whole every time it opens it: the listing's
``read_info`` parses it once, and the reader's ``open_arrow`` parses it again before its first
feature (2.3-2.7 s each for 281 MB of polygons, where ``ogr2ogr`` opens once). GDAL releases
the GIL while it parses, so ``Prefetch`` opens the reader in a thread of its own while the
listing runs: the two parses overlap on two cores. The loader hands the opened reader to
``read.open_batches`` (``LayerSource.prefetch``), which takes it only for the full read it was
opened for (all columns, GDAL's feature ids included) and re-slices its batches to the size
asked (``rechunked``), so every output is the same as from a reader opened then: the same
rows, in the same batches. Anything unexpected (the file is not what its name says, GDAL fails)
leaves the prefetched reader unused and closed: the normal open then reports the error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyogrio.raw import open_arrow

from geo_platform.lib.vector.source import LayerSource

PREFETCH_ROWS = 16_384
"""Rows per batch of the prefetched reader (re-sliced to the loader's batch size)."""
SUFFIXES = (".geojson", ".json", ".geojsonl", ".geojsons", ".ndjson", ".jsonl")
"""Names of files worth prefetching: those GDAL parses whole on open."""
DRIVERS = ("GeoJSON", "GeoJSONSeq")
FID = "OGC_FID"  # GDAL's name for the FID column of a GeoJSON layer in its Arrow stream


class Prefetch:
    """``open_arrow(path)`` (all columns, feature ids too) started in a thread; ``take()``
    gives it to one reader, ``close()`` closes it if nobody took it."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._context: AbstractContextManager[Any] | None = None
        self._opened: tuple[Any, Any] | None = None
        self._taken = False
        self._thread = threading.Thread(target=self._open, name="prefetch-open", daemon=True)
        self._thread.start()

    @classmethod
    def worth_it(cls, path: Path) -> bool:
        return path.suffix.lower() in SUFFIXES and path.is_file()

    def _open(self) -> None:
        try:
            context = open_arrow(self.path, batch_size=PREFETCH_ROWS, use_pyarrow=True,
                                 return_fids=True, datetime_as_string=True)  # fmt: skip
            self._opened = context.__enter__()
            self._context = context
        except Exception:
            pass

    def take(self, src: LayerSource) -> Any | None:
        """The opened reader (an Arrow stream of batches, GDAL's FID column first), once, if
        it reads what ``src`` asks (its file, with no open option and GDAL's default encoding)
        and was opened; else None. Called by the one thread that reads the layer."""
        self._thread.join()
        if self._taken or self._opened is None or src.driver not in DRIVERS:
            return None
        if (src.gdal_path, src.open_options, src.encoding) != (self.path, {}, None):
            return None
        names = self._opened[1].schema.names
        if names[0] != FID or names.count(FID) != 1:
            return None
        self._taken = True
        return self._opened[1]

    def close(self) -> None:
        """Close the reader (whether or not it was taken: its reading is over by then)."""
        self._thread.join()
        context, self._context = self._context, None
        if context is not None:
            context.__exit__(None, None, None)


def rechunked(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """``batches`` re-sliced into batches of exactly ``rows`` rows (the last one fewer), as a
    reader opened with ``batch_size=rows`` gives them."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        while batch.num_rows:
            take = min(rows - held, batch.num_rows)
            pending.append(batch.slice(0, take))
            held += take
            batch = batch.slice(take)
            if held == rows:
                yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)
                pending, held = [], 0
    if pending:
        yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)
