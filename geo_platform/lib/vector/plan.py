"""Which tables a layer becomes, decided before any row is loaded.

From the declared geometry type when the format has one (GeoPackage, Shapefile, FlatGeobuf,
FileGDB, GeoParquet), else from a geometry-only pre-scan (GeoJSON with mixed types, KML, CSV
WKT). A layer mixing dimensions is split into one table per dimension; Z is kept per the rule
in ``geometry.py``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import shapely

from geo_platform.lib.vector import geometry as geom_rules
from geo_platform.lib.vector import wkb
from geo_platform.lib.vector.rings import close_rings

_DECLARED_KIND = {
    "point": wkb.POINTS, "multipoint": wkb.POINTS,
    "linestring": wkb.LINES, "multilinestring": wkb.LINES, "circularstring": wkb.LINES,
    "compoundcurve": wkb.LINES, "multicurve": wkb.LINES, "curve": wkb.LINES,
    "polygon": wkb.POLYGONS, "multipolygon": wkb.POLYGONS, "curvepolygon": wkb.POLYGONS,
    "multisurface": wkb.POLYGONS, "surface": wkb.POLYGONS, "polyhedralsurface": wkb.POLYGONS,
    "tin": wkb.POLYGONS, "triangle": wkb.POLYGONS,
}  # fmt: skip


@dataclass(frozen=True)
class LayerPlan:
    """Tables a layer becomes: kinds in order, Z per kind, rows per kind when pre-scanned."""

    kinds: tuple[str, ...]
    has_z: dict[str, bool]
    declared: bool
    counts: dict[str, int] = field(default_factory=dict)

    def geometry_type(self, kind: str) -> str:
        """PostGIS type name, e.g. 'MultiPolygonZ'."""
        return wkb.MULTI_TYPE[kind] + ("Z" if self.has_z[kind] else "")


def declared_plan(geometry_type: str) -> LayerPlan | None:
    """The plan implied by a declared type like 'Polygon Z' / '3D Point', or None."""
    words = geometry_type.replace("3D ", "").split()
    if not words:
        return None
    kind = _DECLARED_KIND.get(words[0].lower())
    if kind is None:
        return None
    has_z = "Z" in words[1:] or "ZM" in words[1:] or geometry_type.startswith("3D ")
    return LayerPlan(kinds=(kind,), has_z={kind: has_z}, declared=True)


def prescan_plan(batches: Iterable[pa.RecordBatch], geometry_column: str) -> LayerPlan:
    """Kinds and Z of an undeclared layer, from a pass over its geometries only."""
    counts = np.zeros(3, np.int64)
    nonzero_z = [False, False, False]
    for batch in batches:
        arr = batch.column(geometry_column)
        h = wkb.headers(arr)
        kinds = h.kind_index()
        odd = h.present & ((kinds < 0) | h.has_z | np.isin(h.code, list(wkb.CURVE_CODES)))
        if odd.any():
            geoms = parse_wkb(arr.filter(pa.array(odd)))
            ok = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
            sub = np.full(len(geoms), -1, np.int8)
            sub[ok] = geom_rules.kind_index(geoms[ok])
            kinds = kinds.copy()
            kinds[np.flatnonzero(odd)] = sub
            for k in range(3):
                if not nonzero_z[k]:
                    nonzero_z[k] = geom_rules.nonzero_z(geoms[ok & (sub == k)])
        counts += np.bincount(kinds[kinds >= 0], minlength=3)[:3]
    present = tuple(k for i, k in enumerate(wkb.KINDS) if counts[i] > 0)
    return LayerPlan(
        kinds=present,
        has_z={k: nonzero_z[i] for i, k in enumerate(wkb.KINDS)},
        declared=False,
        counts={k: int(counts[i]) for i, k in enumerate(wkb.KINDS) if counts[i]},
    )


def parse_wkb(arr: pa.Array) -> np.ndarray:
    """Shapely geometries for WKB values (None for null/unparsable); curves linearized."""
    return parse_wkb_closing(arr)[0]


def parse_wkb_closing(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``parse_wkb``, plus the mask of the rows whose open polygon rings were closed to make
    them parsable (``rings.close_rings``; a repair the cleaner counts)."""
    values = arr.to_numpy(zero_copy_only=False)
    h = wkb.headers(arr)
    curved = np.isin(h.code, list(wkb.CURVE_CODES)) & h.present
    if curved.any():
        values = values.copy()
        values[curved] = wkb.linearize(list(values[curved]))
    closed = np.zeros(len(values), bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        geoms = np.asarray(shapely.from_wkb(values, on_invalid="ignore"), dtype=object)
        retry = np.flatnonzero(h.present & ~curved & np.isin(h.code, [3, 6]))
        for i in retry[shapely.is_missing(geoms[retry])]:  # rare: only unparsable polygons
            fixed = close_rings(values[i])
            if fixed is not None:
                geoms[i] = shapely.from_wkb(fixed, on_invalid="ignore")
                closed[i] = geoms[i] is not None
    return geoms, closed
