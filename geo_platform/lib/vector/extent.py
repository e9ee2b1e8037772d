"""Spatial extent of a stream of features: bbox (antimeridian-aware) and a footprint polygon.

Fed with per-row bounds in EPSG:4326, batch by batch, in O(1) memory. Longitudes are binned by
degree; when the widest empty longitude band lies inside the data (not at +-180), the data sits
across the antimeridian (Fiji, the Aleutians) and the bbox is given STAC/GeoJSON style with
``west > east``, the footprint as two boxes split at 180. Otherwise the footprint is the convex
hull of the row bounds' corners.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import shapely

from geo_platform.lib.types import BBox

_BINS = 360
_LOWER = np.array([-180.0, -90.0, -180.0, -90.0])
_UPPER = np.array([180.0, 90.0, 180.0, 90.0])


def hull_candidates(points: np.ndarray) -> np.ndarray:
    """The points that can be convex hull vertices (Akl-Toussaint filter: exact).

    The extreme points in 8 directions span a polygon inside the hull; points strictly inside
    it cannot be hull vertices, so GEOS gets a few percent of a large point set.
    """
    if len(points) < 64:
        return points
    x, y = points[:, 0], points[:, 1]
    # The extreme point in each of 8 directions, counter-clockwise from east. Not a matrix
    # product with the directions: that wakes OpenBLAS's threads, which then spin for a while
    # after every call and take a core from the loader's own threads (about 0.9 s of CPU over
    # 200k polygons, called once per piece).
    poly = points[[int(np.argmax(s)) for s in (x, x + y, y, y - x, -x, -x - y, -y, x - y)]]
    inside = np.ones(len(points), bool)
    for k in range(len(poly)):
        a, c = poly[k], poly[(k + 1) % len(poly)]
        ex, ey = c[0] - a[0], c[1] - a[1]
        if ex == 0 and ey == 0:
            continue  # repeated extreme point
        inside &= ex * (points[:, 1] - a[1]) - ey * (points[:, 0] - a[0]) > 0
    return points[~inside]


def seam_rows(geoms: np.ndarray, bounds: np.ndarray) -> np.ndarray | None:
    """Bounds rows for the extent when a geometry spans more than 180 degrees of longitude: a
    multi-part geometry split at the antimeridian (Fiji, the Aleutians, as RFC 7946 asks) then
    counts part by part, so the extent sees the gap between its parts. None when no row is
    that wide (the rows' own bounds serve)."""
    wide = (bounds[:, 2] - bounds[:, 0]) > 180
    if not wide.any():
        return None
    return np.concatenate([bounds[~wide], shapely.bounds(shapely.get_parts(geoms[wide]))])


class Extent:
    """Accumulates bounds rows (xmin, ymin, xmax, ymax); NaN rows (null/empty) are ignored."""

    def __init__(self) -> None:
        self.lo = np.array([np.inf, np.inf])
        self.hi = np.array([-np.inf, -np.inf])
        self._diff = np.zeros(_BINS + 1, np.int64)
        self._bin_min = np.full(_BINS, np.inf)
        self._bin_max = np.full(_BINS, -np.inf)
        self._hull: Any = None

    def add(self, bounds: np.ndarray) -> None:
        points = len(bounds) > 0 and bool(
            (bounds[:, 0] == bounds[:, 2]).all() and (bounds[:, 1] == bounds[:, 3]).all()
        )
        b = bounds[:, :2] if points else bounds  # points: (n, 2) is enough, half the work
        ok = np.isfinite(b).all(axis=1)
        if not ok.any():
            return
        # Float noise like 180.00000000000006 in sources must not leak into STAC.
        b = np.clip(b[ok], _LOWER[: b.shape[1]], _UPPER[: b.shape[1]])
        xmin, ymin = b[:, 0], b[:, 1]
        xmax, ymax = (xmin, ymin) if points else (b[:, 2], b[:, 3])
        self.lo = np.minimum(self.lo, [xmin.min(), ymin.min()])
        self.hi = np.maximum(self.hi, [xmax.max(), ymax.max()])
        start = np.clip(np.floor(xmin + 180).astype(np.int64), 0, _BINS - 1)
        end = start if points else np.clip(np.floor(xmax + 180).astype(np.int64), 0, _BINS - 1)
        self._diff += np.bincount(start, minlength=_BINS + 1)[: _BINS + 1]
        self._diff -= np.bincount(end + 1, minlength=_BINS + 1)[: _BINS + 1]
        np.minimum.at(self._bin_min, start, xmin)
        np.maximum.at(self._bin_max, end, xmax)
        corners = b if points else np.concatenate([b[:, :2], b[:, 2:], b[:, [0, 3]], b[:, [2, 1]]])
        self._add_hull(hull_candidates(corners))

    def _add_hull(self, corners: np.ndarray) -> None:
        # One LineString through all corners: GEOS builds a single coordinate sequence (no
        # geometry per point), and the hull of a line is the hull of its vertices.
        unique = np.unique(corners, axis=0) if len(corners) < 3 else corners
        batch = shapely.linestrings(unique) if len(unique) > 1 else shapely.points(unique[0])
        if self._hull is None:
            self._hull = shapely.convex_hull(batch)
        else:
            both = shapely.geometrycollections([self._hull, batch])
            self._hull = shapely.convex_hull(both)

    @property
    def empty(self) -> bool:
        return not np.isfinite(self.lo).all()

    def _crossing(self) -> tuple[float, float] | None:
        """(west, east) when the data crosses the antimeridian, else None."""
        occupied = np.cumsum(self._diff[:_BINS]) > 0
        if occupied.all() or not occupied.any():
            return None
        seam_gap = 360.0 - float(self.hi[0] - self.lo[0])
        best_len, best_start = 0, -1
        run = 0
        for i in range(_BINS):  # 360 steps: interior gaps between occupied bins
            if not occupied[i]:
                run += 1
                continue
            if run and i - run > 0 and run > best_len:
                best_len, best_start = run, i - run
            run = 0
        if best_start < 0 or best_len <= seam_gap:
            return None
        before = np.flatnonzero(occupied[:best_start])[-1]
        after = best_start + best_len
        return float(self._bin_min[after:][np.isfinite(self._bin_min[after:])].min()), float(
            self._bin_max[: before + 1][np.isfinite(self._bin_max[: before + 1])].max()
        )

    def bbox(self) -> BBox | None:
        """(west, south, east, north); west > east when crossing the antimeridian."""
        if self.empty:
            return None
        crossing = self._crossing()
        if crossing is not None:
            return (crossing[0], float(self.lo[1]), crossing[1], float(self.hi[1]))
        return (float(self.lo[0]), float(self.lo[1]), float(self.hi[0]), float(self.hi[1]))

    def footprint(self) -> dict[str, Any] | None:
        """GeoJSON geometry: convex hull, or two boxes split at 180 across the antimeridian."""
        bbox = self.bbox()
        if bbox is None:
            return None
        west, south, east, north = bbox
        if west > east:
            geom = shapely.multipolygons(
                [shapely.box(west, south, 180.0, north), shapely.box(-180.0, south, east, north)]
            )
        else:
            geom = self._hull
            flat = not (west < east and south < north)
            if (geom is None or geom.geom_type != "Polygon") and not flat:
                geom = shapely.box(west, south, east, north)
        return dict(json.loads(shapely.to_geojson(geom)))
