"""A small PNG preview read from the picture VRT's overviews (never from full resolution)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from PIL import Image

THUMBNAIL_SIZE = 256
"""Longest side of the thumbnail in pixels."""


def write_thumbnail(render_vrt: Path, out_path: Path, max_side: int = THUMBNAIL_SIZE) -> Path:
    """Write a PNG (grey or RGB, with transparency where the raster has no data)."""
    with rasterio.open(render_vrt) as ds:
        scale = max(ds.width / max_side, ds.height / max_side, 1.0)
        shape = (max(1, round(ds.height / scale)), max(1, round(ds.width / scale)))
        data = ds.read(out_shape=(ds.count, *shape))
        alpha = ds.dataset_mask(out_shape=shape)
    pixels = np.moveaxis(data, 0, -1)
    if ds.count == 1:
        image = Image.fromarray(np.dstack([pixels[..., 0], alpha]))
    else:
        image = Image.fromarray(np.dstack([pixels[..., :3], alpha]))
    image.save(out_path, format="PNG", compress_level=3)
    return out_path
