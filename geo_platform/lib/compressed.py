"""Compressed bronze files: gzip, bzip2, xz and zstd (``roads.geojson.gz``, ``dem.asc.bz2``,
``parcels.gpkg.xz``, ``scene.tar.xz``, ``buildings.csv.zst``).

Large exports often arrive compressed. Such a file is a raster or a vector by the name before
its ``.gz``, ``.bz2``, ``.xz`` or ``.zst`` (``bronze.classify``); a compressed tar is one by
the member names its first bytes show, any other by its decompressed first bytes
(``lib.content``). The codec is told by the content's magic number, not by the name. The file
is decompressed once, streamed to a private temporary folder under its inner name, and read
from there like any other file, so GDAL gets random access and every check applies to the real
content. Sidecars of the compressed file (``dem.prj`` beside ``dem.asc.gz``) are linked next
to the copy, where GDAL looks for them. Decompression bombs are refused: the content may not
exceed ``max_bytes``, nor ``max_ratio`` times the compressed size (beyond
``RATIO_CHECK_MIN_BYTES``).
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import posixpath
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geo_platform.lib.errors import TooLargeError, UnreadableFileError
from geo_platform.lib.gdal_paths import LinkDir, names_beside

try:  # Python 3.14's compression.zstd, or its backport
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from backports import zstd  # type: ignore[no-redef,unused-ignore]

RATIO_CHECK_MIN_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_BYTES = 8 * 1024**3  # as the zip limits (``VectorOptions``)
DEFAULT_MAX_RATIO = 200.0
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Codec:
    name: str  # 'gzip', 'bzip2', 'xz', 'zstd': in messages and the inventory ('GTiff+xz')
    magic: bytes
    extensions: tuple[str, ...]  # after the inner name: 'roads.geojson.gz'
    tar_shorthands: tuple[str, ...]  # a compressed tar's short names: 'scene.tgz'
    opener: Callable[..., Any]  # (path, 'rb') -> a binary file object
    errors: tuple[type[Exception], ...]  # besides OSError and EOFError


CODECS = (
    Codec("gzip", b"\x1f\x8b", (".gz",), (".tgz",), gzip.GzipFile, (zlib.error,)),
    Codec("bzip2", b"BZh", (".bz2",), (".tbz2", ".tbz"), bz2.BZ2File, ()),
    Codec("xz", b"\xfd7zXZ\x00", (".xz",), (".txz",), lzma.LZMAFile, (lzma.LZMAError,)),
    Codec("zstd", b"\x28\xb5\x2f\xfd", (".zst", ".zstd"), (".tzst",), zstd.ZstdFile,
          (zstd.ZstdError,)),
)  # fmt: skip
COMPRESSED_EXTENSIONS = tuple(e for c in CODECS for e in c.extensions)
"""``.gz``, ``.bz2``, ``.xz``, ``.zst``: the file before it is what the name says."""
COMPRESSED_TARS = tuple(f".tar{e}" for e in COMPRESSED_EXTENSIONS) + tuple(
    s for c in CODECS for s in c.tar_shorthands
)
"""``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tbz2``, ``.tar.xz``, ``.txz``..."""


def codec_of_head(head: bytes) -> Codec | None:
    """The codec whose magic number ``head`` starts with (a bzip2 stream also names its block
    size, 1-9), or None."""
    for codec in CODECS:
        if head.startswith(codec.magic):
            if codec.name == "bzip2" and head[3:4] not in b"123456789":
                continue
            return codec
    return None


def codec_of(path: Path) -> Codec | None:
    with path.open("rb") as fh:
        return codec_of_head(fh.read(6))


def is_compressed(path: Path) -> bool:
    return codec_of(path) is not None


def decompress_head(head: bytes, limit: int = 1 << 20) -> bytes:
    """The first bytes of the content of the compressed ``head`` (at most ``limit``), as far as
    ``head`` goes; ``head`` itself when it is not compressed, ``b""`` when nothing decodes (a
    bzip2 block is only decoded whole: up to 900 KB of content)."""
    codec = codec_of_head(head)
    if codec is None:
        return head
    decoder: Any = {
        "gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
        "bzip2": bz2.BZ2Decompressor,
        "xz": lzma.LZMADecompressor,
        "zstd": zstd.ZstdDecompressor,
    }[codec.name]()
    try:
        return bytes(decoder.decompress(head, limit))
    except (zlib.error, OSError, EOFError, lzma.LZMAError, zstd.ZstdError):
        return b""


def inner_name(name: str) -> str:
    """'exports/roads.geojson.gz' -> 'roads.geojson', 'scene.tar.xz' -> 'scene.tar' (a bare
    '.gz' keeps its stem; 'scene.tgz' stays, its content tells a tar)."""
    base = posixpath.basename(name)
    low = base.lower()
    for ext in COMPRESSED_EXTENSIONS:
        if low.endswith(ext) and len(base) > len(ext):
            return base[: -len(ext)]
    return base


class Decompressed:
    """The decompressed copy of a compressed file, in a private folder deleted when the last
    holder of this object goes away (``gdal_paths.LinkDir``)."""

    def __init__(self, folder: LinkDir, name: str, codec: Codec) -> None:
        self.folder = folder
        self.path = folder.path / name
        self.codec = codec


def decompress(path: Path, name: str, *, max_bytes: int, max_ratio: float) -> Decompressed:
    """Decompress ``path`` (bronze blob ``name``, compressed by one of ``CODECS``) to a
    temporary file named after its inner name, its sidecars linked beside it;
    ``TooLargeError`` beyond the limits, ``UnreadableFileError`` when the data is corrupt."""
    codec = codec_of(path)
    if codec is None:
        raise UnreadableFileError("not gzip, bzip2, xz or zstd data", path=name)
    size = path.stat().st_size
    limit = min(max_bytes, max(RATIO_CHECK_MIN_BYTES, int(size * max_ratio)))
    holder = Decompressed(LinkDir(), inner_name(name).replace(os.sep, "_") or "data", codec)
    written = 0
    errors: tuple[type[Exception], ...] = (OSError, EOFError, *codec.errors)
    try:
        with codec.opener(path, "rb") as src, holder.path.open("wb") as dst:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > limit:
                    raise TooLargeError(
                        f"{codec.name} content expands beyond {limit} bytes ({size} "
                        "compressed): refusing a possible decompression bomb",
                        path=name,
                    )
                dst.write(chunk)
    except errors as exc:
        raise UnreadableFileError(f"corrupt {codec.name} data: {exc}", path=name) from exc
    _link_sidecars(path, holder.path)
    return holder


def if_compressed(path: Path, name: str) -> Decompressed | None:
    """The decompressed copy of ``path`` when it is compressed (default limits), else None."""
    if not is_compressed(path):
        return None
    return decompress(path, name, max_bytes=DEFAULT_MAX_BYTES, max_ratio=DEFAULT_MAX_RATIO)


def _link_sidecars(path: Path, copy: Path) -> None:
    """Files beside ``path`` that share the inner stem (``dem.prj``, ``dem.asc.aux.xml``)."""
    stem = posixpath.splitext(copy.name)[0].lower()  # dem.asc -> dem
    if not stem:
        return
    for name in names_beside(path, stem + "."):
        if name.lower().endswith(COMPRESSED_EXTENSIONS):
            continue
        sibling = path.parent / name
        target = copy.parent / sibling.name
        if not target.exists():
            with contextlib.suppress(OSError):
                target.symlink_to(sibling.resolve())
