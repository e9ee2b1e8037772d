"""Reading and cleaning bronze vector files as Arrow batches: pure, no database, no blob store.

Entry points: ``read.open_source`` / ``read.list_layers`` (formats and bad-input checks),
``clean`` and ``geometry`` (names, types, geometry repair), ``plan`` (tables per layer),
``geoparquet`` (the GeoParquet copy) and ``pgcopy`` (binary COPY encoding). Loading into PostGIS
is ``store.vector_load.publish_vector_file`` (one file) over ``store.postgis`` (the atomic
loader); the silver stage is ``workflows.publish_vector``; the STAC item is
``lib.stac.vector_item``.

Documented rules (details in the module named):

- **Empty layers** (``store.vector_load``): skipped with ``EmptyLayerWarning``; a file with
  nothing to publish raises ``EmptyDatasetError``; ``empty_layers="publish"`` writes empty
  tables for layers that declare their geometry type.
- **Mixed geometry types** (``plan``): one table per dimension, suffixed ``__points``,
  ``__lines``, ``__polygons``; collections count by their highest-dimension parts.
- **Geometry cleaning** (``geometry``): null/empty dropped and counted (or kept by option),
  invalid repaired with ``make_valid`` keeping the dimension, unrepairable ones dropped and
  counted, everything promoted to Multi*.
- **Z/M** (``geometry``): M dropped; Z kept when declared, or when an undeclared layer has
  non-zero Z values.
- **CRS** (``reproject``): reprojected to EPSG:4326 and the source CRS recorded; a missing CRS
  fails unless ``assume_crs`` is set.
- **Coordinate range** (``clean``): every layer whose source CRS is geographic in degrees (a
  GeoJSON without a ``crs`` member, CSV lat/lon, an assumed EPSG:4326...) must stay within
  longitude -180..180 / latitude -90..90 (1e-5 degree tolerance for rounding), else
  ``CoordinateRangeError`` with a hint (projected metres, swapped axes). Longitudes in the
  0..360 convention are refused too: they would be stored outside EPSG:4326's range with a
  wrong bbox, and wrapping lines/polygons across 180 silently is not safe.
- **CSV** (``csvsource``): lat/lon column names in several languages, or a WKT column; lat/lon
  are WGS84 by convention and range-checked.
- **Names and types** (``clean``, ``pgcopy``): columns SQL-safe, unique, lowercase (originals
  recorded; reserved words and system column names such as ``xmin`` get a ``_`` suffix,
  repeated names ``_2``...); Arrow types mapped faithfully (date, timestamptz, boolean, bigint,
  numeric, jsonb for nested values; plain strings in a jsonb column are stored as JSON
  strings). More than 1,598 attributes is a ``TooLargeError`` (PostgreSQL's 1,600 columns).
- **Zip members** (``read``): layers of different members that would share a table name are
  named after their member (``pts.gpkg``, ``pts.geojson``).
"""
