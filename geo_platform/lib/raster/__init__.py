"""Pure raster library: inspect bronze rasters, build silver COG tiers, statistics, thumbnails.

Public entry points are re-exported here; see each module for the behaviour they document.
"""

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
