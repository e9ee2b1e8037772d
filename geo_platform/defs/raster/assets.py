"""Silver rasters: every bronze raster as Cloud-Optimized GeoTIFF tiers plus its STAC item JSON.

Wiring only: the ``raster_cog`` stage hands each partition to
``workflows.publish_raster.publish_raster`` and records what it returns as materialization
metadata and asset check results. It runs in the raster file pipeline (``defs.pipeline``), after
``bronze_raster`` and before ``raster_stac_item``, file by file (``defs.stages``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg

from geo_platform.defs.common import FOLLOW_UPSTREAM, Outcome
from geo_platform.defs.stages import Stage, StageContext, per_file
from geo_platform.resources.databases import PlatformResource

# The raster workflow (rasterio, rio-cogeo, GDAL) is imported by the functions that run it: every
# run and command loads the code location, few of them publish a raster.
if TYPE_CHECKING:
    from geo_platform.workflows.publish_raster import RasterOutcome, RasterSettings

SILVER_GROUP = "silver"


class RasterRunConfig(dg.Config):
    """Run-time overrides of the per-prefix raster rules (GEO_PLATFORM_RASTER_RULES)."""

    tiers: list[str] | None = None
    target_crs: str | None = None
    web_optimized: bool | None = None
    resampling: str | None = None


def raster_settings(platform: PlatformResource) -> RasterSettings:
    """What ``publish_raster`` needs from the platform's configuration."""
    from geo_platform.lib.raster.tiling import TilingOptions
    from geo_platform.workflows.publish_raster import RasterSettings

    tiling = TilingOptions(
        threshold_pixels=platform.tiling_threshold_pixels, tile_size=platform.tiling_tile_size
    )
    return RasterSettings(
        bronze_container=platform.bronze_container,
        silver_container=platform.silver_container,
        code_version=platform.code_version,
        duplicates=platform.duplicates,
        raster_rules=platform.raster_rules,
        tiling=tiling,
        tiling_work_dir=platform.tiling_work_dir,
    )


def dagster_metadata(values: Mapping[str, Any]) -> dict[str, Any]:
    """A workflow's JSON-able run metadata as Dagster metadata: ``*_href`` values as paths,
    ``preview`` as Markdown (lists and dicts become JSON by themselves)."""
    meta: dict[str, Any] = {}
    for key, value in values.items():
        if key.endswith("_href") and isinstance(value, str):
            meta[key] = dg.MetadataValue.path(value)
        elif key == "preview":
            meta[key] = dg.MetadataValue.md(value)
        else:
            meta[key] = value
    return meta


def raster_outcome(published: RasterOutcome) -> Outcome:
    """A partition's metadata and check verdicts from what the workflow published."""
    return Outcome(dagster_metadata(published.metadata), published.checks)


def _publish(ctx: StageContext, _key: str, blob: str) -> Outcome:
    from geo_platform.workflows.publish_raster import publish_raster

    res = ctx.resources
    published = publish_raster(
        res.blob_store,
        res.pgstac.lookups,
        raster_settings(res.platform),
        blob,
        run_id=ctx.run_id,
        overrides=ctx.config.model_dump(),
        log=ctx.log,
    )
    return raster_outcome(published)


CHECKS = (
    dg.AssetCheckSpec(
        "cog_valid",
        asset="raster_cog",
        blocking=True,
        description="Every published tier passes rio-cogeo's cog_validate.",
    ),
    dg.AssetCheckSpec(
        "stac_item_valid",
        asset="raster_cog",
        blocking=True,
        description="The STAC item validates against the official schemas.",
    ),
    dg.AssetCheckSpec(
        "raster_plausible",
        asset="raster_cog",
        description="Valid pixels present, statistics plausible (not all zero, no NaN in "
        "integer data), CRS and pixel size present.",
    ),
    dg.AssetCheckSpec(
        "collection_consistent",
        asset="raster_cog",
        description="Same CRS and resolution as the other rasters of its collection.",
    ),
)

raster_cog = Stage(
    dg.AssetSpec(
        "raster_cog",
        deps=["bronze_raster"],
        group_name=SILVER_GROUP,
        automation_condition=FOLLOW_UPSTREAM,
        kinds={"cog", "blob"},
        description=(
            "Cloud-Optimized GeoTIFFs made from one bronze raster, in tiers: 'analysis' "
            "(lossless, original data type, nodata and masks kept), 'visualization' (8-bit JPEG "
            "for web maps) and 'archive' (lossless, every tag kept), plus a thumbnail and the "
            "STAC item JSON. Each COG is validated before it is moved into place; a failed file "
            "publishes nothing."
        ),
    ),
    # One connection for every file's catalog lookups.
    per_file(_publish, session=lambda ctx: ctx.resources.pgstac.lookup_session()),
    CHECKS,
    frozenset({"blob_store", "pgstac", "platform"}),
)
