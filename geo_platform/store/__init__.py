"""I/O adapters, no Dagster: everything that touches PostgreSQL/PostGIS/pgstac, the blob store,
DuckDB, queues or webhooks.

``db`` (the one connect), ``pgstac`` and ``catalog`` (STAC in pgstac), ``postgis``,
``copy_stream`` and ``vector_load`` (atomic table loads), ``silver``/``silver_refs``/``bronze``
(files in the containers), ``audit`` and ``promotion_*`` (audit trails, promotion's two sides),
``duplicates``, ``quality``, ``mosaic_search``, ``analytics`` (DuckDB), ``h3_postgis``,
``queue``, ``webhook``, ``secret_config`` and ``blobs/`` (the blob stores). Built on
``geo_platform.lib``; used by ``workflows``, ``defs`` and ``app``.
"""
