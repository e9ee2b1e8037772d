"""Vector jobs: backfill targets for the silver table stage and its catalog stage."""

import dagster as dg

vector_table_job = dg.define_asset_job(
    name="vector_table_job",
    selection=dg.AssetSelection.assets("vector_table"),
    description="Load bronze vector files into PostGIS and GeoParquet (one partition per file).",
)
vector_catalog_job = dg.define_asset_job(
    name="vector_catalog_job",
    selection=dg.AssetSelection.assets("vector_stac_item"),
    description="Publish the STAC items of silver vector tables into pgstac.",
)
