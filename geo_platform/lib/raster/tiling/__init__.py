"""Cut a large raster into a regular grid of lossless COG tiles, in parallel, resumably.

Why: one COG of a 40,000 x 40,000 raster is slow to build on one core and awkward to serve and
re-publish; a grid of COGs aligned to the source blocks is built by every CPU at once, and a
MosaicJSON (``lib/raster/mosaic.py``) makes the tiles one dataset again.

- **Grid**: ``tile_size`` pixels, rounded up to a multiple of the source block size and of the
  output block size, so every tile reads whole source blocks and writes whole COG blocks. Edge
  tiles are smaller (never padded): the union of the tiles is exactly the source grid.
- **Ids**: ``<item_id>_r{row:03d}_c{col:03d}``; the same source and options give the same ids and
  windows on every run. Each tile records its source window (lineage).
- **Each tile**: GDAL's COG driver over ``vrt://<source>?srcwin=...`` (a windowed virtual dataset:
  GDAL streams the window block by block, so memory is bounded by the GDAL cache per worker),
  lossless DEFLATE level 1 with predictor (as the analysis tier), overviews with ``nearest`` for
  categorical data and ``cubic`` otherwise, validated with ``validate_cog``, sha256 multihash.
- **Parallelism**: a process pool with one single-threaded GDAL per CPU. One Dagster run does
  the whole grid: no per-tile step start-up (about 1-4 s each), no per-tile event log writes.
- **Resume**: ``tiles.json`` (the manifest) in ``out_dir`` lists finished tiles with their
  window, size and checksum, keyed to the source fingerprint and the options. It is rewritten
  after every finished tile, so a re-run after a failure rebuilds only tiles that are missing,
  changed, or whose file no longer matches its checksum.
- **Reprojection** (``Reprojection``: ``target_crs``, or ``web_optimized`` as EPSG:3857 on the
  GoogleMapsCompatible matrix): the target grid is computed once from the source bounds and a
  warped VRT of the whole raster (``.warped.vrt``, XML only) is written into ``out_dir``; every
  tile is then cut from a window of that VRT, so each worker warps only its window (bounded
  memory). Resampling is ``nearest`` for categorical data, else the configured one. The padding
  around the warped area is nodata (``fill_nodata``, or an alpha band for 8/16-bit unsigned data
  and masked data), tiles outside the warped outline or without any valid pixel are skipped
  (no file, no item), and the manifest records the target grid, so a new CRS rebuilds.

Modules: ``plan`` (options, grid, tile specs), ``reproject`` (target grid and warped VRT),
``manifest`` (resume), ``build`` (``tile_raster`` and the process pool) and ``visual`` (the
8-bit visualization tiles and the thumbnail of the whole raster).
"""

from geo_platform.lib.raster.tiling.build import (
    TilingResult,
    build_tile,
    run_tile_jobs,
    tile_raster,
)
from geo_platform.lib.raster.tiling.manifest import (
    MANIFEST_NAME,
    MANIFEST_VERSION,
    JsonManifest,
    TileManifest,
    tile_intact,
)
from geo_platform.lib.raster.tiling.plan import (
    TILE_FOLDER,
    TileOutput,
    TileSpec,
    TilingError,
    TilingOptions,
    needs_tiling,
    plan_tiles,
    tile_step,
)
from geo_platform.lib.raster.tiling.reproject import (
    WARPED_VRT,
    WEB_MERCATOR_HALF,
    Reprojection,
    TargetGrid,
    target_grid,
    write_warped_vrt,
)

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "TILE_FOLDER",
    "WARPED_VRT",
    "WEB_MERCATOR_HALF",
    "JsonManifest",
    "Reprojection",
    "TargetGrid",
    "TileManifest",
    "TileOutput",
    "TileSpec",
    "TilingError",
    "TilingOptions",
    "TilingResult",
    "build_tile",
    "needs_tiling",
    "plan_tiles",
    "run_tile_jobs",
    "target_grid",
    "tile_intact",
    "tile_raster",
    "tile_step",
    "write_warped_vrt",
]
