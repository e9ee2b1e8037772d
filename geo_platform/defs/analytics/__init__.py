"""Analytics: gold H3 aggregates of vector files and the DuckDB catalog of published datasets.

``defs``: the assets ``h3_aggregate`` and ``duckdb_catalog`` and their jobs
``h3_aggregate_job`` and ``duckdb_catalog_job``.
"""

import dagster as dg

from geo_platform.defs.analytics.assets import duckdb_catalog, h3_aggregate
from geo_platform.defs.analytics.jobs import duckdb_catalog_job, h3_aggregate_job

defs = dg.Definitions(
    assets=[h3_aggregate, duckdb_catalog], jobs=[h3_aggregate_job, duckdb_catalog_job]
)
