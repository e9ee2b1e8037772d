"""Source WKB loaded as it is where re-encoding it would write the same bytes.

Cleaning parses every geometry (validity needs GEOS) and used to write every one back with
``shapely.to_wkb``: for valid lines and polygons read from GDAL, which hands over canonical ISO
WKB, that second encoding costs about as much as the validation and yields the source bytes.
``as_written`` proves, per row and without shapely, that the bytes are what shapely would write;
``SourceWkb.iso_wkb`` then keeps them and encodes only the rest.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import shapely

from geo_platform.lib.vector.wkb import WkbHeaders, binary_parts


@dataclass(frozen=True)
class SourceWkb:
    """A batch's geometry column as read, its headers and the geometries parsed from it."""

    arr: pa.Array
    headers: WkbHeaders
    parsed: np.ndarray

    def iso_wkb(self, out: np.ndarray, sel: np.ndarray, has_z: bool) -> pa.Array:
        """ISO little-endian WKB of ``out`` (the cleaned geometries of source rows ``sel``).

        A row whose geometry is still the very object parsed from its source bytes (not
        repaired, reprojected, re-dimensioned) keeps those bytes when they are exactly what
        shapely would write (``as_written``): encoding them again costs about as much as
        validating them, for the same bytes.
        """
        same = np.fromiter(map(operator.is_, out, self.parsed[sel]), bool, count=len(out))
        if not same.any():
            return pa.array(_iso(out, has_z), pa.binary())
        whole = len(sel) == len(self.arr)  # sel is sorted and unique: every row, in order
        taken = self.arr if whole else self.arr.take(pa.array(sel, pa.int64()))
        same &= as_written(taken, self.headers if whole else self.headers.rows(sel), out, has_z)
        if same.all():
            return taken.cast(pa.binary())
        mixed = taken.to_numpy(zero_copy_only=False)
        mixed[~same] = _iso(out[~same], has_z)
        return pa.array(mixed, pa.binary())


def _iso(geoms: np.ndarray, has_z: bool) -> np.ndarray:
    return shapely.to_wkb(geoms, output_dimension=3 if has_z else 2, flavor="iso", byte_order=1)


def as_written(arr: pa.Array, h: WkbHeaders, geoms: np.ndarray, has_z: bool) -> np.ndarray:
    """Rows whose WKB is byte for byte what ``shapely.to_wkb(geoms, flavor="iso",
    byte_order=1)`` writes for the geometry parsed from it (``geoms``, row for row), so that it
    can be loaded as it is.

    Only (Multi)LineStrings and (Multi)Polygons without M qualify (Points: NaN payloads). The
    bytes are walked: every header, the outer one and each part's, little-endian ISO of the
    expected type and Z as ``has_z`` says; no empty part or ring (GEOS may write those
    differently); at most ``_WALK_LIMIT`` parts and rings each; and the value ends exactly where
    its last coordinate does (GEOS ignores trailing bytes, PostGIS would not). The counts of
    parts and coordinates must then match what GEOS parsed.
    """
    z = 1000 if has_z else 0
    ok = h.little & h.iso & ~h.has_m & (h.has_z == has_z) & np.isin(h.code, [2, 3, 5, 6])
    if not ok.any():
        return ok
    offsets, data, _ = binary_parts(arr)
    walk = _Walk(data, offsets[:-1] + 5, offsets[:-1] + h.lengths, ok, 24 if has_z else 16)
    multi = np.isin(h.code, [5, 6])
    parts = np.where(multi, walk.count(ok & multi, 1), 1)
    for p in range(int(parts[ok].max(initial=0))):
        part = ok & (p < parts)
        line = part & (h.code % 3 == 2)
        if (sel := part & multi).any():
            walk.header(sel, np.where(line, 2, 3) + z)
        walk.line(line)
        rings = walk.count(part & ~line, 1)
        for r in range(int(rings[part & ~line].max(initial=0))):
            walk.line(part & ~line & (r < rings), min_points=4)
    ok = walk.ok & (walk.pos == walk.end)
    ok &= walk.coords == shapely.get_num_coordinates(geoms)
    return ok & (parts == np.where(multi, shapely.get_num_geometries(geoms), 1))


_WALK_LIMIT = 64


class _Walk:
    """Cursors through many WKB values at once (``_WALK_LIMIT`` bounds the loops)."""

    def __init__(
        self, data: np.ndarray, pos: np.ndarray, end: np.ndarray, ok: np.ndarray, point: int
    ) -> None:
        self.data, self.pos, self.end, self.point = data, pos.copy(), end, point
        self.ok = ok.copy()
        self.coords = np.zeros(len(pos), np.int64)

    def _u32(self, sel: np.ndarray) -> np.ndarray:
        pos = self.pos[sel]
        self.ok[sel] &= pos + 4 <= self.end[sel]
        b = self.data[np.clip(pos, 0, max(len(self.data) - 4, 0))[:, None] + np.arange(4)]
        b = b.astype(np.int64)
        return b[:, 0] | b[:, 1] << 8 | b[:, 2] << 16 | b[:, 3] << 24

    def count(self, sel: np.ndarray, minimum: int) -> np.ndarray:
        """Read a part or ring count at the cursors of ``sel``."""
        sel = sel & self.ok
        out = np.zeros(len(self.pos), np.int64)
        n = self._u32(sel)
        self.ok[sel] &= (n >= minimum) & (n <= _WALK_LIMIT)
        out[sel] = np.where(self.ok[sel], n, 0)
        self.pos[sel] += 4
        return out

    def header(self, sel: np.ndarray, code: np.ndarray) -> None:
        """A part's header: little-endian, ISO type ``code``."""
        sel = sel & self.ok
        ok = self.data[np.minimum(self.pos[sel], max(len(self.data) - 1, 0))] == 1
        self.pos[sel] += 1
        ok &= self._u32(sel) == code[sel]
        self.ok[sel] &= ok
        self.pos[sel] += 4

    def line(self, sel: np.ndarray, min_points: int = 2) -> None:
        """A point count and its coordinates (a LineString's body, or a ring)."""
        sel = sel & self.ok
        n = self._u32(sel)
        self.ok[sel] &= n >= min_points
        self.coords[sel] += n
        self.pos[sel] += 4 + n * self.point
