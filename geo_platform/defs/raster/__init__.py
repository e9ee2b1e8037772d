"""Raster silver stage: COG tiers (or tiles) of each bronze raster.

``defs``: the backfill targets ``raster_cog_job`` and ``raster_catalog_job``. The stage
``raster_cog`` (``assets.py``) is an asset of the raster file pipeline in
``geo_platform.defs.pipeline``.
"""

import dagster as dg

from geo_platform.defs.raster.jobs import raster_catalog_job, raster_cog_job

defs = dg.Definitions(jobs=[raster_cog_job, raster_catalog_job])
