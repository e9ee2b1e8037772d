"""Jobs of raster collections (the collection sensor targets ``raster_collection_job``)."""

from __future__ import annotations

import dagster as dg

raster_collection_job = dg.define_asset_job(
    "raster_collection_job",
    selection=["raster_collection"],
    description="(Re)publish raster collections: new or changed files, mosaic, STAC items.",
)
