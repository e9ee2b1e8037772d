"""Gzip-compressed bronze files (``roads.geojson.gz``, ``dem.asc.gz``, ``run.nc.gz``).

Large exports often arrive gzipped. Such a file is a raster or a vector by the name before
``.gz`` (``bronze.classify``); it is decompressed once, streamed to a private temporary folder
under that inner name, and read from there like any other file, so GDAL gets random access and
every check applies to the real content. Sidecars of the compressed file (``dem.prj`` beside
``dem.asc.gz``) are linked next to the copy, where GDAL looks for them. Decompression bombs are
refused: the content may not exceed ``max_bytes``, nor ``max_ratio`` times the compressed size
(beyond ``RATIO_CHECK_MIN_BYTES``).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import posixpath
import zlib
from pathlib import Path

from geo_platform.lib.errors import TooLargeError, UnreadableFileError
from geo_platform.lib.gdal_paths import LinkDir

RATIO_CHECK_MIN_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_BYTES = 8 * 1024**3  # as the zip limits (``VectorOptions``)
DEFAULT_MAX_RATIO = 200.0
_CHUNK = 1 << 20


def is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def inner_name(name: str) -> str:
    """'exports/roads.geojson.gz' -> 'roads.geojson' (a bare '.gz' keeps its stem)."""
    base = posixpath.basename(name)
    return base[:-3] if base.lower().endswith(".gz") and len(base) > 3 else base


class Gunzipped:
    """The decompressed copy of a gzipped file, in a private folder deleted when the last
    holder of this object goes away (``gdal_paths.LinkDir``)."""

    def __init__(self, folder: LinkDir, name: str) -> None:
        self.folder = folder
        self.path = folder.path / name


def gunzip(path: Path, name: str, *, max_bytes: int, max_ratio: float) -> Gunzipped:
    """Decompress ``path`` (bronze blob ``name``) to a temporary file named after its inner
    name, its sidecars linked beside it; ``TooLargeError`` beyond the limits,
    ``UnreadableFileError`` when the data is corrupt."""
    size = path.stat().st_size
    limit = min(max_bytes, max(RATIO_CHECK_MIN_BYTES, int(size * max_ratio)))
    holder = Gunzipped(LinkDir(), inner_name(name).replace(os.sep, "_") or "data")
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
    _link_sidecars(path, holder.path)
    return holder


def if_compressed(path: Path, name: str) -> Gunzipped | None:
    """The decompressed copy of ``path`` when it is gzipped (default limits), else None."""
    if not is_gzip(path):
        return None
    return gunzip(path, name, max_bytes=DEFAULT_MAX_BYTES, max_ratio=DEFAULT_MAX_RATIO)


def _link_sidecars(path: Path, copy: Path) -> None:
    """Files beside ``path`` that share the inner stem (``dem.prj``, ``dem.asc.aux.xml``)."""
    stem = posixpath.splitext(copy.name)[0].lower()  # dem.asc -> dem
    if not stem:
        return
    for sibling in path.parent.iterdir():
        low = sibling.name.lower()
        if sibling == path or not low.startswith(stem + ".") or low.endswith(".gz"):
            continue
        target = copy.parent / sibling.name
        if not target.exists():
            with contextlib.suppress(OSError):
                target.symlink_to(sibling.resolve())
