"""Quality facts measured in the database: a raster's CRS and resolution against the other
raster items of its collection in pgstac, and duplicate geometries and attribute completeness
of a published PostGIS table. The records and verdicts are in ``lib/quality/checks.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from geo_platform.lib.quality.checks import Consistency, VectorQuality, collection_grids
from geo_platform.lib.vector.records import LoadedTable
from geo_platform.store import pgstac
from geo_platform.store.postgis import GEOMETRY_COLUMN

_TEXT_TYPES = {"text", "varchar", "character varying", "char", "character", "bpchar"}


def collection_consistency(
    conn: psycopg.Connection[Any],
    collection_id: str,
    *,
    proj_code: str | None,
    resolution: Sequence[float],
    wkt2: str | None = None,
    exclude_item: str | None = None,
) -> Consistency:
    """Compare one raster's CRS and pixel size with the raster items already in pgstac.

    Raster items are those with ``proj:transform`` (vector items have none); ``exclude_item``
    skips the previous version of the item being republished. The new values count too, so a
    collection holding one CRS plus a new, different one reports two.
    """
    pgstac.prepare(conn)
    rows = conn.execute(
        """SELECT content->'properties'->>'proj:code', content->'properties'->>'proj:wkt2',
                  content->'properties'->'proj:transform'
           FROM items WHERE collection = %s AND id IS DISTINCT FROM %s
             AND content->'properties' ? 'proj:transform'""",
        (collection_id, exclude_item),
    ).fetchall()
    others = [(r[0], r[1], r[2]) for r in rows]
    return collection_grids(
        collection_id, others, proj_code=proj_code, resolution=resolution, wkt2=wkt2
    )


def _qualified(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def duplicate_geometries(
    conn: psycopg.Connection[Any], schema: str, table: str, geom: str = GEOMETRY_COLUMN
) -> tuple[int, int]:
    """(rows whose geometry repeats an earlier row's exactly, groups of such rows).

    "Exactly" means byte-identical EWKB (same SRID, vertices and vertex order), compared by
    md5 in one scan; topologically equal shapes with another vertex order are not counted.
    """
    query = sql.SQL(
        """SELECT coalesce(sum(n - 1), 0)::bigint, count(*) FROM (
               SELECT count(*) AS n FROM {t} WHERE {g} IS NOT NULL
               GROUP BY md5(ST_AsEWKB({g})) HAVING count(*) > 1) AS d"""
    ).format(t=_qualified(schema, table), g=sql.Identifier(geom))
    row = conn.execute(query).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def attribute_completeness(
    conn: psycopg.Connection[Any],
    schema: str,
    table: str,
    columns: Sequence[tuple[str, str]],
) -> dict[str, float]:
    """Share of non-null values per column (text columns: blank strings count as missing).

    ``columns`` are (name, PostgreSQL type). One scan for all columns. An empty table is
    complete (1.0): there is nothing missing to report.
    """
    if not columns:
        return {}
    parts = []
    for name, pg_type in columns:
        col = sql.Identifier(name)
        base = pg_type.lower().split("(")[0].strip()
        expr = sql.SQL("NULLIF(btrim({}), '')").format(col) if base in _TEXT_TYPES else col
        parts.append(sql.SQL("count({})").format(expr))
    query = sql.SQL("SELECT count(*), {} FROM {}").format(
        sql.SQL(", ").join(parts), _qualified(schema, table)
    )
    row = conn.execute(query).fetchone()
    assert row is not None
    total = int(row[0])
    return {
        name: (int(n) / total if total else 1.0)
        for (name, _), n in zip(columns, row[1:], strict=True)
    }


def vector_quality(
    conn: psycopg.Connection[Any], table: LoadedTable, skip_columns: Sequence[str] = ("fid",)
) -> VectorQuality:
    """Quality of a published table: the loader's counters plus what PostGIS measures."""
    dups, groups = duplicate_geometries(conn, table.schema, table.table)
    attrs = [
        (c.name, c.pg_type)
        for c in table.columns
        if c.name not in skip_columns and c.name != GEOMETRY_COLUMN
    ]
    return VectorQuality(
        table=f"{table.schema}.{table.table}",
        rows=table.rows_loaded,
        null_geometries=table.dropped_null,
        empty_geometries=table.dropped_empty,
        invalid_dropped=table.invalid_dropped,
        repaired=table.repaired,
        duplicate_geometries=dups,
        duplicate_groups=groups,
        completeness=attribute_completeness(conn, table.schema, table.table, attrs),
    )
