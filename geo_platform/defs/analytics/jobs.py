"""Analytics jobs: H3 aggregates of vector files (per partition) and the DuckDB catalog."""

import dagster as dg

h3_aggregate_job = dg.define_asset_job(
    name="h3_aggregate_job",
    selection=dg.AssetSelection.assets("h3_aggregate"),
    description="Aggregate published vector files onto H3 cells (run config: resolution).",
)
duckdb_catalog_job = dg.define_asset_job(
    name="duckdb_catalog_job",
    selection=dg.AssetSelection.assets("duckdb_catalog"),
    description="Sync the DuckDB catalog file with the published GeoParquet datasets.",
)
