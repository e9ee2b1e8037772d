"""Vector silver stage: PostGIS tables and GeoParquet of each bronze vector file.

``defs``: the backfill targets ``vector_table_job`` and ``vector_catalog_job``. The stage
``vector_table`` (``assets.py``) is an asset of the vector file pipeline in
``geo_platform.defs.pipeline``.
"""

import dagster as dg

from geo_platform.defs.vector.jobs import vector_catalog_job, vector_table_job

defs = dg.Definitions(jobs=[vector_table_job, vector_catalog_job])
