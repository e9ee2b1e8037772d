"""What an archive blob holds, judged from its ends without downloading it: a ``.zip`` from
its last bytes (``lib.zip_kind``), a ``.7z`` from its first and last (``lib.sevenzip``), a
``.kmz`` from its first and last too (``lib.kml_overlay``: GroundOverlays are a raster)."""

from __future__ import annotations

from collections.abc import Callable

from geo_platform.lib import kml_overlay, sevenzip
from geo_platform.lib.file_kinds import extension
from geo_platform.lib.types import DataKind
from geo_platform.lib.zip_kind import kind_from_tail


def judged_by_members(path: str, kind_by_name: str) -> bool:
    """True for a blob whose members decide its kind: a ``.7z``, a ``.kmz``, or a ``.zip`` that
    its name makes a vector (``dem.tif.zip`` is a raster by name already)."""
    ext = extension(path)
    return ext in (".7z", ".kmz") or (kind_by_name == "vector" and ext == ".zip")


def archive_kind(
    path: str, size: int, tail: bytes, read_head: Callable[[], bytes] | None = None
) -> DataKind:
    """The kind of a ``.zip``, ``.7z`` or ``.kmz`` blob from its members: a zip's from its
    ``tail`` (``zip_kind.kind_from_tail``; a zip of zips from its first bytes too), a 7z's
    and a KMZ's from its first bytes (``read_head``) and ``tail``
    (``sevenzip.kind_from_ends``, ``kml_overlay.kind_from_ends``)."""
    ext = extension(path)
    if ext == ".7z":
        return sevenzip.kind_from_ends(read_head() if read_head else b"", tail, size)
    if ext == ".kmz":
        return kml_overlay.kind_from_ends(read_head() if read_head else b"", tail, size)
    return kind_from_tail(tail, size, read_head)
