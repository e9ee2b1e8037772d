"""Opening bronze rasters with GDAL, and turning GDAL's failures into our specific errors.

Bronze files arrive as local paths. Zip archives (zipped SRTM ``.hgt`` tiles, zipped GeoTIFFs)
are read in place through ``/vsizip/`` (nothing is extracted, so path traversal inside the
archive cannot write anywhere): a ``N45E006.hgt.zip`` opens as its ``N45E006.hgt`` member with
GDAL's SRTMHGT driver, and an archive recognised by its content rather than a ``.zip`` name is
given to GDAL in the brace form (``lib.gdal_paths.vsizip``). rasterio reads absolute local
paths literally, so any character in a file name is safe. Sidecars (world files,
``.aux.xml``, ``.prj``) must sit next to the raster with the same stem, as GDAL expects.
"""

from __future__ import annotations

import contextlib
import re
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import rasterio
from rasterio._err import CPLE_BaseError
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError

from geo_platform.lib.archive_members import (
    in_store,
    is_unplaced_picture,
    nested_infos,
    zarr_stores,
)
from geo_platform.lib.bronze import classify, is_archive_noise
from geo_platform.lib.content import SRTM_SIZES
from geo_platform.lib.errors import (
    EmptyFileError,
    GeoPlatformError,
    TooLargeError,
    UnreadableFileError,
    UnsafeArchiveError,
    UnsupportedFormatError,
    proprietary_format,
    without_local_paths,
)
from geo_platform.lib.file_kinds import listed_roles
from geo_platform.lib.gdal_paths import vsizip

SIDECAR_SUFFIXES = (
    ".aux.xml",
    ".ovr",
    ".prj",
    ".tfw",
    ".tifw",
    ".jgw",
    ".jpgw",
    ".pgw",
    ".pngw",
    ".wld",
    ".xml",
    ".txt",
    ".md",
    ".html",
    ".pdf",
    ".rrd",
    ".hdr",
    ".msk",
    ".json",
)
"""Archive members that are never the raster itself."""

MAX_ZIP_RATIO = 200
"""A member whose uncompressed size exceeds this many times its compressed size is refused."""

GDAL_ERRORS: tuple[type[Exception], ...] = (RasterioError, CPLE_BaseError, SystemError)
"""Everything rasterio raises for a GDAL failure (CPLE_* errors are not RasterioErrors, and a
GDAL call that fails without setting an error surfaces as ``SystemError``)."""

_NOT_RECOGNISED = ("not recognized as", "not recognised as", "not a supported")


def resolve_gdal_path(path: Path | str, name: str, *, max_uncompressed: int | None = None) -> str:
    """The GDAL path to open: the file itself, or ``/vsizip/...`` for the raster in a zip: a
    member, a member of a zip inside the zip (``/vsizip/{/vsizip/...}/...``), or the folder of
    a Zarr store (``archive_members.zarr_stores``).

    Raises ``EmptyFileError`` for 0-byte files, ``UnsupportedFormatError`` when a zip holds no
    raster or several candidates, ``UnsafeArchiveError`` for zip-bomb-like members.
    """
    if isinstance(path, str) and path.startswith(("/vsizip/", "GTIFF_DIR:")):
        return path  # a member of a zip, a page of a TIFF, already chosen (``zip_rasters``)
    path = Path(path)
    if not path.exists():
        raise UnreadableFileError("file does not exist", path=name)
    if path.stat().st_size == 0:
        raise EmptyFileError("the file is empty (0 bytes)", path=name)
    if not zipfile.is_zipfile(path):
        return str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = nested_infos(archive)  # a zip inside it: its members, through both
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableFileError(f"corrupt zip archive: {exc}", path=name) from exc
    stores = zarr_stores([m.filename for m in members])  # each one raster (GDAL's Zarr)
    stored = [any(in_store(m.filename, s) for s in stores) for m in members]
    parts = [m for m, inside in zip(members, stored, strict=True) if inside]
    loose = [m for m, inside in zip(members, stored, strict=True) if not inside]
    candidates = _candidates(loose, members, only_rasters=bool(stores))
    found = [*stores, *(m.filename for m in candidates)]
    if not found:
        raise UnsupportedFormatError("zip archive holds no raster file", path=name)
    for member in [*candidates, *parts]:
        _check_member(member, name, max_uncompressed)
    if len(found) > 1:
        raise SeveralRastersError(found, name)
    return vsizip(path, PurePosixPath(found[0]).as_posix() if found[0] else "")


def _candidates(
    loose: list[zipfile.ZipInfo], members: list[zipfile.ZipInfo], only_rasters: bool
) -> list[zipfile.ZipInfo]:
    """The ``loose`` members of a zip (``members``: all its files) that may be its raster: the
    rasters by name (and ENVI's extensionless data file), else (``only_rasters`` False) any
    member but sidecars and noise; without the pictures no world file places."""
    candidates = [
        m
        for m in loose
        if not m.filename.lower().endswith(SIDECAR_SUFFIXES) and not is_archive_noise(m.filename)
    ]
    roles = listed_roles(m.filename for m in members)  # ENVI's extensionless data file
    rasters = [
        m
        for m in candidates
        if classify(m.filename).kind == "raster" or roles.get(m.filename) == "raster"
    ]
    if rasters or only_rasters:  # a README or a PDF beside the raster is not a candidate
        candidates = rasters
    lowered = {m.filename.lower() for m in members}
    placed = [m for m in candidates if not is_unplaced_picture(m.filename, lowered)]
    return placed or candidates  # nor is a preview picture beside it (no world file places it)


class SeveralRastersError(UnsupportedFormatError):
    """A zip holding several rasters: tiles to mosaic (``zip_mosaic``), or one item each
    (``zip_rasters``)."""

    def __init__(self, members: list[str], name: str) -> None:
        listed = ", ".join(members[:5]) + (", ..." if len(members) > 5 else "")
        super().__init__(
            f"zip archive holds {len(members)} rasters ({listed}): publish one raster per "
            "archive, or tiles of one grid",
            path=name,
        )
        self.members = members


def _check_member(member: zipfile.ZipInfo, name: str, max_uncompressed: int | None) -> None:
    ratio = member.file_size / max(member.compress_size, 1)
    # An SRTM tile has a fixed size, so no bomb: an all-ocean tile compresses 1000x.
    srtm = member.file_size in SRTM_SIZES and member.filename.lower().endswith(".hgt")
    if member.file_size > 10 * 2**20 and ratio > MAX_ZIP_RATIO and not srtm:
        raise UnsafeArchiveError(
            f"zip member {member.filename!r} expands {ratio:.0f}x ({member.file_size} bytes)",
            path=name,
        )
    if max_uncompressed is not None and member.file_size > max_uncompressed:
        raise TooLargeError(
            f"zip member {member.filename!r} is {member.file_size} bytes uncompressed "
            f"(limit {max_uncompressed})",
            path=name,
        )


def gdal_error(exc: Exception, name: str, action: str) -> GeoPlatformError:
    """Map a rasterio/GDAL exception to the specific platform error naming the file."""
    text = without_local_paths(str(exc), name)
    if any(marker in text for marker in _NOT_RECOGNISED):
        why = proprietary_format(name, str(exc).split(" not recognized")[0])
        return UnsupportedFormatError(why or f"not a raster format GDAL can read ({text})", name)
    return UnreadableFileError(f"{action} failed, the file is truncated or corrupt: {text}", name)


_BLOCK_FAILED = re.compile(r"band (\d+): IReadBlock failed at X offset (\d+), Y offset (\d+)")
_GDAL_FILE_PREFIX = re.compile(r"^.*, (band \d+: IReadBlock)")  # "a b.tif, band 1: ..."


def gdal_messages(exc: BaseException) -> list[str]:
    """The text of ``exc`` and of the GDAL errors chained behind it, outermost first. A failed
    read raises rasterio's "Read failed. See previous exception for details." with GDAL's error
    stack as ``__cause__`` (the block that failed, then the codec's own complaint, such as
    "ZIPDecode:Decoding error"); texts that repeat part of an earlier one are left out."""
    found: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(found) < 8:
        text = str(current).strip().rstrip(".")
        if text and "See previous exception" not in text and not any(text in f for f in found):
            found.append(text)
        current = current.__cause__
    return found


def block_read_error(exc: BaseException, name: str, *local: str | Path) -> UnreadableFileError:
    """A data block of ``name`` that GDAL cannot decode (a corrupt tile or strip; the header
    is intact, so the file opened) as ``UnreadableFileError`` naming the band and the block
    (column and row in the band's grid of blocks) and quoting GDAL."""
    # GDAL names the local file it read (a copy, a VRT): the error names the blob instead.
    messages = [_GDAL_FILE_PREFIX.sub(r"\1", m) for m in gdal_messages(exc)]
    text = without_local_paths("; ".join(messages), name, *local).replace("\n", " ")
    found = _BLOCK_FAILED.search(text)
    where = (
        f"band {found[1]}, block {found[2]} across and {found[3]} down" if found else "a data block"
    )
    return UnreadableFileError(
        f"{where} cannot be decoded: the file is corrupt (damaged in transfer or storage); "
        f"upload it again. GDAL: {text[:500] or type(exc).__name__}",
        path=name,
    )


@contextlib.contextmanager
def decoding_blocks(name: str, *local: str | Path) -> Iterator[None]:
    """Reads of ``name``'s pixels in this block: a GDAL failure is a block that cannot be
    decoded (``block_read_error``)."""
    try:
        yield
    except GDAL_ERRORS as exc:
        raise block_read_error(exc, name, *local) from exc


@contextlib.contextmanager
def open_raster(
    gdal_path: str, name: str, driver: str | None = None
) -> Iterator[rasterio.io.DatasetReader]:
    """``rasterio.open`` (with only ``driver``, if given); failures become
    ``UnsupportedFormatError`` or ``UnreadableFileError``."""
    try:
        with warnings.catch_warnings():
            # Non-georeferenced files are reported by inspect_raster with a specific error.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            ds = rasterio.open(gdal_path, driver=driver)
    except RasterioIOError as exc:
        raise gdal_error(exc, name, "opening") from exc
    except GDAL_ERRORS as exc:
        text = without_local_paths(str(exc), name, gdal_path)
        raise UnreadableFileError(f"opening failed: {text}", path=name) from exc
    with ds:
        yield ds


def readable_tags(
    ds: rasterio.io.DatasetReader, bidx: int = 0, ns: str | None = None
) -> dict[str, str]:
    """``ds.tags(bidx, ns)``, or {} when GDAL returns metadata that is not UTF-8 (a TIFF
    ImageDescription written in Latin-1 by old software, binary XMP in a JPEG2000 box):
    rasterio refuses such metadata as a whole, and metadata must not stop a publish."""
    try:
        return dict(ds.tags(bidx, ns=ns) if ns else ds.tags(bidx))
    except UnicodeDecodeError:
        return {}
