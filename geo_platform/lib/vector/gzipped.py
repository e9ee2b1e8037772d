"""Gzip-compressed vector files (``roads.geojson.gz``, ``points.csv.gz``, ``sites.gpkg.gz``).

Large GeoJSON and CSV exports often arrive gzipped. Such a file is a vector when the name
before ``.gz`` is a single-file vector format (``bronze.classify``); it is decompressed once,
streamed to a private temporary file named after that inner name, and read from there like any
other file, so GDAL gets random access and every check applies to the real content. The zip
bomb limits hold: the decompressed size may not exceed ``max_archive_bytes``, nor
``max_archive_ratio`` times the compressed size (beyond ``archive.RATIO_CHECK_MIN_BYTES``).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import posixpath
import shutil
import tempfile
import weakref
import zlib
from pathlib import Path

from geo_platform.lib.errors import TooLargeError, UnreadableFileError
from geo_platform.lib.vector.archive import RATIO_CHECK_MIN_BYTES
from geo_platform.lib.vector.options import VectorOptions

_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


def is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == _MAGIC


def inner_name(name: str) -> str:
    """'exports/roads.geojson.gz' -> 'roads.geojson' (a bare '.gz' keeps its stem)."""
    base = posixpath.basename(name)
    return base[:-3] if base.lower().endswith(".gz") and len(base) > 3 else base


class Gunzipped:
    """The decompressed copy of a gzipped file; deleted when the last holder goes away."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._finalizer = weakref.finalize(self, _remove, str(path.parent))


def _remove(folder: str) -> None:
    with contextlib.suppress(OSError):
        shutil.rmtree(folder)


def gunzip(path: Path, name: str, options: VectorOptions) -> Gunzipped:
    """Decompress ``path`` (bronze blob ``name``) to a temporary file named after its inner
    name; ``TooLargeError`` beyond the zip bomb limits, ``UnreadableFileError`` when corrupt."""
    size = path.stat().st_size
    ratio_limit = max(RATIO_CHECK_MIN_BYTES, int(size * options.max_archive_ratio))
    limit = min(options.max_archive_bytes, ratio_limit)
    folder = Path(tempfile.mkdtemp(prefix="geo_platform_gz_"))
    holder = Gunzipped(folder / (inner_name(name).replace(os.sep, "_") or "data"))
    written = 0
    try:
        with gzip.open(path, "rb") as src, holder.path.open("wb") as dst:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > limit:
                    raise TooLargeError(
                        f"gzip content expands beyond {limit} bytes ({size} compressed): "
                        "refusing a possible decompression bomb",
                        path=name,
                    )
                dst.write(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(f"corrupt gzip data: {exc}", path=name) from exc
    return holder
