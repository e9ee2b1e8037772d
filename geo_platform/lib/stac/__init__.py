"""STAC, pure: item and collection builders (``raster_item``, ``vector_item``, ``tile_item``,
``h3_item``, ``collection``), extensions (``datacube``, ``render``, ``alternates``), what an item
points at (``refs``), mosaics (``raster_mosaic``), completeness scores and offline validation
against the vendored schemas (``validate``, ``schemas/``). Reading and writing pgstac is
``store.pgstac`` and ``store.catalog``.
"""
