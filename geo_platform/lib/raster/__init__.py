"""Pure raster library: inspect bronze rasters, build silver COG tiers, statistics, thumbnails.

Public entry points are re-exported here; see each module for the behaviour they document.
They are imported on first use (PEP 562): importing a light submodule such as
``lib.raster.collection`` (the bronze sensor does) must not load rasterio and GDAL.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from geo_platform.lib.raster.cog import (
        COG_MEDIA_TYPE,
        CogBuildResult,
        RasterOptions,
        TierOutput,
        build_cog_tiers,
        multihash_sha256,
        validate_cog,
    )
    from geo_platform.lib.raster.inspect import RasterInfo, inspect_raster

_EXPORTS = {
    "COG_MEDIA_TYPE": "cog",
    "CogBuildResult": "cog",
    "RasterInfo": "inspect",
    "RasterOptions": "cog",
    "TierOutput": "cog",
    "build_cog_tiers": "cog",
    "inspect_raster": "inspect",
    "multihash_sha256": "cog",
    "validate_cog": "cog",
}
__all__ = [
    "COG_MEDIA_TYPE",
    "CogBuildResult",
    "RasterInfo",
    "RasterOptions",
    "TierOutput",
    "build_cog_tiers",
    "inspect_raster",
    "multihash_sha256",
    "validate_cog",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
