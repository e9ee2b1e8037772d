"""The mosaic of a dataset in pgstac: a registered mosaic search and the collection's ``mosaic``
asset (the MosaicJSON), so titiler-pgstac renders all tiles of a collection as one picture.

Every search registered here draws raster items only (``lib/stac/raster_mosaic``), so a folder
holding rasters and vectors still mosaics. ``register_raster_mosaic`` gives every collection
with rasters its mosaic search (``geo_platform:mosaic_searches.raster``) and render-extension
``renders``; the search carries the renders as its titiler-pgstac defaults, so
``/searches/{id}/info`` lists a TileJSON per render name.

The pure halves: ``lib/stac/tile_item.with_mosaic_asset`` (the collection with its mosaic
asset) and ``lib/stac/render.with_collection_renders``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from geo_platform.lib.stac.collection import dataset_collection
from geo_platform.lib.stac.raster_mosaic import MOSAIC_KEY, mosaic_search
from geo_platform.lib.stac.render import RENDERS_PROPERTY, with_collection_renders
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.stac_ext import MOSAIC_SEARCHES
from geo_platform.store import pgstac


def _defaults(renders: Mapping[str, Any]) -> dict[str, Any]:
    """Renders as titiler-pgstac search defaults (what its ``/info`` turns into TileJSON
    links): the render parameters without the ``title``, which is no tile parameter."""
    return {name: {k: v for k, v in r.items() if k != "title"} for name, r in renders.items()}


def register_mosaic_search(
    conn: psycopg.Connection[Any],
    collection_id: str,
    name: str | None = None,
    parent_item: str | None = None,
    renders: Mapping[str, Any] | None = None,
) -> str:
    """Register "the raster items of ``collection_id``" (or the tiles of ``parent_item``) as a
    pgstac mosaic search; returns its hash.

    Same call titiler-pgstac's ``/searches/register`` makes (``pgstac.search_query`` with
    metadata ``{"type": "mosaic"}``, ``renders`` as its ``defaults``); idempotent (same search
    and metadata -> same hash). A tiler then renders ``/searches/<hash>/tiles/...``."""
    search = mosaic_search(collection_id, parent_item)
    metadata: dict[str, Any] = {"type": "mosaic", "name": name or collection_id}
    if renders:
        metadata["defaults"] = _defaults(renders)
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
    pgstac.lock_writes(conn)  # read, modified, written back: no other writer in between
    current = pgstac.get_collection(conn, collection_id) or dataset_collection(
        collection_id, f"{kind} data published from bronze", kind
    )
    key = f"mosaic-{parent_item}" if parent_item else "mosaic"
    search_id = register_mosaic_search(conn, collection_id, key, parent_item)
    if visual:
        key = f"mosaic-visual-{parent_item}" if parent_item else "mosaic-visual"
    # Imported here: it pulls the raster stack (COG, thumbnails, MosaicJSON models), which a
    # vector file's catalog step never needs.
    from geo_platform.lib.stac.tile_item import with_mosaic_asset

    updated = with_mosaic_asset(current, mosaic_href, search_id, key, visual=visual)
    validate_stac(updated)
    pgstac.upsert_collection(conn, updated)
    return search_id


def detach_mosaics(conn: psycopg.Connection[Any], collection_id: str, parent_item: str) -> bool:
    """Take the MosaicJSON assets of a tiled raster (``mosaic-<item>``, ``mosaic-visual-<item>``)
    and their searches off ``collection_id``: the raster was republished without tiles, and a
    search of its tiles finds nothing. True when the collection changed; the caller commits."""
    pgstac.lock_writes(conn)
    current = pgstac.get_collection(conn, collection_id)
    if current is None:
        return False
    keys = {f"mosaic-{parent_item}", f"mosaic-visual-{parent_item}"}
    assets = current.get("assets") or {}
    searches = current.get(MOSAIC_SEARCHES) or {}
    if not keys & (set(assets) | set(searches)):
        return False
    updated = {**current, "assets": {k: v for k, v in assets.items() if k not in keys}}
    updated[MOSAIC_SEARCHES] = {k: v for k, v in searches.items() if k not in keys}
    for key in ("assets", MOSAIC_SEARCHES):
        if not updated[key]:
            del updated[key]
    validate_stac(updated)
    pgstac.upsert_collection(conn, updated)
    return True


def register_raster_mosaic(
    conn: psycopg.Connection[Any], collection_id: str, items: Sequence[Mapping[str, Any]]
) -> str:
    """The collection's raster mosaic after ``items`` (raster items just published in it):
    its ``renders`` merged with theirs (render extension), its mosaic search registered with
    those renders, the search id under ``geo_platform:mosaic_searches.raster``. Validates the
    collection offline before the upsert; returns the search hash. The caller commits.

    Concurrent batches take turns (``pgstac.lock_writes`` before the collection is read), so
    no batch's renders are lost."""
    pgstac.lock_writes(conn)
    current = pgstac.get_collection(conn, collection_id) or dataset_collection(
        collection_id, "raster data published from bronze", "raster"
    )
    updated = with_collection_renders(current, items)
    name = f"raster mosaic of {collection_id}"
    search_id = register_mosaic_search(
        conn, collection_id, name, renders=updated.get(RENDERS_PROPERTY)
    )
    updated.setdefault(MOSAIC_SEARCHES, {})[MOSAIC_KEY] = search_id
    if updated != current:
        validate_stac(updated)
        pgstac.upsert_collection(conn, updated)
    return search_id


def copy_mosaic_searches(
    src: psycopg.Connection[Any], dst: psycopg.Connection[Any], collection: Mapping[str, Any]
) -> list[str]:
    """Register on ``dst`` the mosaic searches ``collection`` names (its
    ``geo_platform:mosaic_searches``), as they are registered on ``src``: a promoted
    collection's search ids then answer on production too (same search and metadata, same
    hash). Returns the ids registered; the caller commits ``dst``."""
    wanted = sorted(set((collection.get(MOSAIC_SEARCHES) or {}).values()))
    if not wanted:
        return []
    rows = src.execute(
        "SELECT search, metadata FROM pgstac.searches WHERE hash = ANY(%s)", (wanted,)
    ).fetchall()
    done = []
    with dst.cursor() as cur:
        cur.execute("SET search_path TO pgstac, public")
        for search, metadata in rows:
            cur.execute(
                "SELECT hash FROM pgstac.search_query(%s, _metadata => %s)",
                (Jsonb(search), Jsonb(metadata)),
            )
            row = cur.fetchone()
            if row is not None:
                done.append(str(row[0]))
    return sorted(done)
