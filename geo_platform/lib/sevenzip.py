"""7-Zip archives (``.7z``), as some national mapping agencies deliver their datasets (IGN's
BD TOPO comes as GeoPackages or Shapefiles in a ``.7z``).

GDAL reads zips in place, not 7z. As a tar (``lib.tarred``), a 7z is repacked once into a
stored (uncompressed) zip of its regular files, in a private folder, and that zip is published
by the zip rules: one raster, tiles of one grid as one mosaic, several rasters one item each,
Shapefiles and other vectors found anywhere inside. Read with py7zr. A member name that escapes
the archive (absolute, ``..``) is refused as in a zip; links and folders are left out; the
size limit of zips holds, on the sizes the archive declares and on what it really expands to;
an encrypted archive is refused (the platform has no password to give it).

The sensor tells a raster 7z from a vector one by its member names, without downloading it: a
7z's table of contents sits at its end (the first 32 bytes say where), so the first bytes the
sensor reads of any candidate and the last ``zip_kind.TAIL_BYTES`` (one ranged read, as for a
``.zip``) are enough (``kind_from_ends``).
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any, cast

from geo_platform.lib.archive_members import zip_kind
from geo_platform.lib.errors import (
    EmptyFileError,
    TooLargeError,
    UnreadableFileError,
    UnsafeArchiveError,
)
from geo_platform.lib.gdal_paths import LinkDir
from geo_platform.lib.tarred import DEFAULT_MAX_BYTES, Zipped
from geo_platform.lib.types import DataKind
from geo_platform.lib.zip_kind import Ends, NotInEnds

MAGIC = b"7z\xbc\xaf\x27\x1c"
START_HEADER_BYTES = 32
_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, ValueError, KeyError, IndexError)


def is_7z(head: bytes) -> bool:
    return head.startswith(MAGIC)


def if_7z(path: Path, name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Zipped | None:
    """``as_zip(path)`` when ``path`` is a 7z archive, else None."""
    with path.open("rb") as fh:
        if not is_7z(fh.read(len(MAGIC))):
            return None
    return as_zip(path, name, max_bytes)


def _py7zr_errors() -> tuple[type[BaseException], ...]:
    from py7zr import exceptions

    return (*_ERRORS, exceptions.ArchiveError, exceptions.PasswordRequired,
            exceptions.AbsolutePathError)  # fmt: skip


def as_zip(path: Path, name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Zipped:
    """The regular files of the 7z at ``path`` (bronze blob ``name``) in a stored zip named
    after the blob (``bdtopo.7z`` -> ``bdtopo.zip``); see the module docstring."""
    import py7zr

    stem = Path(name).name
    stem = stem[:-3] if stem.lower().endswith(".7z") and len(stem) > 3 else stem
    holder = Zipped(LinkDir(), f"{stem}.zip", "7z")
    unpacked = Path(tempfile.mkdtemp(prefix="geo_platform_7z_"))
    try:
        with py7zr.SevenZipFile(path, "r", max_extract_size=max_bytes) as archive:
            if archive.needs_password():
                raise UnreadableFileError(
                    "the 7z archive is encrypted; publish it unencrypted", path=name
                )
            members = _checked(archive.list(), name, max_bytes)
            archive.extractall(path=unpacked)
        with zipfile.ZipFile(holder.path, "w", zipfile.ZIP_STORED, allowZip64=True) as out:
            for member in members:
                local = unpacked / member
                if local.is_file() and not local.is_symlink():
                    out.write(local, member)
    except _py7zr_errors() as exc:  # the platform's own errors above pass through
        if isinstance(exc, py7zr.exceptions.DecompressionBombError):
            raise TooLargeError(
                f"the 7z archive expands beyond {max_bytes} bytes: refusing a possible "
                "decompression bomb",
                path=name,
            ) from exc
        raise UnreadableFileError(f"corrupt 7z archive: {exc}", path=name) from exc
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
    return holder


def _checked(infos: list[Any], name: str, max_bytes: int) -> list[str]:
    """The names of the regular files among the archive's members, after the safety checks."""
    files = []
    for info in infos:
        member = str(info.filename).replace("\\", "/")
        parts = member.split("/")
        if member.startswith("/") or ".." in parts or (len(member) > 1 and member[1] == ":"):
            raise UnsafeArchiveError(
                f"7z member {info.filename!r} would be written outside the archive", path=name
            )
        if info.is_file:
            files.append(member)
    if not files:
        raise EmptyFileError("the 7z archive holds no files", path=name)
    total = sum(int(i.uncompressed or 0) for i in infos if i.is_file)
    if total > max_bytes:
        raise TooLargeError(
            f"the 7z archive holds {total} bytes of files, more than the {max_bytes} allowed",
            path=name,
        )
    return files


def members_from_ends(head: bytes, tail: bytes, size: int) -> list[str] | None:
    """The member names of a 7z of ``size`` bytes that starts with ``head`` and ends with
    ``tail``, or None when it is no 7z or its table of contents lies outside them."""
    if not is_7z(head) or len(head) < START_HEADER_BYTES:
        return None
    import py7zr

    errors: tuple[type[BaseException], ...] = (NotInEnds, *_py7zr_errors())
    try:
        with py7zr.SevenZipFile(cast(IO[bytes], Ends(head, tail, size)), "r") as archive:
            return [str(n) for n in archive.getnames()]
    except errors:
        return None


def kind_from_ends(head: bytes, tail: bytes, size: int) -> DataKind:
    """Raster when the members of the 7z make it a raster by the rule of zips recognised by
    content (``archive_members.zip_kind``), else vector (also when they cannot be listed)."""
    members = members_from_ends(head, tail, size)
    return "raster" if members is not None and zip_kind(members)[0] == "raster" else "vector"
