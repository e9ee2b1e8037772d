"""Unclosed polygon rings, closed: the one repair that must happen before GEOS can parse a value.

GDAL reads a polygon whose ring does not end on its first point (hand-written GeoJSON, WKT in a
CSV, some KML) and only warns; GEOS refuses to build such a ring, so the feature would be
dropped as unparsable. ``close_rings`` appends each open ring's first point to its end, in the
value's own byte order and dimensions (XY, Z, M, ZM; ISO or EWKB numbering), and is applied only
to the values GEOS could not parse.
"""

from __future__ import annotations

import struct

_POLYGON, _MULTIPOLYGON = 3, 6
_EWKB_Z, _EWKB_M, _EWKB_SRID = 0x80000000, 0x40000000, 0x20000000


def close_rings(value: bytes) -> bytes | None:
    """The (Multi)Polygon WKB ``value`` with every open ring closed; None when it is no
    (Multi)Polygon, is malformed (truncated, trailing bytes) or has no open ring."""
    out = bytearray()
    try:
        end, changed = _polygons(value, 0, out, top=True)
    except (struct.error, ValueError, IndexError):
        return None
    return bytes(out) if changed and end == len(value) else None


def _header(value: bytes, pos: int) -> tuple[str, int, int, int]:
    """(struct byte order, base type, doubles per point, position after the header)."""
    order = value[pos]
    if order not in (0, 1):
        raise ValueError("bad byte order")
    fmt = "<" if order else ">"
    (code,) = struct.unpack_from(fmt + "I", value, pos + 1)
    pos += 5
    if code & _EWKB_SRID:
        pos += 4
    iso = code & 0x0FFFFFFF
    base, variant = iso % 1000, iso // 1000
    has_z = bool(code & _EWKB_Z) or variant in (1, 3)
    has_m = bool(code & _EWKB_M) or variant in (2, 3)
    return fmt, base, 2 + has_z + has_m, pos


def _polygons(value: bytes, pos: int, out: bytearray, top: bool) -> tuple[int, bool]:
    start = pos
    fmt, base, dims, pos = _header(value, pos)
    out += value[start:pos]
    (count,) = struct.unpack_from(fmt + "I", value, pos)
    out += value[pos : pos + 4]
    pos += 4
    changed = False
    if base == _MULTIPOLYGON and top:
        for _ in range(count):
            pos, part_changed = _polygons(value, pos, out, top=False)
            changed |= part_changed
        return pos, changed
    if base != _POLYGON:
        raise ValueError("not a polygon")
    size = 8 * dims
    for _ in range(count):
        (points,) = struct.unpack_from(fmt + "I", value, pos)
        pos += 4
        coords = value[pos : pos + points * size]
        if len(coords) != points * size:
            raise ValueError("truncated ring")
        pos += points * size
        first = struct.unpack_from(fmt + "2d", coords, 0) if points else None
        last = struct.unpack_from(fmt + "2d", coords, len(coords) - size) if points else None
        if points >= 3 and first != last:
            out += struct.pack(fmt + "I", points + 1) + coords + coords[:size]
            changed = True
        else:
            out += value[pos - points * size - 4 : pos]
    return pos, changed
