"""H3 grids: global grids per resolution and finer grids over a bounding box.

``defs``: the assets ``h3_grid`` and ``h3_bbox_grid`` and their jobs ``h3_grids_job`` and
``h3_bbox_grid_job``.
"""

import dagster as dg

from geo_platform.defs.grids.assets import h3_bbox_grid, h3_grid
from geo_platform.defs.grids.jobs import h3_bbox_grid_job, h3_grids_job

defs = dg.Definitions(assets=[h3_grid, h3_bbox_grid], jobs=[h3_grids_job, h3_bbox_grid_job])
