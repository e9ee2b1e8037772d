"""The pure library: no Dagster, no database, no blob store; values, paths and datasets in,
values out, so every piece is tested on its own.

Subpackages: ``raster`` (inspect, COG tiers, tiling, render, multidimensional files), ``vector``
(read, clean, GeoParquet), ``stac`` (item builders and offline validation), ``h3`` (hexagon
grids and contributions) and ``quality`` (checks and charts). At the root: ``errors`` (the one
error hierarchy), ``naming`` (every derived name), ``rules`` (per-prefix options), ``types``,
``stac_ext`` (the ``geo_platform:`` STAC fields), ``links`` (URLs), ``content``, ``inventory``,
``bronze``, ``blob_events`` and ``gdal_paths`` (what a bronze blob is and how GDAL sees it).
I/O over these lives in ``geo_platform.store``.
"""
