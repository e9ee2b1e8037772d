"""Catalog stage: silver's STAC items upserted into pgstac.

``defs``: the assets ``raster_stac_item`` and ``vector_stac_item`` (their jobs are defined with
the silver stages, in ``geo_platform.defs.raster`` and ``geo_platform.defs.vector``).
"""

import dagster as dg

from geo_platform.defs.catalog.assets import raster_stac_item, vector_stac_item

defs = dg.Definitions(assets=[raster_stac_item, vector_stac_item])
