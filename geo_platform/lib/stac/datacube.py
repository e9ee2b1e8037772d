"""The STAC datacube extension for the items of a multidimensional file's variables.

Each variable of a NetCDF/HDF5/GRIB file is published as its own item (``lib/raster/multidim``).
Its properties describe the cube the item's COG is a slice of, with the datacube extension
**v2.3.0** (schema vendored in ``schemas/datacube``, validated offline; the PROJJSON of a
``reference_system`` is not checked offline, as for ``proj:projjson``):

- ``cube:dimensions``: ``x`` and ``y`` (spatial, the published grid: extent, step and reference
  system) and each time or level dimension of the variable (``time`` temporal with ISO values,
  extent and a regular step as an ISO 8601 duration; levels vertical ``z``; anything else an
  additional dimension with its values and unit). One band of the item's assets per step.
- ``cube:variables``: the variable, its dimensions in the file's order, ``type: data``, unit and
  description (CF ``long_name``).

The item also gets ``start_datetime``/``end_datetime`` spanning its time steps (``datetime`` is
the first), ``geo_platform:variable``, ``geo_platform:crs_assumed`` (lat/lon coordinates without
a grid mapping are taken as EPSG:4326) and, when some were set aside, the file's
``geo_platform:ignored_variables``. The collection is shared by every file of a folder, so the
cube is described per item, where each variable's own cube is known.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any

import pyproj

from geo_platform.lib.raster.cf import Dimension, iso, parse_iso
from geo_platform.lib.raster.grid import GridInfo
from geo_platform.lib.raster.multidim import CubeVariable
from geo_platform.lib.stac.render import DATA_ASSET, render_entries
from geo_platform.lib.stac_ext import DATETIME_SOURCE, prop

DATACUBE_EXT = "https://stac-extensions.github.io/datacube/v2.3.0/schema.json"
VARIABLE = prop("variable")
CRS_ASSUMED = prop("crs_assumed")
IGNORED_VARIABLES = prop("ignored_variables")
_DATA_TYPES = frozenset(
    {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
     "float32", "float64"}
)  # fmt: skip
MAX_VALUES = 1000
"""Dimensions with more values than this list their extent (and step) only."""


def cube_dimensions(var: CubeVariable, grid: GridInfo) -> dict[str, Any]:
    """``cube:dimensions`` of ``var`` published on ``grid``."""
    (minx, miny, maxx, maxy), (resx, resy) = grid.bounds, grid.resolution
    system = _reference_system(grid)
    out: dict[str, Any] = {
        "x": {"type": "spatial", "axis": "x", "extent": [minx, maxx], "step": abs(resx)},
        "y": {"type": "spatial", "axis": "y", "extent": [miny, maxy], "step": abs(resy)},
    }
    if system is not None:
        out["x"]["reference_system"] = out["y"]["reference_system"] = system
    for dim in var.dims:
        out[dim.name] = _dimension(dim)
    return out


def cube_variables(var: CubeVariable) -> dict[str, Any]:
    """``cube:variables``: the one variable the item holds."""
    entry: dict[str, Any] = {"dimensions": [*(d.name for d in var.dims), "y", "x"], "type": "data"}
    if var.description:
        entry["description"] = var.description
    if var.unit:
        entry["unit"] = var.unit
    if var.nodata is not None:
        entry["nodata"] = _nodata(var.nodata)
    entry["data_type"] = var.dtype if var.dtype in _DATA_TYPES else "other"
    return {var.name: entry}


def cube_renders(item: dict[str, Any], asset: str = DATA_ASSET) -> dict[str, dict[str, Any]]:
    """The render of a variable's item, named after the variable (``colormap-tas``): its first
    step (band 1) as a colour ramp stretched by that band's statistics. The name keeps the
    variables of one collection apart: a collection's render widens its stretch over the items
    sharing the name, and temperature and precipitation have no stretch in common. Its bands
    are steps of one quantity, not colours, so the default "first three bands as RGB" would
    mix three time steps into one false picture."""
    bands = (item.get("assets", {}).get(asset) or {}).get("bands") or []
    if not bands:
        return {}
    first = {**item, "assets": {asset: {**item["assets"][asset], "bands": bands[:1]}}}
    ramp = render_entries(first, asset).get("colormap")
    if ramp is None:
        return {}
    name = str(item["properties"].get(VARIABLE, "variable"))
    key = "colormap-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "variable")
    return {key: {**ramp, "title": f"{name}, {bands[0].get('name', 'band 1')}",
                  "expression": "b1"}}  # fmt: skip


def _nodata(value: float) -> float | int | str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return int(value) if float(value).is_integer() else value


def with_cube(
    item: dict[str, Any], var: CubeVariable, grid: GridInfo, ignored: Sequence[str] = ()
) -> dict[str, Any]:
    """``item`` (a dict) with the datacube fields of ``var`` and its time span."""
    props = dict(item["properties"])
    props["cube:dimensions"] = cube_dimensions(var, grid)
    props["cube:variables"] = cube_variables(var)
    props[VARIABLE] = var.name
    props[CRS_ASSUMED] = var.crs_assumed
    if ignored:
        props[IGNORED_VARIABLES] = list(ignored)
    times = var.times
    if times:
        temporal = next(d.name for d in var.dims if d.kind == "temporal")
        props["datetime"] = iso(times[0])
        props[DATETIME_SOURCE] = f"metadata:{temporal}"
        props["start_datetime"], props["end_datetime"] = iso(times[0]), iso(times[-1])
    extensions = list(item.get("stac_extensions", []))
    if DATACUBE_EXT not in extensions:
        extensions.append(DATACUBE_EXT)
    return {**item, "properties": props, "stac_extensions": extensions}


def _reference_system(grid: GridInfo) -> dict[str, Any] | None:
    """PROJJSON of the grid's CRS; None for EPSG:4326 (the extension's default).

    The extension also takes an EPSG code or WKT2, but its schema offers them beside a PROJJSON
    ``$ref`` in a ``oneOf``: offline, where the PROJJSON schema is not vendored (compiling it
    would cost every process a second), a number or a string matches two branches and fails."""
    if grid.crs_code == "EPSG:4326":
        return None
    return dict(pyproj.CRS.from_wkt(grid.crs_wkt2).to_json_dict())


def _dimension(dim: Dimension) -> dict[str, Any]:
    values = list(dim.values)
    if dim.kind == "temporal":
        times = [parse_iso(str(v)) for v in values]
        out: dict[str, Any] = {"type": "temporal", "extent": [iso(min(times)), iso(max(times))]}
        step = _time_step(times)
        if step is not None:
            out["step"] = step
    elif dim.kind == "vertical":
        out = {"type": "spatial", "axis": "z"}
    else:
        out = {"type": dim.name}
    if dim.kind != "temporal":
        numbers = [v for v in values if isinstance(v, int | float)]
        if numbers and len(numbers) == len(values):
            out["extent"] = [min(numbers), max(numbers)]
    if len(values) <= MAX_VALUES or "extent" not in out:
        out["values"] = values
    if dim.unit and dim.kind != "temporal":
        out["unit"] = dim.unit
    if dim.description:
        out["description"] = dim.description
    return out


def _time_step(times: list[datetime]) -> str | None:
    """The regular spacing of ``times`` as an ISO 8601 duration (``P1D``, ``PT6H``), else None
    (the datacube extension's ``null``: irregular, left out here)."""
    if len(times) < 2:
        return None
    gaps = {(b - a).total_seconds() for a, b in pairwise(times)}
    if len(gaps) != 1:
        return None
    seconds = int(gaps.pop())
    if seconds <= 0:
        return None
    if seconds % 86400 == 0:
        return f"P{seconds // 86400}D"
    if seconds % 3600 == 0:
        return f"PT{seconds // 3600}H"
    if seconds % 60 == 0:
        return f"PT{seconds // 60}M"
    return f"PT{seconds}S"
