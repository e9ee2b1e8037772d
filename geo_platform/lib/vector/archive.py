"""Zip archives (zipped Shapefiles, FileGDBs, KMZ): safety checks before GDAL sees the file.

Every Shapefile anywhere in a zip is found (any folder depth), one layer each, named by its path
inside the zip without ``.shp``, relative to the folder all the archive's vectors share
(``data/roads/roads.shp`` and ``data/rivers.shp`` -> ``roads/roads`` and ``rivers``; a lone
``export/parcels.shp`` -> ``parcels``), so each gets its own table named after that path.

Python's ``zipfile`` reads the central directory only, so the checks cost nothing. GDAL then
reads the vetted members in place through ``/vsizip/`` (nothing is extracted to disk):

- path traversal (zip slip): absolute names, ``..`` segments, drive letters, NUL -> refused;
- zip bombs: total uncompressed size, per-member compression ratio and member count limits;
- encrypted members -> refused (GDAL cannot read them and would fail obscurely).
"""

from __future__ import annotations

import posixpath
import re
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from geo_platform.lib.archive_members import is_document_archive, is_unplaced_picture
from geo_platform.lib.bronze import classify, is_archive_noise
from geo_platform.lib.content import HEAD_BYTES, describe, sniff_head
from geo_platform.lib.errors import (
    EmptyFileError,
    FormatMismatchError,
    NoGeometryError,
    TooLargeError,
    UnreadableFileError,
    UnsafeArchiveError,
)
from geo_platform.lib.file_kinds import raster_tab_files
from geo_platform.lib.gdal_paths import LinkDir, readable_member_name, split_nested
from geo_platform.lib.vector.options import VectorOptions

# Members this small are never treated as bombs, whatever their ratio (a 1 KiB .prj of zeros...).
RATIO_CHECK_MIN_BYTES = 4 * 1024 * 1024
_SIDECARS_REQUIRED = (".dbf",)  # a missing .shx index is rebuilt (``shx``)
# Single-file vector formats GDAL reads inside a zip, by extension.
_FILE_DRIVERS = {
    ".gpkg": "GPKG",
    ".sqlite": "SQLite",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".geojsonl": "GeoJSONSeq",
    ".geojsons": "GeoJSONSeq",
    ".ndjson": "GeoJSONSeq",
    ".kml": "LIBKML",
    ".fgb": "FlatGeobuf",
    ".gml": "GML",
    ".gpx": "GPX",
    ".tab": "MapInfo File",
    ".mif": "MapInfo File",
    ".osm": "OSM",
    ".pbf": "OSM",
}
# Members no GDAL path reads in place: copied out of the zip first (``extracted_member``).
EXTRACTED_DRIVERS = {".parquet": "GeoParquet", ".geoparquet": "GeoParquet", ".xlsx": "XLSX",
                     ".ods": "ODS"}  # fmt: skip
# Companions a member cannot be read without (a Shapefile's are checked in ``_shapefiles``).
_MEMBER_SIDECARS = {".tab": (".dat",), ".mif": (".mid",)}
_TABULAR = {".csv": "CSV", ".tsv": "CSV"}


@dataclass(frozen=True)
class ArchiveVector:
    """One openable vector inside a zip: a Shapefile, a FileGDB folder or a single file."""

    inner_path: str
    driver: str
    name: str


def _unsafe(name: str) -> bool:
    if "\x00" in name or "\\" in name or name.startswith("/"):
        return True
    if re.match(r"^[A-Za-z]:", name):
        return True
    return any(seg == ".." for seg in name.split("/"))


def _is_nested(name: str) -> bool:
    return name.lower().endswith(".zip") and not is_archive_noise(name)


def _within(outer: str, info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """``info`` of a member of the zip ``outer`` inside the archive, named by its full path."""
    copy = zipfile.ZipInfo(f"{outer}/{info.filename}", info.date_time)
    copy.file_size, copy.compress_size, copy.flag_bits = (
        info.file_size, info.compress_size, info.flag_bits,
    )  # fmt: skip
    return copy


@contextmanager
def open_member(path: Path, member: str) -> Iterator[tuple[IO[bytes], int]]:
    """(stream, uncompressed size) of an archive member, also one inside a zip in the zip."""
    with zipfile.ZipFile(path) as zf:
        outer, inner = split_nested(member)
        if inner is None:
            with zf.open(member) as fh:
                yield fh, zf.getinfo(member).file_size
            return
        with zf.open(outer) as raw, zipfile.ZipFile(raw) as nested, nested.open(inner) as fh:
            yield fh, nested.getinfo(inner).file_size


def check_members(infos: list[zipfile.ZipInfo], display: str) -> None:
    """Refuse an archive with a member that escapes its root (``UnsafeArchiveError`` naming
    the first such member), an encrypted member, or no file at all (``EmptyFileError``).
    Run on every zip at the bronze stage, raster or vector, and before GDAL sees one."""
    for info in infos:
        if _unsafe(info.filename):
            raise UnsafeArchiveError(
                f"zip member {readable_member_name(info.filename)!r} escapes the archive root "
                "(path traversal)",
                path=display,
            )
    for info in infos:
        if info.flag_bits & 0x1:
            name = readable_member_name(info.filename)
            raise UnreadableFileError(
                f"zip member {name!r} is encrypted (password-protected): upload it unencrypted",
                path=display,
            )
    if not any(not info.is_dir() for info in infos):
        raise EmptyFileError("the zip archive holds no files", path=display)


def inspect_zip(path: Path, display: str, options: VectorOptions) -> list[str]:
    """Member names of a zip after the safety checks (raises on a hostile or broken archive).

    The members of a zip inside the zip (one level: a delivery of zipped Shapefiles) are
    listed too, as ``<inner.zip>/<member>``, after the same checks, the limits counting both."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            nested = [i for i in infos if _is_nested(i.filename)]
            for info in nested:
                with zf.open(info) as raw, zipfile.ZipFile(raw) as inner:
                    infos += [_within(info.filename, i) for i in inner.infolist()]
    except zipfile.BadZipFile as exc:
        raise FormatMismatchError(f"not a valid zip archive ({exc})", path=display) from exc
    except OSError as exc:
        raise UnreadableFileError(f"cannot read zip archive: {exc}", path=display) from exc
    if len(infos) > options.max_archive_members:
        raise TooLargeError(
            f"zip has {len(infos)} members (limit {options.max_archive_members})", path=display
        )
    check_members(infos, display)
    total = 0
    for info in infos:
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_CHECK_MIN_BYTES and ratio > options.max_archive_ratio:
            raise TooLargeError(
                f"zip member {info.filename!r} expands {ratio:.0f}x "
                f"(limit {options.max_archive_ratio:.0f}x): refusing a possible zip bomb",
                path=display,
            )
    if total > options.max_archive_bytes:
        raise TooLargeError(
            f"zip expands to {total} bytes (limit {options.max_archive_bytes})", path=display
        )
    return [i.filename for i in infos]


_NOT_GEODATA = frozenset({"HTML", "PDF", "OLE2"})


def vectors_in(path: Path, names: list[str], display: str) -> list[ArchiveVector]:
    """``find_vectors`` of the zip at ``path`` (its member ``names``), without the ``.json``
    members that hold plain JSON (``without_plain_json``): the layers the zip is read as."""
    return without_plain_json(path, find_vectors(names, display))


def without_plain_json(path: Path, found: list[ArchiveVector]) -> list[ArchiveVector]:
    """``found`` without the ``.json`` members that hold plain JSON, not GeoJSON (a data
    portal's ``datapackage.json`` or ``metadata.json`` beside its Shapefile), unless nothing
    else would be left (then the member's own error says what it is)."""

    def plain(vector: ArchiveVector) -> bool:
        if vector.driver != "GeoJSON" or not vector.inner_path.lower().endswith(".json"):
            return False
        try:
            with open_member(path, vector.inner_path) as (fh, size):
                return sniff_head(fh.read(HEAD_BYTES), vector.inner_path, size) == "JSON"
        except (zipfile.BadZipFile, KeyError, OSError, RuntimeError):
            return False

    kept = [v for v in found if not plain(v)]
    return kept or found


def check_member_content(path: Path, vector: ArchiveVector, display: str) -> None:
    """Refuse a vector member of the zip that is empty or plainly no geodata (an HTML page, a
    PDF, an office document under a geodata name), naming the member; FileGDB folders are
    left to GDAL."""
    if vector.driver == "OpenFileGDB":
        return
    try:
        with open_member(path, vector.inner_path) as (fh, size):
            head = fh.read(HEAD_BYTES)
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError) as exc:
        raise UnreadableFileError(f"zip member {vector.inner_path!r}: {exc}", path=display) from exc
    if size == 0:
        raise EmptyFileError(f"zip member {vector.inner_path!r} is empty (0 bytes)", path=display)
    fmt = sniff_head(head, vector.inner_path, size)
    if fmt in _NOT_GEODATA:
        raise FormatMismatchError(
            f"zip member {vector.inner_path!r} is named as geodata but its content is "
            f"{describe(fmt)}",
            path=display,
        )


def _shapefiles(names: list[str], display: str) -> list[ArchiveVector]:
    lower = {n.lower(): n for n in names}
    out = []
    for name in names:
        stem, ext = posixpath.splitext(name)
        if ext.lower() != ".shp":
            continue
        missing = [s for s in _SIDECARS_REQUIRED if (stem + s).lower() not in lower]
        if missing:
            raise UnreadableFileError(
                f"shapefile {name!r} in the zip lacks its {', '.join(missing)} sidecar(s)",
                path=display,
            )
        out.append(ArchiveVector(name, "ESRI Shapefile", stem))
    return out


def _filegdbs(names: list[str]) -> list[ArchiveVector]:
    found: dict[str, None] = {}
    for name in names:
        parts = name.split("/")
        for i, seg in enumerate(parts[:-1]):
            if seg.lower().endswith(".gdb"):
                found["/".join(parts[: i + 1])] = None
                break
    return [
        ArchiveVector(gdb, "OpenFileGDB", posixpath.splitext(posixpath.basename(gdb))[0])
        for gdb in found
    ]


def find_vectors(names: list[str], display: str) -> list[ArchiveVector]:
    """The vector datasets inside an archive, in member order.

    Shapefiles (by ``.shp``, sidecars required), FileGDB folders and single-file formats are
    candidates. CSV members count only when nothing else is found (they are usually attribute
    tables or documentation next to a Shapefile).
    """
    usable = [n for n in names if not is_archive_noise(n) and not n.endswith("/")]
    gdbs = _filegdbs(usable)
    in_gdb = tuple(g.inner_path + "/" for g in gdbs)
    placing = raster_tab_files(usable)  # a MapInfo .tab registering a picture: no vector
    rest = [n for n in usable if not n.startswith(in_gdb) and n not in placing]
    found = _shapefiles(rest, display) + gdbs
    for name in rest:
        stem, ext = posixpath.splitext(name)
        driver = _FILE_DRIVERS.get(ext.lower()) or EXTRACTED_DRIVERS.get(ext.lower())
        if driver:
            _require_sidecars(name, rest, display)
            label = posixpath.basename(stem)
            if driver == "OSM" and label.lower().endswith(".osm"):
                label = label[:-4]  # city.osm.pbf is "city"
            found.append(ArchiveVector(name, driver, label))
    if not found:
        for name in rest:
            stem, ext = posixpath.splitext(name)
            if ext.lower() in _TABULAR:
                found.append(ArchiveVector(name, "CSV", posixpath.basename(stem)))
    if not found and is_document_archive(names):
        raise FormatMismatchError(
            "its content is an office document or package (a zip of "
            f"{', '.join(usable[:3])}...), not geodata",
            path=display,
        )
    if not found:
        listed = ", ".join(usable[:10]) or "(no files)"
        raise NoGeometryError(
            f"zip contains no Shapefile, FileGDB or other vector file (members: {listed})",
            path=display,
        )
    named = _dedupe_names(_relative_shapefile_names(found))
    return [ArchiveVector(v.inner_path, v.driver, readable_member_name(v.name)) for v in named]


def extracted_member(path: Path, member: str) -> tuple[Path, LinkDir]:
    """A private copy of one zip member, named as in the zip (the bomb limits of
    ``inspect_zip`` already hold for it), and the folder to keep alive while it is read."""
    holder = LinkDir()
    target = holder.path / posixpath.basename(member)
    with open_member(path, member) as (fh, _size), target.open("wb") as out:
        shutil.copyfileobj(fh, out, 1 << 20)
    return target, holder


def _require_sidecars(name: str, names: list[str], display: str) -> None:
    stem, ext = posixpath.splitext(name)
    lower = {n.lower() for n in names}
    missing = [s for s in _MEMBER_SIDECARS.get(ext.lower(), ()) if (stem + s).lower() not in lower]
    if missing:
        raise UnreadableFileError(
            f"{name!r} in the zip lacks its {', '.join(missing)} companion file(s)", path=display
        )


def _relative_shapefile_names(found: list[ArchiveVector]) -> list[ArchiveVector]:
    """Shapefile layers named by their path in the zip, below the folder all vectors share."""
    folders = [posixpath.dirname(v.inner_path).split("/") for v in found]
    common: list[str] = []
    for parts in zip(*folders, strict=False):
        if len(set(parts)) != 1 or not parts[0]:
            break
        common.append(parts[0])
    skip = len("/".join(common)) + 1 if common else 0
    return [
        ArchiveVector(v.inner_path, v.driver, v.name[skip:] or v.name)
        if v.driver == "ESRI Shapefile"
        else v
        for v in found
    ]


def _dedupe_names(found: list[ArchiveVector]) -> list[ArchiveVector]:
    """Two members with the same stem in different folders get their folder path as name."""
    stems = [v.name for v in found]
    out = []
    for v in found:
        if stems.count(v.name) > 1:
            out.append(ArchiveVector(v.inner_path, v.driver, posixpath.splitext(v.inner_path)[0]))
        else:
            out.append(v)
    return out


def raster_members(path: Path) -> list[str]:
    """The rasters in a zip of vectors, which its vector layers do not publish ([] for a file
    that is not a zip, and for a KMZ or a workbook, whose pictures are icons). A picture
    (PNG, JPEG...) counts only when a world file or ``.aux.xml`` places it: otherwise it is a
    preview or a legend. A zip of rasters only is a raster file (``lib.zip_kind``)."""
    if not zipfile.is_zipfile(path):
        return []
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not is_archive_noise(n)]
    lowered = {n.lower() for n in names}
    if any(n.endswith(".kml") for n in lowered) or is_document_archive(names):
        return []
    out = []
    for name in names:
        if classify(name).kind != "raster":
            continue
        if not is_unplaced_picture(name, lowered):
            out.append(name)
    return out
