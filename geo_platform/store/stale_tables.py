"""Tables of layers a file no longer has: dropped with their items, in the catalog's transaction.

A file republished without one of its layers (a GeoPackage that lost a layer; two layers, now
one, whose table takes the file's own name) no longer produces that layer's item, and the
catalog removes the item (``store.catalog.publish_sources``). Its table goes in the same
transaction: no live item ever names a dropped table, and no table stays behind that nothing
describes. A table is dropped only when

- a removed item named it (its ``geo_platform:table`` property),
- it holds the same bronze file's data (its owner stamp, ``store.table_owner``), and
- no item left in the catalog names it (a duplicate's pointer item, for one).

A table the catalog's role may not drop (owned by another role) stays, as before.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from geo_platform.lib.stac_ext import TABLE
from geo_platform.store import pgstac
from geo_platform.store.postgis import lock_table
from geo_platform.store.table_owner import table_source


def named_table(item: dict[str, Any] | None) -> str | None:
    """The ``schema.table`` an item describes, or None (a raster, an item without one)."""
    table = (item or {}).get("properties", {}).get(TABLE)
    return table if isinstance(table, str) and table.count(".") == 1 else None


def drop_stale_tables(conn: psycopg.Connection[Any], tables: dict[str, str]) -> list[str]:
    """Drop each ``schema.table`` of ``tables`` (-> the bronze file whose removed item named
    it) that holds that file's data and that no item in the catalog still names, in the
    caller's transaction. Returns the tables dropped."""
    dropped = []
    for qualified, source in sorted(tables.items()):
        schema, table = qualified.split(".")
        lock_table(conn, schema, table)
        if table_source(conn, schema, table) != source or _still_named(conn, qualified):
            continue
        try:
            with conn.transaction():  # a savepoint: a table this role may not drop stays
                conn.execute(
                    sql.SQL("DROP TABLE {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    )
                )
        except psycopg.errors.InsufficientPrivilege:
            continue
        dropped.append(qualified)
    return dropped


def _still_named(conn: psycopg.Connection[Any], qualified: str) -> bool:
    pgstac.prepare(conn)
    row = conn.execute(
        "SELECT 1 FROM items WHERE content -> 'properties' ->> %s = %s LIMIT 1",
        (TABLE, qualified),
    ).fetchone()
    return row is not None
