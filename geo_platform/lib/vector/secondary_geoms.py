"""A GeoParquet's other geometry columns (a centroid, a label point, an outline beside the
footprint) as PostGIS geometries, not WKB ``bytea``.

Each is reprojected from its own CRS (the "geo" metadata has one per column) to EPSG:4326, as
the primary column is, and stored as ``geometry(Geometry,4326)`` in 2D. Its values are kept
otherwise as they are: no repair, no Multi* promotion (the table's cleaned geometry is the
primary one, ``geom``). A value that does not parse, or that PROJ cannot transform, loads as
null. A column whose CRS is explicitly unknown (``"crs": null``), or one PROJ cannot read or
transform, stays WKB ``bytea`` (as before): it cannot be placed on the Earth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import shapely

from geo_platform.lib.errors import InputError
from geo_platform.lib.vector.pgcopy import LONLAT_GEOMETRY
from geo_platform.lib.vector.reproject import Reprojector
from geo_platform.lib.vector.source import LayerSource

Converter = Callable[[pa.Array], pa.Array]


def converters(src: LayerSource) -> dict[str, Converter]:
    """Source column name -> the function turning its WKB into 2D WKB in EPSG:4326 (none for
    a column whose CRS is unknown or PROJ cannot transform: it stays WKB)."""
    out: dict[str, Converter] = {}
    for name, crs in src.geometry_crs.items():
        try:
            out[name] = partial(_to_lonlat, Reprojector(crs, None, src.display))
        except InputError:  # no CRS, a local engineering CRS, one PROJ cannot transform
            continue
    return out


def typed(columns: list[Any], convert: dict[str, Converter]) -> list[Any]:
    """The column plans (``columns.ColumnPlan``) with the converted columns typed as geometry."""
    return [replace(c, pg_type=LONLAT_GEOMETRY) if c.source in convert else c for c in columns]


def _to_lonlat(reprojector: Reprojector, arr: pa.Array) -> pa.Array:
    values = arr.to_numpy(zero_copy_only=False)
    geoms = shapely.from_wkb(values, on_invalid="ignore")
    geoms = shapely.force_2d(reprojector.geometries(np.asarray(geoms, dtype=object)))
    placed = np.isfinite(shapely.bounds(geoms)).all(axis=1) | shapely.is_empty(geoms)
    geoms[~placed] = None
    return pa.array(shapely.to_wkb(geoms, flavor="iso", byte_order=1), pa.binary())
