"""Tar archives (``scene.tar``, ``scene.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz``,
``.tar.zst``), as Landsat Collection 2 scenes and other deliveries come.

GDAL reads zips in place, and the platform's zip rules hold for them: one raster, tiles of one
grid published as one mosaic, several rasters one item each (``zip_rasters``), Shapefiles and
other vectors found anywhere inside. A tar has no table of contents and no random access, so it
is repacked once into a stored (uncompressed) zip of its regular files, in a private folder
(``as_zip``; a compressed tar is decompressed first by ``lib.compressed``), and that zip is
published by those rules. A member name that escapes the archive (absolute, ``..``) is refused
as in a zip; links and special files are not data and are left out; the size limit of zips
holds.

The sensor tells a raster tar from a vector one by the member names its first bytes show
(``member_names``; the first bytes of a compressed tar are decompressed as far as they go):
vector members make it a vector, anything else a raster (scene deliveries come as tars).
"""

from __future__ import annotations

import posixpath
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path

from geo_platform.lib.compressed import COMPRESSED_EXTENSIONS, COMPRESSED_TARS
from geo_platform.lib.errors import (
    EmptyFileError,
    TooLargeError,
    UnreadableFileError,
    UnsafeArchiveError,
)
from geo_platform.lib.gdal_paths import LinkDir

DEFAULT_MAX_BYTES = 8 * 1024**3  # as the zip limits (``VectorOptions.max_archive_bytes``)
_BLOCK = 512


def is_tar(head: bytes) -> bool:
    """A POSIX (ustar) or GNU tar: the magic in its first header."""
    return head[257:262] == b"ustar"


def member_names(head: bytes, limit: int = 200) -> list[str]:
    """Names of the tar members whose headers lie within ``head`` (in archive order)."""
    names: list[str] = []
    pos = 0
    while len(names) < limit and pos + _BLOCK <= len(head) and is_tar(head[pos:]):
        block = head[pos : pos + _BLOCK]
        name = block[:100].rstrip(b"\0").decode("utf-8", errors="replace")
        prefix = block[345:500].rstrip(b"\0").decode("utf-8", errors="replace")
        try:
            size = int(block[124:136].rstrip(b"\0 ").decode() or "0", 8)
        except ValueError:
            break  # a base-256 size (over 8 GiB) or a damaged header
        if block[156:157] in (b"0", b"\0", b"7"):  # regular files
            names.append(f"{prefix}/{name}" if prefix else name)
        pos += _BLOCK + -(-size // _BLOCK) * _BLOCK
    return names


class Zipped:
    """The stored zip repacked from a tar or a 7z, in a private folder deleted when the last
    holder of this object goes away (``gdal_paths.LinkDir``)."""

    def __init__(self, folder: LinkDir, name: str, kind: str = "tar") -> None:
        self.folder = folder
        self.path = folder.path / name
        self.kind = kind  # what was repacked: 'tar', '7z'


def if_tar(path: Path, name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Zipped | None:
    """``as_zip(path)`` when ``path`` is a tar, else None."""
    with path.open("rb") as fh:
        if not is_tar(fh.read(_BLOCK)):
            return None
    return as_zip(path, name, max_bytes)


def as_zip(path: Path, name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Zipped:
    """The regular files of the tar at ``path`` (bronze blob ``name``) in a stored zip named
    after the blob (``scene.tar.gz`` -> ``scene.zip``); see the module docstring."""
    stem = posixpath.basename(name)
    for ext in (*COMPRESSED_TARS, ".tar", *COMPRESSED_EXTENSIONS):
        if stem.lower().endswith(ext) and len(stem) > len(ext):
            stem = stem[: -len(ext)]
            break
    holder = Zipped(LinkDir(), f"{stem.replace('/', '_')}.zip")
    try:
        with tarfile.open(path, "r:") as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            if not members:
                raise EmptyFileError(
                    "the tar archive holds no files (links and special files are left out)",
                    path=name,
                )
            _check(members, name, max_bytes)
            with zipfile.ZipFile(holder.path, "w", zipfile.ZIP_STORED, allowZip64=True) as out:
                for m in members:
                    src = tar.extractfile(m)
                    assert src is not None  # a regular file
                    info = zipfile.ZipInfo(_member_name(m.name))
                    with src, out.open(info, "w", force_zip64=m.size >= 2**31) as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(f"corrupt tar archive: {exc}", path=name) from exc
    return holder


def _member_name(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


def _check(members: list[tarfile.TarInfo], name: str, max_bytes: int) -> None:
    for m in members:
        parts = m.name.replace("\\", "/").split("/")
        if m.name.startswith(("/", "\\")) or ".." in parts:
            raise UnsafeArchiveError(
                f"tar member {m.name!r} would be written outside the archive", path=name
            )
    total = sum(m.size for m in members)
    if total > max_bytes:
        raise TooLargeError(
            f"the tar holds {total} bytes of files, more than the {max_bytes} allowed", path=name
        )
