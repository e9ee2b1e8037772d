"""The mosaic of a dataset in pgstac: a registered mosaic search and the collection's ``mosaic``
asset (the MosaicJSON), so titiler-pgstac renders all tiles of a collection as one picture.

The pure half (the collection with its mosaic asset) is ``lib/stac/tile_item.with_mosaic_asset``.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from geo_platform.lib.stac.collection import dataset_collection
from geo_platform.lib.stac.tile_item import with_mosaic_asset
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.stac_ext import PARENT_ITEM
from geo_platform.store import pgstac


def register_mosaic_search(
    conn: psycopg.Connection[Any],
    collection_id: str,
    name: str | None = None,
    parent_item: str | None = None,
) -> str:
    """Register "all items of ``collection_id``" as a pgstac mosaic search; returns its hash.

    Same call titiler-pgstac's ``/searches/register`` makes (``pgstac.search_query`` with
    metadata ``{"type": "mosaic"}``); idempotent (same search and metadata -> same hash). A
    tiler then renders ``/searches/<hash>/tiles/...``."""
    search: dict[str, Any] = {"collections": [collection_id], "filter-lang": "cql2-json"}
    if parent_item:  # only the tiles of one large raster
        prop = {"property": PARENT_ITEM}
        search["filter"] = {"op": "=", "args": [prop, parent_item]}
    metadata = {"type": "mosaic", "name": name or collection_id}
    with conn.cursor() as cur:
        cur.execute("SET search_path TO pgstac, public")
        cur.execute(
            "SELECT hash FROM pgstac.search_query(%s, _metadata => %s)",
            (Jsonb(search), Jsonb(metadata)),
        )
        row = cur.fetchone()
    if row is None:
        raise RuntimeError(f"pgstac did not register the mosaic search of {collection_id}")
    return str(row[0])


def attach_mosaic(
    conn: psycopg.Connection[Any],
    collection_id: str,
    mosaic_href: str,
    *,
    parent_item: str | None = None,
    kind: str = "raster",
    visual: bool = False,
) -> str:
    """Give ``collection_id`` its ``mosaic`` asset and register its pgstac mosaic search.
    ``visual``: the MosaicJSON of a tiled raster's visualization tiles, as
    ``mosaic-visual-<parent_item>`` (same search: a tiler picks the ``visualization`` asset).

    Creates a minimal dataset collection when missing (pgstac keeps its items and the extent is
    refreshed by the catalog). Validates the collection offline before the upsert; returns the
    search hash. The caller commits."""
    current = pgstac.get_collection(conn, collection_id) or dataset_collection(
        collection_id, f"{kind} data published from bronze", kind
    )
    key = f"mosaic-{parent_item}" if parent_item else "mosaic"
    search_id = register_mosaic_search(conn, collection_id, key, parent_item)
    if visual:
        key = f"mosaic-visual-{parent_item}" if parent_item else "mosaic-visual"
    updated = with_mosaic_asset(current, mosaic_href, search_id, key, visual=visual)
    validate_stac(updated)
    pgstac.upsert_collection(conn, updated)
    return search_id
