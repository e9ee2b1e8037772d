"""Raster silver stage: COG tiers (or tiles) of each bronze raster.

``defs``: the asset ``raster_cog`` and its backfill targets ``raster_cog_job`` and
``raster_catalog_job`` (the catalog asset itself is in ``geo_platform.defs.catalog``).
"""

import dagster as dg

from geo_platform.defs.raster.assets import raster_cog
from geo_platform.defs.raster.jobs import raster_catalog_job, raster_cog_job

defs = dg.Definitions(assets=[raster_cog], jobs=[raster_cog_job, raster_catalog_job])
