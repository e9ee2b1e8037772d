"""GeoArrow native geometry encodings (GeoParquet 1.1 ``point`` ... ``multipolygon``) -> WKB.

GeoParquet 1.1 may store a geometry column as nested Arrow lists of coordinates instead of WKB:
``point`` is a coordinate, ``linestring`` and ``multipoint`` a list of them, ``polygon`` and
``multilinestring`` a list of lists, ``multipolygon`` three levels. A coordinate is a struct
``{x, y[, z][, m]}`` (separated, what the spec prescribes) or a fixed-size list ``[x, y, ...]``
(interleaved, accepted too). A batch's column is turned into ISO WKB in one vectorised call
(``shapely.from_ragged_array``), so the readers downstream see WKB whatever the encoding.
M values are dropped (shapely keeps X, Y and Z); null rows stay null.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import shapely
from shapely import GeometryType

# encoding -> (shapely type, levels of lists above the coordinates)
ENCODINGS: dict[str, tuple[GeometryType, int]] = {
    "point": (GeometryType.POINT, 0),
    "linestring": (GeometryType.LINESTRING, 1),
    "multipoint": (GeometryType.MULTIPOINT, 1),
    "polygon": (GeometryType.POLYGON, 2),
    "multilinestring": (GeometryType.MULTILINESTRING, 2),
    "multipolygon": (GeometryType.MULTIPOLYGON, 3),
}


def is_native(encoding: str) -> bool:
    """True for a GeoArrow (native) encoding name, case-insensitive."""
    return encoding.lower() in ENCODINGS


def _dims(coords: pa.Array) -> list[str]:
    """The coordinate dimensions held by a struct or fixed-size-list coordinate array."""
    if pa.types.is_struct(coords.type):
        return [coords.type.field(i).name.lower() for i in range(coords.type.num_fields)]
    named = coords.type.value_field.name.lower()  # GeoArrow names it "xy", "xyz", "xym"...
    if named in ("xy", "xyz", "xym", "xyzm"):
        return list(named)
    return ["x", "y", "z", "m"][: coords.type.list_size]


def _coordinates(coords: pa.Array) -> tuple[np.ndarray, bool]:
    """(n, 2 or 3) float64 coordinates (M dropped), and whether Z is present."""
    dims = _dims(coords)
    if pa.types.is_struct(coords.type):
        children = coords.flatten()  # accounts for slicing, unlike .field()
        columns = {d: children[i] for i, d in enumerate(dims)}
    elif pa.types.is_fixed_size_list(coords.type):
        size = coords.type.list_size
        flat = coords.flatten().to_numpy(zero_copy_only=False).astype("float64", copy=False)
        block = flat.reshape(-1, size)
        columns = {d: pa.array(block[:, i]) for i, d in enumerate(dims)}
    else:
        raise ValueError(f"unexpected GeoArrow coordinate type {coords.type}")
    if "x" not in columns or "y" not in columns:
        raise ValueError(f"GeoArrow coordinates lack x/y (dimensions: {dims})")
    keep = ["x", "y", "z"] if "z" in columns else ["x", "y"]
    stacked = np.column_stack(
        [columns[d].to_numpy(zero_copy_only=False).astype("float64", copy=False) for d in keep]
    )
    return stacked.reshape(-1, len(keep)), "z" in columns


def _unnest(arr: pa.Array, levels: int) -> tuple[pa.Array, list[np.ndarray]]:
    """The coordinate array under ``levels`` list levels, and each level's offsets from 0,
    innermost first (the order ``shapely.from_ragged_array`` takes)."""
    offsets: list[np.ndarray] = []
    values = arr
    for _ in range(levels):
        if not (pa.types.is_list(values.type) or pa.types.is_large_list(values.type)):
            raise ValueError(f"expected a list level in the GeoArrow column, got {values.type}")
        off = np.asarray(values.offsets, dtype=np.int64)
        start, end = int(off[0]), int(off[-1])
        offsets.append(off - start)
        values = values.values.slice(start, end - start)
    return values, offsets[::-1]


def to_geometries(arr: pa.Array | pa.ChunkedArray, encoding: str) -> np.ndarray:
    """Shapely geometries (None for null rows) of a GeoArrow-encoded column."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    gtype, levels = ENCODINGS[encoding.lower()]
    coords, offsets = _unnest(arr, levels)
    xy, _has_z = _coordinates(coords)
    if levels and not len(xy):  # every row empty (or null): shapely cannot build from nothing
        geoms = shapely.empty(len(arr), geom_type=gtype)
    else:
        geoms = shapely.from_ragged_array(gtype, xy, tuple(offsets) if offsets else None)
    if arr.null_count:
        geoms[np.asarray(arr.is_null())] = None
    return np.asarray(geoms, dtype=object)


def to_wkb(arr: pa.Array | pa.ChunkedArray, encoding: str) -> pa.Array:
    """The column as ISO WKB (``binary``), Z kept, nulls kept."""
    geoms = to_geometries(arr, encoding)
    has_z = bool(np.any(shapely.has_z(geoms[shapely.is_geometry(geoms)])))
    wkb = shapely.to_wkb(geoms, output_dimension=3 if has_z else 2, flavor="iso")
    return pa.array(wkb, type=pa.binary())
