"""H3 hexagons, pure: ``grid`` (cell ids, parents, centres and polygons as Arrow columns),
``cover`` (the cells a polygon covers, with exact shares), ``contrib`` (what each geometry
contributes to its cells) and ``sphere`` (spherical geometry helpers). Loading grids into
PostGIS is ``store.h3_postgis``; aggregation with DuckDB is ``store.analytics``.

The limits and names below live here, not in ``grid`` or ``store.analytics``, because the
Dagster definitions need them to declare partitions and run config: importing this package
costs nothing, importing ``grid`` loads h3, numpy, pyarrow and shapely.
"""

MAX_GLOBAL_RESOLUTION = 4
"""Global grids stop at resolution 4 (288,122 cells); finer grids need a bounding box."""
MAX_RESOLUTION = 15
DEFAULT_MAX_CELLS = 5_000_000
"""A bounding-box grid of more cells than this is refused (``TooLargeError``)."""
DEFAULT_RESOLUTION = 8
"""Resolution of the aggregate cells when none is asked for (about 0.74 km2 per cell)."""
GRID_SCHEMA = "h3"
"""The PostgreSQL schema the grids are published to (``store.h3_postgis``)."""
