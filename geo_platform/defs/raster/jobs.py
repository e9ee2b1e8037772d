"""Raster jobs: backfill targets for the silver COG stage and its catalog stage."""

import dagster as dg

raster_cog_job = dg.define_asset_job(
    name="raster_cog_job",
    selection=dg.AssetSelection.assets("raster_cog"),
    description="Build and publish the COG tiers of bronze rasters (one partition per file).",
)
raster_catalog_job = dg.define_asset_job(
    name="raster_catalog_job",
    selection=dg.AssetSelection.assets("raster_stac_item"),
    description="Publish the STAC items of silver rasters into pgstac.",
)
