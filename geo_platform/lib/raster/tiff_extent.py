"""Where a TIFF's image data ends, from its directories alone: a truncated file is told apart
from a complete one before GDAL decodes anything (an interrupted upload opens fine, and its
missing tail can even pass ``cog_validate``).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from geo_platform.lib.errors import UnreadableFileError

TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
"""Classic and BigTIFF, little- and big-endian."""


_OFFSET_TAGS = {273: 279, 324: 325}  # StripOffsets -> StripByteCounts, TileOffsets -> ...
_TYPE_SIZES = {3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}  # SHORT, LONG, LONG8


def tiff_data_end(path: Path, limit: int = 10_000) -> int | None:
    """The byte where the last strip or tile of any image directory of the TIFF at ``path``
    ends (its offsets plus byte counts), or None for a file that is not a TIFF or whose
    directories cannot be walked. A file shorter than that is truncated: its tail is gone,
    though GDAL opens it and ``cog_validate`` may even call it a valid COG."""
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
            if not head.startswith(TIFF_MAGICS):
                return None
            order = "<" if head[:2] == b"II" else ">"
            big = head[2:4] in (b"+\x00", b"\x00+")
            offset = struct.unpack_from(order + ("Q" if big else "I"), head, 8 if big else 4)[0]
            end, seen = 0, set[int]()
            while offset and offset not in seen and len(seen) < limit:
                seen.add(offset)
                arrays, offset = _directory_arrays(fh, offset, order, big)
                for tag, counts in _OFFSET_TAGS.items():
                    starts, sizes = arrays.get(tag, []), arrays.get(counts, [])
                    ends = [s + n for s, n in zip(starts, sizes, strict=False) if n]
                    end = max([end, *ends])
            return end
    except (OSError, struct.error, ValueError, KeyError):
        return None


def _directory_arrays(
    fh: BinaryIO, offset: int, order: str, big: bool
) -> tuple[dict[int, list[int]], int]:
    """(the strip/tile offset and byte count arrays of the directory at ``offset``, the next
    directory's offset)."""
    count_fmt, entry_size, offset_fmt = ("Q", 20, "Q") if big else ("H", 12, "I")
    fh.seek(offset)
    (entries,) = struct.unpack(order + count_fmt, fh.read(struct.calcsize(count_fmt)))
    table = fh.read(entries * entry_size + struct.calcsize(offset_fmt))
    arrays: dict[int, list[int]] = {}
    wanted = set(_OFFSET_TAGS) | set(_OFFSET_TAGS.values())
    for i in range(entries):
        at = i * entry_size
        tag, kind = struct.unpack_from(order + "HH", table, at)
        if tag not in wanted or kind not in _TYPE_SIZES:
            continue
        n = struct.unpack_from(order + ("Q" if big else "I"), table, at + 4)[0]
        fmt, size = _TYPE_SIZES[kind]
        value_at = at + (12 if big else 8)
        if n * size <= (8 if big else 4):
            raw = table[value_at : value_at + n * size]
        else:
            (pointer,) = struct.unpack_from(order + offset_fmt, table, value_at)
            here = fh.tell()
            fh.seek(pointer)
            raw = fh.read(n * size)
            fh.seek(here)
        arrays[tag] = list(struct.unpack(f"{order}{n}{fmt}", raw))
    (following,) = struct.unpack_from(order + offset_fmt, table, entries * entry_size)
    return arrays, following


def refuse_if_truncated(what: str, end: int | None, size: int, name: str) -> None:
    """``UnreadableFileError`` when a file's data should run to ``end`` but it has ``size``
    bytes (``what``: "the TIFF", "the netCDF file")."""
    if end is not None and end > size:
        raise UnreadableFileError(
            f"{what} is truncated: its data runs to byte {end:,} but the file ends at byte "
            f"{size:,} (an interrupted upload or copy?); upload it again",
            path=name,
        )
