"""Geometry rules on shapely arrays: repair keeping the dimension, Multi* promotion, Z/M.

The documented rules (applied by ``clean.LayerCleaner``):

- **Repair**: invalid geometries go through ``make_valid(method="structure")``; only the parts
  of the original dimension are kept (a bow-tie polygon becomes a MultiPolygon of two
  triangles, the stray lines and points a repair can produce are dropped). A geometry whose
  repair leaves nothing of its dimension (a polygon collapsed to a line, a one-point
  LineString GEOS cannot even build) is dropped and counted as invalid.
- **GeometryCollections** are reduced to their parts of the highest dimension (counted as
  repaired when lower-dimension parts are dropped).
- **Multi***: every geometry is promoted to its Multi* type, so a table has one type (done on
  the WKB, see ``wkb.wrap_multi``).
- **Z/M**: M is always dropped. Z is kept when the layer declares it (``Polygon Z``) or, for
  layers without a declared type, when any feature of that dimension has a non-zero Z; the
  table is then ``MultiPolygonZ`` and 2D features get Z = 0. Z values are passed through
  unchanged by reprojection (no vertical datum transformation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

_TYPE_KIND = {0: 0, 4: 0, 1: 1, 2: 1, 5: 1, 3: 2, 6: 2}  # shapely type id -> kind index
_EMPTY_MULTI = ((0, "MULTIPOINT EMPTY"), (1, "MULTILINESTRING EMPTY"), (3, "MULTIPOLYGON EMPTY"))


def kind_index(geoms: np.ndarray) -> np.ndarray:
    """0/1/2 (points/lines/polygons) per geometry; collections by their highest dimension."""
    ids = shapely.get_type_id(geoms)
    out = np.full(len(geoms), -1, np.int8)
    for type_id, kind in _TYPE_KIND.items():
        out[ids == type_id] = kind
    gc = ids == 7
    if gc.any():
        out[gc] = np.maximum(shapely.get_dimensions(geoms[gc]), -1)
    return out


def drop_m(geoms: np.ndarray) -> np.ndarray:
    """Remove M ordinates, keeping Z where present."""
    has_m = shapely.has_m(geoms)
    if not has_m.any():
        return geoms
    out = geoms.copy()
    with_z = has_m & shapely.has_z(geoms)
    if with_z.any():
        out[with_z] = shapely.from_wkb(shapely.to_wkb(geoms[with_z], output_dimension=3))
    only_m = has_m & ~with_z
    out[only_m] = shapely.force_2d(geoms[only_m])
    return out


def _flatten(geom: Any) -> list[Any]:
    """Leaf parts of a (possibly nested) multi geometry or collection."""
    if shapely.get_type_id(geom) in (4, 5, 6, 7):
        parts: list[Any] = []
        for part in shapely.get_parts(geom):
            parts.extend(_flatten(part))
        return parts
    return [geom]


def extract_dimension(geom: Any, dim: int) -> Any | None:
    """The parts of ``geom`` with dimension ``dim`` as one Multi* geometry (None if none)."""
    parts = [p for p in _flatten(geom) if not p.is_empty and shapely.get_dimensions(p) == dim]
    if not parts:
        return None
    if dim == 0:
        return shapely.multipoints(parts)
    if dim == 1:
        return shapely.multilinestrings(parts)
    return shapely.multipolygons(parts)


def repair(geom: Any, dim: int) -> Any | None:
    """A valid geometry of dimension ``dim`` made from ``geom``, or None when impossible."""
    candidate: Any | None = geom
    for _ in range(3):
        if candidate is None:
            return None
        if shapely.get_type_id(candidate) == 7 or shapely.get_dimensions(candidate) != dim:
            candidate = extract_dimension(candidate, dim)
            continue
        if shapely.is_valid(candidate):
            return candidate
        fixed = shapely.make_valid(candidate, method="structure", keep_collapsed=False)
        candidate = extract_dimension(fixed, dim)
    if candidate is not None and shapely.is_valid(candidate):
        return candidate
    return None


def empty_to_multi(geoms: np.ndarray) -> np.ndarray:
    """Empty single geometries as empty Multi* (non-empty ones are wrapped at the WKB level)."""
    ids = shapely.get_type_id(geoms)
    empty = shapely.is_empty(geoms) & np.isin(ids, [0, 1, 3])
    if not empty.any():
        return geoms
    out = geoms.copy()
    for single, empty_wkt in _EMPTY_MULTI:
        sel = empty & (ids == single)
        if sel.any():
            out[sel] = shapely.from_wkt(empty_wkt)
    return out


def empty_of_kind(kind_index: int) -> Any:
    """The empty Multi* of a kind (0/1/2): what an empty GeometryCollection, which has no
    dimension, becomes in the table it is counted on."""
    return shapely.from_wkt(_EMPTY_MULTI[kind_index][1])


def set_z(geoms: np.ndarray, keep_z: bool) -> np.ndarray:
    """Force every geometry to 3D (missing Z = 0) or 2D."""
    present = geoms[~shapely.is_missing(geoms)]
    if keep_z:
        if not present.size or shapely.has_z(present).all():
            return geoms
        return shapely.force_3d(geoms, 0.0)
    if not present.size or not shapely.has_z(present).any():
        return geoms
    return shapely.force_2d(geoms)


def nonzero_z(geoms: np.ndarray) -> bool:
    """True when any geometry has a Z ordinate other than 0 (or NaN)."""
    with_z = geoms[shapely.has_z(geoms)]
    if not with_z.size:
        return False
    z = shapely.get_coordinates(with_z, include_z=True)[:, 2]
    return bool(np.any((z != 0) & np.isfinite(z)))


# shapely type ids of a clean result per dimension: (Multi)Point, (Multi)LineString, (Multi)Polygon
_SIMPLE_TYPES = {0: [0, 4], 1: [1, 5], 2: [3, 6]}


def repair_invalid(
    g: np.ndarray, check: np.ndarray, dim: int
) -> tuple[np.ndarray, int, np.ndarray]:
    """Repair invalid geometries among ``g[check]``; (fixed, repaired count, failed mask).

    ``make_valid`` runs vectorized; results that are already a clean (Multi)geometry of the
    right dimension are taken as they are, the rest (collections, collapsed parts) go through
    ``repair`` one by one.
    """
    fixed = g.copy()
    failed = np.zeros(len(g), bool)
    idx = np.flatnonzero(check)
    bad = idx[~shapely.is_valid(g[idx]) | (shapely.get_type_id(g[idx]) == 7)]
    if not len(bad):
        return fixed, 0, failed
    made = shapely.make_valid(g[bad], method="structure", keep_collapsed=False)
    types = shapely.get_type_id(made)
    simple = np.isin(types, _SIMPLE_TYPES[dim]) & ~shapely.is_empty(made)
    fixed[bad[simple]] = made[simple]
    for i in bad[~simple]:
        result = repair(g[i], dim)
        if result is None:
            failed[i] = True
        else:
            fixed[i] = result
    return fixed, len(bad) - int(failed.sum()), failed
