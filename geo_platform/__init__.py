"""geo_platform: bronze geodata in blob storage -> COGs, PostGIS tables and STAC items in pgstac."""

import warnings

# Backfill policies are marked beta in Dagster 1.13; we rely on them on purpose (batched runs).
warnings.filterwarnings("ignore", message=r".*backfill_policy.* is currently in beta")
