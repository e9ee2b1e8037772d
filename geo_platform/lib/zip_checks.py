"""Checks of a bronze zip before it is inventoried (``inventory.inventory_file``): archive
safety, office documents, integrity, a zip holding only a VRT (not the files it references), and a
zip of rasters that reached the vector pipeline.

The sensor judges a ``.zip`` by its members without downloading it (``lib.zip_kind``): from its
last bytes, and for a zip of zips from its first bytes too. When that could not tell (a table of
contents longer than the bytes read, a zip inside the zip whose first members lie beyond the
first bytes), a zip of rasters is taken for a vector source, as its extension says; it is then
refused here with what happened and what to do, not with "no Shapefile in the zip".
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from geo_platform.lib.archive_members import is_archive_noise, nested_infos, zip_kind
from geo_platform.lib.content import VRT_ALONE
from geo_platform.lib.errors import FormatMismatchError, UnreadableFileError, UnsupportedFormatError
from geo_platform.lib.gdal_paths import readable_member_name
from geo_platform.lib.types import DataKind


def check_zip(path: Path, name: str, kind: DataKind) -> None:
    """Archive safety (path traversal, encryption, no files), office documents, integrity of
    the zip at ``path`` (bronze blob ``name``), and, as a ``kind`` "vector", not a zip of
    rasters (``_refuse_rasters``)."""
    from geo_platform.lib.vector.archive import check_members

    try:
        with zipfile.ZipFile(path) as zf:
            check_members(zf.infolist(), name)
            found, reason = zip_kind(zf.namelist())
            if found == "unsupported" and not _is_spreadsheet(zf):
                raise FormatMismatchError(f"its content is {reason}, not geodata", path=name)
            _refuse_lone_vrt(zf.namelist(), name)
            if kind == "vector" and path.suffix.lower() != ".kmz":
                _refuse_rasters(zf, name)
            bad = zf.testzip()
    except zipfile.BadZipFile as exc:
        raise UnreadableFileError(f"not a valid zip archive ({exc})", path=name) from exc
    if bad is not None:
        raise UnreadableFileError(f"corrupt zip member {bad!r}", path=name)


def _refuse_lone_vrt(names: list[str], name: str) -> None:
    """A zip whose only files are GDAL VRTs: the files they reference are not in it (absolute
    paths on someone's machine, or left out). The advice a loose ``.vrt`` gets, rather than
    "no Shapefile in the zip"."""
    files = [n for n in names if not n.endswith("/") and not is_archive_noise(n)]
    if files and all(n.lower().endswith(".vrt") for n in files):
        shown = ", ".join(readable_member_name(n) for n in files[:3])
        raise UnsupportedFormatError(
            f"it holds only a GDAL VRT ({shown}), not the files the VRT references: {VRT_ALONE}",
            path=name,
        )


def _refuse_rasters(zf: zipfile.ZipFile, name: str) -> None:
    """A zip on the vector pipeline that holds rasters and no vector: its rasters lie in a zip
    inside it that its first bytes did not show, or its table of contents was too large to be
    read from its end (``lib.zip_kind``). Said so, rather than "no Shapefile in the zip"."""
    names = zf.namelist()
    listed = set(names)
    nested = [i.filename for i in nested_infos(zf) if i.filename not in listed]  # inner.zip/a.tif
    if zip_kind(names + nested)[0] != "raster":
        return
    if nested and zip_kind(names)[0] != "raster":
        shown = ", ".join(readable_member_name(n) for n in nested[:3])
        raise UnsupportedFormatError(
            f"it holds rasters in a zip inside the zip ({shown}...) that its first bytes did not "
            "show when it arrived, so it was taken for a vector source; upload the inner zip or "
            "the rasters themselves",
            path=name,
        )
    shown = ", ".join(readable_member_name(n) for n in names[:3])
    raise UnsupportedFormatError(
        f"it holds rasters and no vector file ({shown}...), but its list of members could not "
        "be read from its last bytes when it arrived (too long), so it was taken for a vector "
        "source; name it after the rasters it holds (tiles.tif.zip) or split it",
        path=name,
    )


def _is_spreadsheet(zf: zipfile.ZipFile) -> bool:
    """An Excel (.xlsx) or OpenDocument (.ods) workbook: a table the vector pipeline reads."""
    names = set(zf.namelist())
    if "xl/workbook.xml" in names:
        return True
    return "mimetype" in names and zf.read("mimetype").startswith(
        b"application/vnd.oasis.opendocument.spreadsheet"
    )
