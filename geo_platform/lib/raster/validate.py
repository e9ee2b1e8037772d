"""COG validation with rio-cogeo's ``cog_validate``, minus one known false positive.

rio-cogeo decides that an image level is "not tiled" when its block width equals its width. A
tiled COG whose width (or an overview's width) is exactly the tile size, e.g. 512 x 1024 with
512-pixel tiles, trips that heuristic although every IFD carries TIFF tile tags. We read the TIFF
directory ourselves and drop the "not tiled" errors only when every IFD really is tiled.
"""

from __future__ import annotations

import struct
from pathlib import Path

from geo_platform.lib.errors import ValidationError

_TILE_WIDTH_TAG = 322
_MAX_IFDS = 64


def validate_cog(path: Path | str) -> None:
    """Raise ``ValidationError`` with rio-cogeo's reasons unless ``path`` is a valid COG."""
    from rio_cogeo.cogeo import cog_validate  # deferred: rio-cogeo takes ~0.2 s to import

    valid, errors, _warnings = cog_validate(str(path), quiet=True)
    if valid:
        return
    real = [e for e in errors if "not tiled" not in e]
    if len(real) < len(errors) and not all(ifd_tiling(Path(path))):
        real = errors
    if real:
        raise ValidationError("not a valid Cloud-Optimized GeoTIFF: " + "; ".join(real), str(path))


def ifd_tiling(path: Path) -> list[bool]:
    """For each image file directory of a (Big)TIFF, whether it is tiled (has TileWidth)."""
    with path.open("rb") as fh:
        head = fh.read(16)
        order = {b"II": "<", b"MM": ">"}.get(head[:2])
        if order is None:
            return [False]
        (magic,) = struct.unpack(order + "H", head[2:4])
        big = magic == 43
        offset = (
            struct.unpack(order + "Q", head[8:16])[0]
            if big
            else struct.unpack(order + "I", head[4:8])[0]
        )
        count_fmt, entry_size, next_fmt = ("Q", 20, "Q") if big else ("H", 12, "I")
        tiled: list[bool] = []
        while offset and len(tiled) < _MAX_IFDS:
            fh.seek(offset)
            (entries,) = struct.unpack(order + count_fmt, fh.read(struct.calcsize(count_fmt)))
            table = fh.read(entries * entry_size)
            tags = {
                struct.unpack(order + "H", table[i : i + 2])[0]
                for i in range(0, len(table), entry_size)
            }
            tiled.append(_TILE_WIDTH_TAG in tags)
            (offset,) = struct.unpack(order + next_fmt, fh.read(struct.calcsize(next_fmt)))
        return tiled or [False]
