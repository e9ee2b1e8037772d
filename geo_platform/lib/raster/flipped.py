"""Grids stored upside down or mirrored, put north-up by reversing their rows or columns.

A geotransform with a positive row step stores the southern row first ("south-up": some NetCDF
and model exports, ENVI files, rasters written by numpy code that forgot a flip); one with a
negative column step stores the eastern column first. GDAL reads either correctly, but the COG
tiers would keep the flipped grid (a pixel size of +300 m on the y axis, which many clients
draw upside down) and the thumbnail, drawn in pixel order, would be upside down or mirrored.

``flipped_copy`` writes the raster with its rows (and/or columns) reversed and the matching
north-up geotransform: every value is kept, none resampled, strip by strip in bounded memory.
Band metadata (nodata, colour table and interpretation, descriptions, scales, offsets, units)
and the per-dataset mask come along; the copy is a tiled, DEFLATE-compressed GeoTIFF.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import MaskFlags
from rasterio.windows import Window

from geo_platform.lib.raster.inspect import RasterInfo
from geo_platform.lib.raster.rectify import Rectified, refuse_too_large

STRIP_ROWS = 512


def flipped_copy(info: RasterInfo, out: Path, max_bytes: int) -> Rectified | None:
    """The north-up copy of the raster ``info`` describes when its grid is flipped (see the
    module docstring), or None when it is north-up already (or rotated: left to the COG
    build)."""
    a, b, c, d, e, f = info.transform
    if b or d or (a > 0 and e < 0) or not a or not e:
        return None
    with rasterio.open(info.gdal_path) as src:
        refuse_too_large(src, info.gdal_path, max_bytes, "flipped", " to turn north-up")
        rows, cols = e > 0, a < 0
        transform = Affine(abs(a), 0, c + a * src.width if cols else c,
                           0, -abs(e), f + e * src.height if rows else f)  # fmt: skip
        profile = {**src.profile, "driver": "GTiff", "transform": transform, "tiled": True,
                   "blockxsize": 512, "blockysize": 512, "compress": "deflate",
                   "bigtiff": "if_safer"}  # fmt: skip
        profile.pop("photometric", None)
        with rasterio.open(out, "w", **profile) as dst:
            _copy_metadata(src, dst)
            _copy_strips(src, dst, rows, cols)
        driver = src.driver
    turned = [what for what, yes in (("rows (stored south to north)", rows),
                                     ("columns (stored east to west)", cols)) if yes]  # fmt: skip
    how = f"turned north-up: its {' and '.join(turned)} reversed, every value unchanged"
    return Rectified(out, how, info.crs_source, driver)


def _copy_metadata(src: rasterio.io.DatasetReader, dst: rasterio.io.DatasetWriter) -> None:
    dst.update_tags(**src.tags())
    dst.colorinterp = src.colorinterp
    for band in range(1, src.count + 1):
        dst.update_tags(band, **src.tags(band))
        if src.descriptions[band - 1]:
            dst.set_band_description(band, src.descriptions[band - 1])
        if src.units[band - 1]:
            dst.set_band_unit(band, src.units[band - 1])
        with contextlib.suppress(ValueError):  # no colour table
            dst.write_colormap(band, src.colormap(band))
    dst.scales, dst.offsets = src.scales, src.offsets


def _copy_strips(
    src: rasterio.io.DatasetReader, dst: rasterio.io.DatasetWriter, rows: bool, cols: bool
) -> None:
    """Row strips read from one end, written (reversed) at the other."""
    mask = MaskFlags.per_dataset in src.mask_flag_enums[0]
    for top in range(0, src.height, STRIP_ROWS):
        height = min(STRIP_ROWS, src.height - top)
        read = Window(0, src.height - top - height if rows else top, src.width, height)
        write = Window(0, top, src.width, height)
        data = src.read(window=read)
        data = data[:, ::-1, :] if rows else data
        dst.write(np.ascontiguousarray(data[:, :, ::-1] if cols else data), window=write)
        if mask:
            valid = src.dataset_mask(window=read)
            valid = valid[::-1, :] if rows else valid
            dst.write_mask(np.ascontiguousarray(valid[:, ::-1] if cols else valid), window=write)
