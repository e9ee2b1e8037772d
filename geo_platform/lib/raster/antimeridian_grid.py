"""Warped grids of rasters across the antimeridian.

GDAL's suggested warp output (``gdalwarp``, the COG driver's ``TARGET_SRS``, rasterio's
``calculate_default_transform``) samples the source's edge in the target CRS. For a raster
across 180 degrees (Fiji in Pacific-centred Mercator, the Aleutians in Alaska Albers) warped to
a CRS whose own edge is there (EPSG:4326, EPSG:3857), the samples land at both ends of the
target's world: the suggested grid spans the whole Earth with the source's pixel count along
its diagonal. 2048 x 1024 pixels of 100 m came out as 2301 x 6 pixels of 17 km: a valid COG,
and useless. Here the samples' longitudes are unwrapped round the raster's centre and
projected with PROJ's ``+over`` (no wrapping), so the grid runs on past the edge (179.08 to
180.92 degrees) at the source's resolution, as GeoTIFF allows and GDAL, PROJ and titiler read.

A GoogleMapsCompatible grid (``web_optimized``) cannot run past its edge: the raster would
be one grid across the whole width of the tile matrix (minutes of empty tiles for a small
raster), so that option is refused for such a raster with what to set instead.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from affine import Affine
from pyproj import CRS, Transformer

from geo_platform.lib.errors import CoordinateRangeError

_SAMPLES = 21  # per side, as GDAL's suggested output samples the edge


def lonlat_samples(
    crs: Any, transform: tuple[float, ...], width: int, height: int
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Longitudes (unwrapped round the raster's centre: past 180 where it crosses) and
    latitudes of a grid of sample points over the raster, and that centre's longitude; None
    if no point transforms."""
    cols, rows = np.meshgrid(np.linspace(0, width, _SAMPLES), np.linspace(0, height, _SAMPLES))
    a, b, c, d, e, f = transform[:6]
    xs, ys = a * cols.ravel() + b * rows.ravel() + c, d * cols.ravel() + e * rows.ravel() + f
    to_lonlat = Transformer.from_crs(CRS.from_user_input(crs), 4326, always_xy=True)
    lon, lat = (np.asarray(v, float) for v in to_lonlat.transform(xs, ys, errcheck=False))
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        return None
    middle = lon.size // 2  # the centre sample (odd count per side)
    centre = float(lon[middle]) if ok[middle] else float(np.median(lon[ok]))
    return _unwrap(lon[ok], centre), lat[ok], centre


def _unwrap(lon: np.ndarray, centre: float) -> np.ndarray:
    return centre + ((lon - centre + 180.0) % 360.0 - 180.0)


def to_target(
    crs: Any, grid: tuple[tuple[float, ...], int, int], xs: np.ndarray, ys: np.ndarray, target: Any
) -> tuple[np.ndarray, ...]:
    """Points of a raster across the antimeridian (``grid``: its transform, width and
    height) in ``target``, continuous past its edge as ``unwrapped_grid`` has it: longitudes
    unwrapped round the raster's centre, as its samples are, then PROJ's ``+over``."""
    to_lonlat = Transformer.from_crs(CRS.from_user_input(crs), 4326, always_xy=True)
    lon, lat = (np.asarray(v, float) for v in to_lonlat.transform(xs, ys, errcheck=False))
    samples = lonlat_samples(crs, *grid)
    if samples is not None:
        lon = _unwrap(lon, samples[2])
    tx, ty = _over(target).transform(lon, lat, errcheck=False)
    return np.asarray(tx, float), np.asarray(ty, float)


def _over(target: Any) -> Transformer:
    with warnings.catch_warnings():  # to_proj4 warns that PROJ strings lose details
        warnings.simplefilter("ignore")
        over = CRS.from_proj4(CRS.from_user_input(target).to_proj4() + " +over")
    return Transformer.from_crs(4326, over, always_xy=True)


def crosses_antimeridian(crs: Any, transform: tuple[float, ...], width: int, height: int) -> bool:
    samples = lonlat_samples(crs, transform, width, height)
    return samples is not None and bool((np.abs(samples[0]) > 180.0).any())


def unwrapped_grid(
    crs: Any, transform: tuple[float, ...], width: int, height: int, target: Any
) -> tuple[Affine, int, int] | None:
    """The warped grid in ``target`` of a raster across the antimeridian, running on past the
    target's edge (None when the raster does not cross: GDAL's own suggestion serves). Same
    rule as GDAL's: the source's pixel count along the diagonal, square pixels."""
    samples = lonlat_samples(crs, transform, width, height)
    if samples is None or not (np.abs(samples[0]) > 180.0).any():
        return None
    tx, ty = _over(target).transform(samples[0], samples[1], errcheck=False)
    tx, ty = np.asarray(tx, float), np.asarray(ty, float)
    ok = np.isfinite(tx) & np.isfinite(ty)
    if not ok.any():
        return None
    xmin, xmax, ymin, ymax = tx[ok].min(), tx[ok].max(), ty[ok].min(), ty[ok].max()
    res = math.hypot(xmax - xmin, ymax - ymin) / math.hypot(width, height)
    cols = max(1, math.ceil((xmax - xmin) / res - 1e-6))
    rows = max(1, math.ceil((ymax - ymin) / res - 1e-6))
    return Affine(res, 0.0, float(xmin), 0.0, -res, float(ymax)), cols, rows


def cog_warp_options(
    crs: Any, transform: tuple[float, ...], width: int, height: int, target: Any
) -> dict[str, str]:
    """The COG driver's ``EXTENT`` and ``RES`` for a warp of a raster across the antimeridian
    (empty when it does not cross)."""
    grid = unwrapped_grid(crs, transform, width, height, target)
    if grid is None:
        return {}
    t, cols, rows = grid
    extent = (t.c, t.f + t.e * rows, t.c + t.a * cols, t.f)
    return {"extent": ",".join(repr(float(v)) for v in extent), "res": repr(float(t.a))}


def refuse_web_optimized(
    crs: Any, transform: tuple[float, ...], width: int, height: int, name: str
) -> None:
    """Raise ``CoordinateRangeError`` for ``web_optimized`` of a raster across 180."""
    if crosses_antimeridian(crs, transform, width, height):
        raise CoordinateRangeError(
            "the raster crosses the antimeridian, where the GoogleMapsCompatible tile matrix "
            "ends: web_optimized would make one grid across the whole width of the world. "
            "Leave web_optimized unset (the tiler serves web-mercator tiles from the native "
            "grid) or set target_crs, e.g. EPSG:4326 (published running on past 180)",
            path=name,
        )
