"""Vector silver stage: PostGIS tables and GeoParquet of each bronze vector file.

``defs``: the asset ``vector_table`` and its backfill targets ``vector_table_job`` and
``vector_catalog_job`` (the catalog asset itself is in ``geo_platform.defs.catalog``).
"""

import dagster as dg

from geo_platform.defs.vector.assets import vector_table
from geo_platform.defs.vector.jobs import vector_catalog_job, vector_table_job

defs = dg.Definitions(assets=[vector_table], jobs=[vector_table_job, vector_catalog_job])
