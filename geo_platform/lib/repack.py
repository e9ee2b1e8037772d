"""Archives GDAL cannot read in place, repacked once into a stored zip that the zip rules then
publish: a tar (``lib.tarred``) or a 7z (``lib.sevenzip``). One entry point for the bronze
inventory, the raster publish and the vector listing, so that a new kind of archive is added
in one place."""

from __future__ import annotations

from pathlib import Path

from geo_platform.lib import sevenzip, tarred
from geo_platform.lib.tarred import DEFAULT_MAX_BYTES, Zipped

__all__ = ["Zipped", "as_zip_if_archive"]


def as_zip_if_archive(path: Path, name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Zipped | None:
    """The stored zip repacked from the tar or 7z at ``path`` (bronze blob ``name``), or None
    for any other file."""
    return tarred.if_tar(path, name, max_bytes) or sevenzip.if_7z(path, name, max_bytes)
