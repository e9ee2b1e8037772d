"""Which items a raster mosaic draws: raster items only, however a collection is filled.

``ingest --prefix`` puts every file of a folder into one collection, rasters and vectors alike
(the collection is the folder). A mosaic over "every item of the collection" then meets the
vector items too: pgstac hands them out newest first, and where a vector item covers the tile
titiler-pgstac stops there (204, no content) or fails on its assets (404 "'visualization' is
not valid, should be one of ['postgis', 'geoparquet']").

Every raster item the platform publishes (a single raster, a tile of a large raster, a member
of a raster collection) has ``proj:shape`` among its properties (its pixel grid, projection
extension); no vector or H3 item has one. So a raster mosaic is the search "items of the
collection whose ``proj:shape`` is not null": ``RASTER_ONLY`` (CQL2 JSON) for the searches the
platform registers, ``RASTER_ONLY_TEXT`` for a ``filter=`` on titiler-pgstac's
``/collections/{id}/...`` endpoints. Collections are not split by kind: the folder stays the
collection, and nothing about naming, unpublishing or promotion changes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from geo_platform.lib.stac_ext import PARENT_ITEM

RASTER_PROPERTY = "proj:shape"
RASTER_ONLY: dict[str, Any] = {
    "op": "not",
    "args": [{"op": "isNull", "args": [{"property": RASTER_PROPERTY}]}],
}
RASTER_ONLY_TEXT = f"{RASTER_PROPERTY} IS NOT NULL"
MOSAIC_KEY = "raster"
"""Key of a collection's raster mosaic in ``geo_platform:mosaic_searches``."""


def mosaic_search(collection_id: str, parent_item: str | None = None) -> dict[str, Any]:
    """The pgstac search (CQL2 JSON) of the raster items of ``collection_id``, or of the
    tiles of one large raster (``parent_item``)."""
    condition: dict[str, Any] = RASTER_ONLY
    if parent_item:
        by_parent = {"op": "=", "args": [{"property": PARENT_ITEM}, parent_item]}
        condition = {"op": "and", "args": [RASTER_ONLY, by_parent]}
    return {"collections": [collection_id], "filter-lang": "cql2-json", "filter": condition}


def collection_mosaic_query(**params: str) -> str:
    """Query string for titiler-pgstac's ``/collections/{id}/tiles/...`` (and tilejson, map)
    that keeps the mosaic to raster items; ``params`` are added (``assets=...``)."""
    return urlencode({**params, "filter": RASTER_ONLY_TEXT, "filter-lang": "cql2-text"})
