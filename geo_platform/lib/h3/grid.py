"""H3 grids as Arrow columns: cell ids, parents, centers and valid lon/lat polygons.

Why not simply ``shapely.Polygon(h3.cell_to_boundary(c))``: in lon/lat, a cell that crosses the
antimeridian becomes a band around the whole globe (597 cells at resolution 4) and the two cells
containing the poles become self-intersecting rings (234 invalid geometries at resolution 4).
Here every ring is first *unwrapped* (each edge takes the short way round, so longitudes run
continuously past +-180) and then:

- a ring that stays within [-180, 180] is used as it is;
- a ring that leaves it is cut at the antimeridian and the far piece shifted back by 360 degrees,
  giving a MultiPolygon of two parts that each span well under 180 degrees;
- a ring that winds once around the globe contains a pole: it is closed along the antimeridian
  and the pole's latitude (a valid polygon touching +-180 and +-90).

Everything that scales with the number of cells is vectorized with numpy and shapely; only the
boundary extraction calls h3 once per cell (h3-py has no array API), and only the two polar
cells are built one by one. Cell edges are straight lines in lon/lat, like every flat rendering
of H3 (the true edges are great-circle arcs).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import h3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from h3.api import basic_int as h3i

from geo_platform.lib.errors import InputError, TooLargeError
from geo_platform.lib.h3 import DEFAULT_MAX_CELLS, MAX_GLOBAL_RESOLUTION, MAX_RESOLUTION
from geo_platform.lib.h3.sphere import densify_rings, ring_starts
from geo_platform.lib.types import BBox

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_STRING_DIGITS = 15  # every valid cell index is 0x08... : 15 lowercase hex digits
_RES_SHIFT = 52


@dataclass(frozen=True)
class H3Grid:
    """One generated grid: an Arrow table plus facts about how its geometries were built.

    Columns: ``h3`` (string), ``h3_int`` (int64; the uint64 index, whose top bit is always 0),
    ``resolution`` (int16), ``parent`` (string, null at resolution 0), ``center`` (WKB Point)
    and ``geom`` (WKB MultiPolygon), all in EPSG:4326 lon/lat.
    """

    table: pa.Table
    resolution: int
    bbox: BBox | None
    split_cells: int
    polar_cells: int
    repaired_cells: int
    seconds: float

    @property
    def num_cells(self) -> int:
        return self.table.num_rows


@dataclass(frozen=True)
class CellPolygons:
    """Cell polygons (WKB MultiPolygons, one per cell) and how many needed special care."""

    wkb: pa.Array
    bounds: np.ndarray  # (n, 4) xmin, ymin, xmax, ymax of each MultiPolygon
    split_cells: int
    polar_cells: int
    repaired_cells: int

    def geoms(self) -> np.ndarray:
        """The polygons as shapely geometries."""
        return shapely.from_wkb(self.wkb.to_numpy(zero_copy_only=False))


def check_resolution(resolution: int, *, global_grid: bool) -> int:
    """The resolution as an int, or ``InputError`` when out of range for the request."""
    res = int(resolution)
    top = MAX_GLOBAL_RESOLUTION if global_grid else MAX_RESOLUTION
    if not 0 <= res <= top:
        what = "a global grid" if global_grid else "an H3 grid"
        raise InputError(f"resolution {res} is out of range for {what} (0..{top})")
    return res


def global_cells(resolution: int) -> np.ndarray:
    """Every cell of a resolution (0..4), as sorted uint64 indexes."""
    res = check_resolution(resolution, global_grid=True)
    parts = [
        np.asarray(h3i.cell_to_children(c, res), dtype=np.uint64)
        for c in sorted(h3i.get_res0_cells())
    ]
    return np.sort(np.concatenate(parts))


def bbox_cells(bbox: BBox, resolution: int, max_cells: int = DEFAULT_MAX_CELLS) -> np.ndarray:
    """Cells overlapping a lon/lat bounding box (west > east means it crosses the antimeridian).

    ``TooLargeError`` if the estimated or actual count exceeds ``max_cells`` (checked before
    any cell is generated, from the bbox area and the average cell area).
    """
    res = check_resolution(resolution, global_grid=False)
    west, south, east, north = (float(v) for v in bbox)
    if not (-90 <= south < north <= 90 and -180 <= west <= 180 and -180 <= east <= 180):
        raise InputError(f"invalid bounding box {bbox!r} (west, south, east, north in degrees)")
    boxes = [(west, east)] if west < east else [(west, 180.0), (-180.0, east)]
    estimate = sum(_box_area_km2(w, south, e, north) for w, e in boxes)
    if estimate / h3.average_hexagon_area(res, "km^2") > max_cells:
        raise TooLargeError(
            f"about {estimate / h3.average_hexagon_area(res, 'km^2'):,.0f} cells at resolution "
            f"{res} for bbox {bbox!r}: more than the limit of {max_cells:,}"
        )
    found: set[int] = set()
    for w, e in boxes:
        ring = [(south, w), (south, e), (north, e), (north, w)]
        shape = h3.LatLngPoly(ring)
        found.update(h3i.h3shape_to_cells_experimental(shape, res, contain="overlap"))
    if len(found) > max_cells:
        raise TooLargeError(f"{len(found):,} cells for bbox {bbox!r}: limit is {max_cells:,}")
    return np.sort(np.fromiter(found, dtype=np.uint64, count=len(found)))


def _box_area_km2(west: float, south: float, east: float, north: float) -> float:
    r = 6371.0072
    lat = np.radians([south, north])
    return float(r * r * np.radians(east - west) * (np.sin(lat[1]) - np.sin(lat[0])))


def cells_to_strings(cells: np.ndarray) -> pa.Array:
    """The canonical lowercase hex strings of H3 indexes, without a per-cell Python call."""
    cells = np.asarray(cells, dtype=np.uint64)
    n = len(cells)
    if n and not ((cells >> np.uint64(59)) == 1).all():  # not all valid 15-digit cells
        return pa.array([format(int(c), "x") for c in cells], pa.string())
    shifts = np.arange(4 * (_STRING_DIGITS - 1), -1, -4, dtype=np.uint64)
    nibbles = (cells[:, None] >> shifts[None, :]) & np.uint64(0xF)
    data = _HEX_DIGITS[nibbles.astype(np.intp)].reshape(-1)
    offsets = np.arange(n + 1, dtype=np.int32) * _STRING_DIGITS
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())]
    )


def cell_resolutions(cells: np.ndarray) -> np.ndarray:
    """Resolution of each index (bits 52-55)."""
    cells = np.asarray(cells, dtype=np.uint64)
    return ((cells >> np.uint64(_RES_SHIFT)) & np.uint64(0xF)).astype(np.int16)


def cell_parents(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(parent index, has_parent) per cell: the next coarser cell, by bit arithmetic.

    The parent of a resolution-r cell has resolution r-1 and digit r set to 7 (unused), which
    is exactly ``h3.cell_to_parent(c, r - 1)``. Resolution-0 cells have none.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    res = cell_resolutions(cells).astype(np.uint64)
    has = res > 0
    pres = np.where(has, res - np.uint64(1), np.uint64(0))
    digit_shift = (np.uint64(15) - np.where(has, res, np.uint64(15))) * np.uint64(3)
    cleared = cells & ~np.uint64(0xF << _RES_SHIFT)
    parent = cleared | (pres << np.uint64(_RES_SHIFT)) | (np.uint64(7) << digit_shift)
    return np.where(has, parent, np.uint64(0)), has


def cell_centers(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lng, lat) of each cell's center, in degrees."""
    flat = np.fromiter(
        itertools.chain.from_iterable(map(h3i.cell_to_latlng, np.asarray(cells).tolist())),
        dtype=np.float64,
        count=2 * len(cells),
    ).reshape(-1, 2)
    return flat[:, 1].copy(), flat[:, 0].copy()


def point_wkb(lng: np.ndarray, lat: np.ndarray) -> pa.Array:
    """Little-endian 2D WKB Points for coordinate arrays, packed with numpy."""
    n = len(lng)
    rec = np.empty(n, dtype=[("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
    rec["order"], rec["type"], rec["x"], rec["y"] = 1, 1, lng, lat
    offsets = np.arange(n + 1, dtype=np.int32) * 21
    return pa.Array.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(rec.tobytes())]
    )


def _boundaries(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lng, vertex counts) of every cell boundary, flattened."""
    bounds = list(map(h3i.cell_to_boundary, np.asarray(cells).tolist()))
    counts = np.fromiter(map(len, bounds), dtype=np.int64, count=len(bounds))
    flat = np.fromiter(
        itertools.chain.from_iterable(itertools.chain.from_iterable(bounds)),
        dtype=np.float64,
        count=2 * int(counts.sum()),
    ).reshape(-1, 2)
    return flat[:, 0].copy(), flat[:, 1].copy(), counts


def _unwrap(lng: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unwrapped lng, ring index per vertex, winding per ring in degrees).

    Each edge goes the short way (delta wrapped into [-180, 180)); longitudes accumulate from
    each ring's first vertex. A ring around a pole winds +-360, any other ring 0.
    """
    n_rings = len(counts)
    starts = ring_starts(counts)
    ring = np.repeat(np.arange(n_rings), counts)
    nxt = np.arange(1, len(lng) + 1)
    nxt[starts + counts - 1] = starts  # the last vertex's edge closes the ring
    delta = lng[nxt]
    delta -= lng
    delta += 180.0
    np.mod(delta, 360.0, out=delta)
    delta -= 180.0
    before = np.cumsum(delta) - delta  # sum of deltas of the edges before each vertex
    unwrapped = before + np.repeat(lng[starts] - before[starts], counts)
    winding = np.add.reduceat(delta, starts) if n_rings else np.zeros(0)
    return unwrapped, ring, winding


def cell_polygons(cells: np.ndarray, max_arc_deg: float | None = None) -> CellPolygons:
    """Valid lon/lat MultiPolygons (WKB) for cells, split at the antimeridian, poles closed.

    Ordinary cells (all but a few hundred per resolution) are packed as WKB by numpy directly;
    shapely only cuts the antimeridian cells and closes the polar ones, and checks those.
    With ``max_arc_deg``, edges follow their great circles (points every ``max_arc_deg``).
    """
    cells = np.asarray(cells, dtype=np.uint64)
    n = len(cells)
    lat, lng, counts = _boundaries(cells)
    if max_arc_deg is not None:
        lat, lng, counts = densify_rings(lat, lng, counts, max_arc_deg)
    unwrapped, ring, winding = _unwrap(lng, counts)
    polar = np.abs(winding) > 180.0
    starts = ring_starts(counts)
    lo = np.minimum.reduceat(unwrapped, starts) if n else np.zeros(0)
    hi = np.maximum.reduceat(unwrapped, starts) if n else np.zeros(0)
    crossing = ~polar & ((lo < -180.0) | (hi > 180.0))
    simple = ~polar & ~crossing
    take = simple[ring]
    arrays, order = _ring_wkb(lng[take], lat[take], counts[simple], np.flatnonzero(simple))

    special = np.flatnonzero(~simple)
    geoms = np.empty(len(special), dtype=object)
    is_crossing = crossing[special]
    if is_crossing.any():
        take = crossing[ring]
        geoms[is_crossing] = _split_at_antimeridian(unwrapped[take], lat[take], ring[take])
    for j, i in enumerate(special):
        if polar[i]:
            sel = ring == i
            geoms[j] = _polar_polygon(lng[sel], lat[sel])
    valid = shapely.is_valid(geoms) if len(geoms) else np.ones(0, bool)
    if not valid.all():  # defensive: never observed (tests check resolutions 0..4)
        geoms[~valid] = [_repair(g) for g in geoms[~valid]]
    order.append(special)
    arrays.append(pa.array(shapely.to_wkb(geoms), pa.binary()))
    wkb = pa.concat_arrays(arrays).take(pa.array(np.argsort(np.concatenate(order))))
    bounds = np.empty((n, 4))
    if n:
        lat_lo, lat_hi = np.minimum.reduceat(lat, starts), np.maximum.reduceat(lat, starts)
        bounds[:] = np.column_stack([lo, lat_lo, hi, lat_hi])
        bounds[special] = shapely.bounds(geoms)
    return CellPolygons(wkb, bounds, int(crossing.sum()), int(polar.sum()), int((~valid).sum()))


def _ring_wkb(
    x: np.ndarray, y: np.ndarray, counts: np.ndarray, ids: np.ndarray
) -> tuple[list[pa.Array], list[np.ndarray]]:
    """Single-ring MultiPolygon WKB (little endian, 2D), grouped by vertex count.

    Returns the arrays and, for each, the ``ids`` of its rings (callers restore the order).
    """
    starts = ring_starts(counts)
    groups: list[pa.Array] = []
    order: list[np.ndarray] = []
    for k in np.unique(counts):
        rings = np.flatnonzero(counts == k)
        idx = starts[rings][:, None] + np.arange(k)[None, :]
        rec = np.empty(len(rings), dtype=_wkb_dtype(int(k)))
        rec["o1"], rec["t1"], rec["parts"] = 1, 6, 1
        rec["o2"], rec["t2"], rec["rings"], rec["points"] = 1, 3, 1, k + 1
        rec["xy"][:, :k, 0], rec["xy"][:, :k, 1] = x[idx], y[idx]
        rec["xy"][:, k] = rec["xy"][:, 0]
        size = rec.dtype.itemsize
        offsets = np.arange(len(rings) + 1, dtype=np.int32) * size
        groups.append(
            pa.Array.from_buffers(
                pa.binary(), len(rings), [None, pa.py_buffer(offsets), pa.py_buffer(rec)]
            )
        )
        order.append(ids[rings])
    return groups, order


def _wkb_dtype(k: int) -> np.dtype:
    return np.dtype(
        [
            ("o1", "u1"), ("t1", "<u4"), ("parts", "<u4"),
            ("o2", "u1"), ("t2", "<u4"), ("rings", "<u4"), ("points", "<u4"),
            ("xy", "<f8", (k + 1, 2)),
        ]
    )  # fmt: skip


def _split_at_antimeridian(x: np.ndarray, y: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Cut unwrapped rings at +-180 and shift the far side back: 2-part MultiPolygons."""
    _, ring_ids = np.unique(ring, return_inverse=True)
    polys = shapely.polygons(shapely.linearrings(np.column_stack([x, y]), indices=ring_ids))
    pieces = []
    for shift, (x0, x1) in (
        (360.0, (-540.0, -180.0)),
        (0.0, (-180.0, 180.0)),
        (-360.0, (180.0, 540.0)),
    ):
        part = shapely.intersection(polys, shapely.box(x0, -90.0, x1, 90.0))
        pieces.append(shapely.transform(part, lambda c, s=shift: c + np.array([s, 0.0])))
    parts, owner = shapely.get_parts(np.stack(pieces, axis=1).reshape(-1), return_index=True)
    owner = owner // 3
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    return shapely.multipolygons(parts[keep], indices=owner[keep])


def _polar_polygon(lng: np.ndarray, lat: np.ndarray) -> shapely.MultiPolygon:
    """The cell around a pole: its ring sorted by longitude, closed along +-180 and the pole."""
    order = np.argsort(lng)
    xs, ys = lng[order], lat[order]
    gap = xs[0] + 360.0 - xs[-1]  # the edge that crosses the antimeridian
    t = (180.0 - xs[-1]) / gap if gap > 0 else 0.5
    y_cross = ys[-1] + t * (ys[0] - ys[-1])
    pole = 90.0 if ys.mean() > 0 else -90.0
    coords = [(-180.0, y_cross), *zip(xs, ys, strict=True), (180.0, y_cross), (180.0, pole)]
    coords.append((-180.0, pole))
    poly = shapely.Polygon(coords)
    return shapely.MultiPolygon([shapely.orient_polygons(poly)])


def _repair(geom: shapely.Geometry) -> shapely.MultiPolygon:
    fixed = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(fixed) if p.geom_type == "Polygon" and p.area > 0]
    return shapely.MultiPolygon(parts)


def cells_table(cells: np.ndarray) -> tuple[pa.Table, CellPolygons]:
    """The grid table (see ``H3Grid``) for any set of cells."""
    cells = np.asarray(cells, dtype=np.uint64)
    parents, has_parent = cell_parents(cells)
    parent_col = _parent_strings(parents, has_parent)
    lng, lat = cell_centers(cells)
    polys = cell_polygons(cells)
    table = pa.table(
        {
            "h3": cells_to_strings(cells),
            "h3_int": pa.array(cells.view(np.int64)),
            "resolution": pa.array(cell_resolutions(cells)),
            "parent": parent_col,
            "center": point_wkb(lng, lat),
            "geom": polys.wkb,
        }
    )
    return table, polys


def _parent_strings(parents: np.ndarray, has_parent: np.ndarray) -> pa.Array:
    if has_parent.all():
        return cells_to_strings(parents)
    if not has_parent.any():
        return pa.nulls(len(parents), pa.string())
    strings = cells_to_strings(np.where(has_parent, parents, parents[has_parent][0]))
    return pc.if_else(pa.array(has_parent), strings, pa.scalar(None, pa.string()))


def build_grid(
    resolution: int, bbox: BBox | None = None, max_cells: int = DEFAULT_MAX_CELLS
) -> H3Grid:
    """The global grid of a resolution (0..4), or the cells covering ``bbox`` (0..15)."""
    t0 = time.perf_counter()
    cells = global_cells(resolution) if bbox is None else bbox_cells(bbox, resolution, max_cells)
    table, polys = cells_table(cells)
    return H3Grid(
        table=table,
        resolution=int(resolution),
        bbox=None if bbox is None else tuple(float(v) for v in bbox),  # type: ignore[arg-type]
        split_cells=polys.split_cells,
        polar_cells=polys.polar_cells,
        repaired_cells=polys.repaired_cells,
        seconds=time.perf_counter() - t0,
    )
