"""The H3 cells a lon/lat polygon covers, each with the exact share of the cell it covers.

A polygon here is what its lon/lat coordinates say: edges are straight in lon/lat (as PostGIS
``geometry`` and H3's polyfill read them), so a ring may run along +-180 and along a pole's
latitude (Natural Earth's Antarctica does both). Such polygons are valid in lon/lat but not on
the sphere, and H3's polyfill takes any edge spanning more than 180 degrees of longitude for an
antimeridian crossing, so a polar polygon loses most of its cells.

The cover therefore never hands H3 such a polygon, and never measures in lon/lat:

1. **Boundary cells**: the polygon's rings, with points no further apart than a quarter of the
   cell edge, are indexed point by point; those cells and their neighbours hold every cell the
   boundary passes through.
2. **Inner cells**: every other cell lies wholly inside or wholly outside, so its center
   decides. H3's polyfill (center containment) runs on the polygon cut into 90-degree sectors,
   which H3 reads correctly, pole caps included.
3. **Shares** of boundary cells: the cell (great-circle edges, closed at the antimeridian and
   the poles as ``grid.cell_polygons`` builds it) intersected with the polygon in lon/lat, where
   both are exact, and both measured in a Lambert azimuthal equal-area projection about the
   cell's center. The polygon is first cut into small pieces (a quadtree on vertex counts) so
   each intersection is local.

Shares times H3's own cell areas add up to the polygon's spherical area (to about 1e-5).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import h3
import numpy as np
import shapely
from h3.api import basic_int as h3i

from geo_platform.lib.h3 import grid as h3grid
from geo_platform.lib.h3.sphere import laea

SEARCH_STEP_DEG = 0.05
"""Boundary points for the cell search are at most this far apart (less at fine resolutions)."""
CELL_ARC_DEG = 0.1
"""Cell edges follow their great circles with a point at least every 0.1 degrees."""
PROJECT_STEP_DEG = 0.1
"""Lon/lat edges get a point every 0.1 degrees before they are projected (areas to ~1e-5)."""
PIECE_VERTICES = 64
KM_PER_DEG = 6371.007180918475 * np.pi / 180.0
_SECTORS = [shapely.box(w, -90.0, w + 90.0, 90.0) for w in (-180.0, -90.0, 0.0, 90.0)]


@dataclass(frozen=True)
class Cover:
    """Cells (uint64) touched by a polygon and the share of each cell it covers (0 < s <= 1)."""

    cells: np.ndarray
    share: np.ndarray
    inner: int
    boundary: int


def latlng_to_cells(lat: np.ndarray, lng: np.ndarray, resolution: int) -> np.ndarray:
    """H3 cells (uint64) of coordinate arrays (one h3 call per point: h3-py has no array API)."""
    f = h3i.latlng_to_cell
    res = int(resolution)
    return np.fromiter(
        (f(a, b, res) for a, b in zip(lat.tolist(), lng.tolist(), strict=True)),
        dtype=np.uint64,
        count=len(lat),
    )


def polygon_cover(poly: shapely.Geometry, resolution: int) -> Cover:
    """The cells ``poly`` (a lon/lat Polygon or MultiPolygon) covers, with their shares."""
    res = int(resolution)
    poly = valid_polygon(poly)
    if shapely.is_empty(poly):
        return Cover(np.zeros(0, np.uint64), np.zeros(0), 0, 0)
    edge = boundary_cells(poly, res)
    inner = np.setdiff1d(center_cells(poly, res), edge)
    share = boundary_shares(poly, edge)
    keep = share > 0
    return Cover(
        cells=np.concatenate([inner, edge[keep]]),
        share=np.concatenate([np.ones(len(inner)), share[keep]]),
        inner=len(inner),
        boundary=int(keep.sum()),
    )


def valid_polygon(poly: shapely.Geometry) -> shapely.Geometry:
    """The polygon repaired if invalid (its polygonal parts), shells counter-clockwise."""
    if not shapely.is_valid(poly):
        poly = polygonal(shapely.make_valid(poly))
    return shapely.orient_polygons(poly)


def polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygons of any geometry, as one (Multi)Polygon (lines and points dropped)."""
    parts = shapely.get_parts(geom)
    parts = parts[shapely.get_type_id(parts) == 3]
    if len(parts) == 1:
        return parts[0]
    return shapely.multipolygons(parts) if len(parts) else shapely.Polygon()


def boundary_cells(poly: shapely.Geometry, resolution: int) -> np.ndarray:
    """Every cell the polygon's boundary passes through (sorted uint64; a few more, harmless).

    Boundary points are at most a quarter of an average edge length apart, far less than the
    width of any cell, so a cell the boundary crosses neighbours a cell holding a point.
    """
    step = min(SEARCH_STEP_DEG, h3.average_hexagon_edge_length(resolution, "km") / 4 / KM_PER_DEG)
    xy = shapely.get_coordinates(shapely.segmentize(shapely.boundary(poly), step))
    hit = np.unique(latlng_to_cells(xy[:, 1], xy[:, 0], resolution))
    near = itertools.chain.from_iterable(h3i.grid_disk(int(c), 1) for c in hit.tolist())
    return np.unique(np.fromiter(near, dtype=np.uint64))


def center_cells(poly: shapely.Geometry, resolution: int) -> np.ndarray:
    """Cells whose center lies in the polygon (sorted uint64).

    H3 reads a polygon whose edges span more than 180 degrees of longitude as crossing the
    antimeridian; cut into 90-degree sectors, no edge does, and each sector is read as drawn.
    """
    xmin, _, xmax, _ = shapely.bounds(poly)
    pieces = [poly] if xmax - xmin < 180.0 else list(shapely.intersection(poly, _SECTORS))
    found: set[int] = set()
    for piece in pieces:
        piece = polygonal(piece)
        if not shapely.is_empty(piece):
            shape = h3.geo_to_h3shape(piece)
            found.update(h3i.h3shape_to_cells_experimental(shape, resolution, "center"))
    return np.sort(np.fromiter(found, dtype=np.uint64, count=len(found)))


def boundary_shares(poly: shapely.Geometry, cells: np.ndarray) -> np.ndarray:
    """The share of each cell covered by the polygon, measured on the sphere."""
    if len(cells) == 0:
        return np.zeros(0)
    cell_geoms = h3grid.cell_polygons(cells, CELL_ARC_DEG).geoms()
    parts, owner = shapely.get_parts(cell_geoms, return_index=True)
    lng, lat = h3grid.cell_centers(cells)
    pieces = subdivide(poly, PIECE_VERTICES)
    part_idx, piece_idx = shapely.STRtree(pieces).query(parts, predicate="intersects")
    inter = shapely.intersection(parts[part_idx], pieces[piece_idx])
    at = owner[part_idx]
    covered = np.bincount(at, local_areas(inter, lng[at], lat[at]), minlength=len(cells))
    share = np.zeros(len(cells))
    touched = np.flatnonzero(covered > 0)
    mine = np.isin(owner, touched)  # the parts of touched cells: measured the same way
    whole = np.bincount(owner[mine], local_areas(parts[mine], lng[owner[mine]], lat[owner[mine]]),
                        minlength=len(cells))[touched]  # fmt: skip
    share[touched] = np.minimum(covered[touched] / whole, 1.0)
    return share


def local_areas(geoms: np.ndarray, center_lng: np.ndarray, center_lat: np.ndarray) -> np.ndarray:
    """Area (m2) of each lon/lat geometry in an equal-area projection about its own center."""
    if len(geoms) == 0:
        return np.zeros(0)
    dense = shapely.segmentize(geoms, PROJECT_STEP_DEG)  # new geometries: safe to edit in place
    xy, idx = shapely.get_coordinates(dense, return_index=True)
    x, y = laea(xy[:, 0], xy[:, 1], center_lng[idx], center_lat[idx])
    return shapely.area(shapely.set_coordinates(dense, np.column_stack([x, y])))


def subdivide(geom: shapely.Geometry, max_vertices: int) -> np.ndarray:
    """Polygon pieces with at most ``max_vertices`` each (halving bounding boxes), same union."""
    done: list[np.ndarray] = []
    todo = shapely.get_parts(np.asarray([geom]))
    for _ in range(64):  # each round halves the pieces' boxes: 64 rounds reach float precision
        small = shapely.get_num_coordinates(todo) <= max_vertices
        done.append(todo[small])
        if small.all():
            break
        todo = _halves(todo[~small])
    else:
        done.append(todo)
    return np.concatenate(done)


def _halves(geoms: np.ndarray) -> np.ndarray:
    """Each polygon cut in two across the longer side of its bounding box (polygons only)."""
    x0, y0, x1, y1 = shapely.bounds(geoms).T
    wide = (x1 - x0) >= (y1 - y0)
    mid_x, mid_y = np.where(wide, (x0 + x1) / 2, x1), np.where(wide, y1, (y0 + y1) / 2)
    low = shapely.box(x0, y0, mid_x, mid_y)
    high = shapely.box(np.where(wide, mid_x, x0), np.where(wide, y0, mid_y), x1, y1)
    cut = shapely.intersection(np.concatenate([geoms, geoms]), np.concatenate([low, high]))
    parts = shapely.get_parts(cut)
    return parts[(shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)]
