"""Catalog stage: silver's STAC items upserted into pgstac.

The stages ``raster_stac_item`` and ``vector_stac_item`` (``assets.py``) are assets of the file
pipelines in ``geo_platform.defs.pipeline``; their jobs are defined with the silver stages, in
``geo_platform.defs.raster`` and ``geo_platform.defs.vector``. ``defs`` is empty.
"""

import dagster as dg

defs = dg.Definitions()
