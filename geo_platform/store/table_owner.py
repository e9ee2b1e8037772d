"""Which bronze file a published table holds: a ``COMMENT`` on the table, checked before a load.

Table names come from bronze names without their extension (``roads.geojson`` and ``roads.gpkg``
in one folder both make ``<folder>_roads``; ``A.csv`` and ``a.csv`` too). A load stamps its table
with its source blob; a load from another blob finds the stamp and is refused with a
``NameClashError`` naming both files, instead of silently replacing the other file's data.
The check runs under the table's advisory lock (``postgis.lock_table``), so two clashing loads
cannot both pass it. Tables without a stamp (published before stamping) are anyone's.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from geo_platform.lib.errors import NameClashError

PREFIX = "geo_platform source: "


def table_source(conn: psycopg.Connection[Any], schema: str, table: str) -> str | None:
    """The bronze blob a table was published from, or None (no table, or no stamp)."""
    row = conn.execute(
        "SELECT obj_description(to_regclass(format('%%I.%%I', %s::text, %s::text)), 'pg_class')",
        (schema, table),
    ).fetchone()
    text = row[0] if row else None
    return text[len(PREFIX) :] if text and text.startswith(PREFIX) else None


def check_owner(conn: psycopg.Connection[Any], schema: str, table: str, source: str) -> None:
    """Refuse to load ``schema.table`` for ``source`` when it holds another blob's data."""
    owner = table_source(conn, schema, table)
    if owner is not None and owner != source:
        raise NameClashError(
            f"table {schema}.{table} holds the data of bronze file {owner!r}, published under "
            "the same name: rename one of the two files (or unpublish the other one first)",
            path=source,
        )


def stamp_owner(conn: psycopg.Connection[Any], schema: str, table: str, source: str) -> None:
    """Record ``source`` as the blob ``schema.table`` holds (in the caller's transaction)."""
    conn.execute(
        sql.SQL("COMMENT ON TABLE {}.{} IS {}").format(
            sql.Identifier(schema), sql.Identifier(table), sql.Literal(PREFIX + source)
        )
    )
