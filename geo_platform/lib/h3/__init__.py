"""H3 hexagons, pure: ``grid`` (cell ids, parents, centres and polygons as Arrow columns),
``cover`` (the cells a polygon covers, with exact shares), ``contrib`` (what each geometry
contributes to its cells) and ``sphere`` (spherical geometry helpers). Loading grids into
PostGIS is ``store.h3_postgis``; aggregation with DuckDB is ``store.analytics``.
"""
