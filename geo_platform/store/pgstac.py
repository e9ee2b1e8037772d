"""pgstac operations on a psycopg connection: collections, items, extents.

pgstac's own SQL API does the work (``upsert_items`` in one call per batch); this module only
batches, serializes and keeps ``search_path`` right (pgstac functions need ``pgstac`` on it).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from geo_platform.lib.stac_ext import SOURCE_BLOB, SOURCE_SHA256
from geo_platform.store.db import advisory_lock

SEARCH_PATH = "SET search_path TO pgstac, public"

# Item properties the platform looks items up by, for every file it publishes (the stale items of
# a source, duplicates of its content). Registered as pgstac queryables with a BTREE index: pgstac
# then indexes every items partition, present and future, on ``property_text(name)``, and the STAC
# API lists them as queryables (CQL2 filters by source work too).
PROVENANCE_QUERYABLES: dict[str, dict[str, Any]] = {
    SOURCE_BLOB: {
        "title": "Bronze source blob",
        "description": "Path of the bronze file this item was made from.",
        "type": "string",
    },
    SOURCE_SHA256: {
        "title": "Bronze source SHA-256",
        "description": "SHA-256 of the bronze file's content (duplicate detection).",
        "type": "string",
    },
}


def prepare(conn: psycopg.Connection) -> None:
    conn.execute(SEARCH_PATH)


def lock_writes(conn: psycopg.Connection) -> None:
    """Serialize pgstac writes database-wide until this transaction ends.

    pgstac creates and alters item partitions inside the writing transaction (a new
    collection, a datetime range that moved, index maintenance). Concurrent writers, even to
    different collections, then fail: 30 of 40 first items into new collections from four
    connections at once died with "relation _items_N does not exist" or a deadlock (pgstac
    0.10; its maintainers advise one writer per partition). Every write helper here takes this
    lock (re-entrant within a transaction); a catalog transaction is a fraction of a second, so
    several workers wait on each other only briefly. Reads never take it.
    """
    prepare(conn)
    advisory_lock(conn, "geo_platform:pgstac-writes")


def property_text(name: str) -> sql.Composed:
    """``to_text(content->'properties'->'<name>')``: the expression pgstac indexes for a
    queryable. The name is a literal (not a parameter) so that the planner can use the index."""
    return sql.SQL("to_text(content->'properties'->{})").format(sql.Literal(name))


def ensure_queryables(conn: psycopg.Connection) -> list[str]:
    """Register the provenance queryables (and so their indexes) where missing; returns the
    names added. A no-op when they are there already (pgstac rebuilds an index on every upsert,
    so nothing is re-registered)."""
    prepare(conn)
    names = list(PROVENANCE_QUERYABLES)
    rows = conn.execute(
        """SELECT name FROM queryables
           WHERE name = ANY(%s) AND collection_ids IS NULL
             AND property_wrapper = 'to_text' AND upper(property_index_type) = 'BTREE'""",
        (names,),
    ).fetchall()
    present = {r[0] for r in rows}
    added = [n for n in names if n not in present]
    for name in added:
        conn.execute(
            "SELECT upsert_queryable(%s, %s::jsonb, 'to_text', 'BTREE')",
            (name, json.dumps(PROVENANCE_QUERYABLES[name])),
        )
    return added


def upsert_collection(conn: psycopg.Connection, collection: dict[str, Any]) -> None:
    """Create or replace a collection (pgstac keeps its items)."""
    lock_writes(conn)
    conn.execute("SELECT upsert_collection(%s::jsonb)", (json.dumps(collection),))


def get_collection(conn: psycopg.Connection, collection_id: str) -> dict[str, Any] | None:
    prepare(conn)
    row = conn.execute("SELECT content FROM collections WHERE id = %s", (collection_id,)).fetchone()
    return row[0] if row else None


def upsert_items(
    conn: psycopg.Connection, items: Iterable[dict[str, Any]], batch_size: int = 500
) -> int:
    """Upsert items in batches (one ``pgstac.upsert_items`` call per batch); returns the count."""
    lock_writes(conn)
    batch: list[dict[str, Any]] = []
    total = 0
    for item in items:
        batch.append(item)
        if len(batch) >= batch_size:
            total += _flush(conn, batch)
            batch = []
    if batch:
        total += _flush(conn, batch)
    return total


def _flush(conn: psycopg.Connection, batch: Sequence[dict[str, Any]]) -> int:
    conn.execute("SELECT upsert_items(%s::jsonb)", (json.dumps(list(batch)),))
    return len(batch)


def get_item(conn: psycopg.Connection, collection_id: str, item_id: str) -> dict[str, Any] | None:
    prepare(conn)
    row = conn.execute("SELECT get_item(%s, %s)", (item_id, collection_id)).fetchone()
    return row[0] if row and row[0] else None


def delete_item(conn: psycopg.Connection, collection_id: str, item_id: str) -> bool:
    """Delete one item; False when it did not exist."""
    lock_writes(conn)
    if get_item(conn, collection_id, item_id) is None:
        return False
    conn.execute("SELECT delete_item(%s, %s)", (item_id, collection_id))
    return True


def delete_collection(conn: psycopg.Connection, collection_id: str) -> None:
    """Delete a collection and its items (and its item partitions)."""
    lock_writes(conn)
    conn.execute("SELECT delete_collection(%s)", (collection_id,))


def item_ids(conn: psycopg.Connection, collection_id: str) -> list[str]:
    prepare(conn)
    rows = conn.execute(
        "SELECT id FROM items WHERE collection = %s ORDER BY id", (collection_id,)
    ).fetchall()
    return [r[0] for r in rows]


def refresh_collection_extent(conn: psycopg.Connection, collection_id: str) -> None:
    """Recompute a collection's spatial and temporal extent from its items.

    Three statements on purpose: ``collection_extent(id, true)`` refreshes partition stats,
    which may ALTER the items partition (after a delete changed its datetime range); any
    statement that itself reads the items table then fails with ObjectInUse ("being used by
    active queries in this session").
    """
    lock_writes(conn)
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM items WHERE collection = %s)", (collection_id,)
    ).fetchone()
    if not row or not row[0]:
        return
    extent = conn.execute("SELECT collection_extent(%s, true)", (collection_id,)).fetchone()
    conn.execute(
        "UPDATE collections SET content = content || jsonb_build_object('extent', %s::jsonb) "
        "WHERE id = %s",
        (json.dumps(extent[0]) if extent else None, collection_id),
    )


RasterGrid = tuple[str | None, str | None, Any]
"""A raster item's ``proj:code``, ``proj:wkt2`` and ``proj:transform``."""

_GRIDS_OF_CONNECTION: weakref.WeakKeyDictionary[
    psycopg.Connection[Any], dict[str, dict[str, RasterGrid]]
] = weakref.WeakKeyDictionary()


def raster_grids(conn: psycopg.Connection[Any], collection_id: str) -> dict[str, RasterGrid]:
    """The grid of every raster item (one with ``proj:transform``) of a collection, by item id.

    Read once per connection and collection: the files of a run share one lookup connection
    (``PgSTACResource.lookup_session``), and none of them reaches pgstac before the run's catalog
    stage, so each file of the run would read the same items again (the whole collection per
    file). A connection of its own reads them afresh."""
    memo = _GRIDS_OF_CONNECTION.setdefault(conn, {})
    if collection_id not in memo:
        prepare(conn)
        # Each item's properties decompressed once (OFFSET 0 keeps the subquery apart).
        rows = conn.execute(
            """SELECT id, p->>'proj:code', p->>'proj:wkt2', p->'proj:transform'
               FROM (SELECT id, content->'properties' AS p FROM items
                     WHERE collection = %s OFFSET 0) AS i
               WHERE p ? 'proj:transform'""",
            (collection_id,),
        ).fetchall()
        memo[collection_id] = {r[0]: (r[1], r[2], r[3]) for r in rows}
    return memo[collection_id]
