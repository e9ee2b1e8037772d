"""Grid jobs: (re)build the global H3 grids (one run per resolution) or a bbox grid."""

import dagster as dg

h3_grids_job = dg.define_asset_job(
    name="h3_grids_job",
    selection=dg.AssetSelection.assets("h3_grid"),
    description="Load the global H3 grid of a resolution (partitions 0-4) into PostGIS and pgstac.",
)
h3_bbox_grid_job = dg.define_asset_job(
    name="h3_bbox_grid_job",
    selection=dg.AssetSelection.assets("h3_bbox_grid"),
    description="Load a finer H3 grid over a bounding box (run config: bbox, resolution).",
)
