"""Raster collections: one partition per collection folder, published as one mosaic.

``defs``: the asset ``raster_collection``, its job ``raster_collection_job`` and the sensor
``raster_collection_sensor``.
"""

import dagster as dg

from geo_platform.defs.collections.assets import raster_collection
from geo_platform.defs.collections.jobs import raster_collection_job
from geo_platform.defs.collections.sensors import raster_collection_sensor

defs = dg.Definitions(
    assets=[raster_collection], jobs=[raster_collection_job], sensors=[raster_collection_sensor]
)
