"""Loading H3 grids into PostGIS: binary COPY into a staging table, indexes, atomic swap.

The grid table has its own fixed shape (two geometry columns, ``h3_int`` as the primary key),
which the generic vector loader (``store.postgis.StagedTable``: ``fid`` key, one ``geom``)
does not express, so this module keeps the same publish protocol with a grid-specific table
and reuses the shared pieces: ``pgcopy.encode_rows`` packs whole Arrow batches into PostgreSQL's
binary COPY format, and ``postgis.lock_table`` / ``ensure_schema``, ``naming.ident_with_suffix``
serialize loads of one table and name its indexes.

One transaction: lock, ``CREATE TABLE _stg_...``, COPY, primary key, unique index on the
string id, GiST index on the polygons, ``ANALYZE``, drop the live table and rename the staging
table into its place. Readers see the old grid until the commit and the new one after it.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql

from geo_platform.lib.h3 import GRID_SCHEMA
from geo_platform.lib.naming import ident_with_suffix, pg_identifier, short_hash
from geo_platform.lib.types import BBox
from geo_platform.lib.vector import pgcopy
from geo_platform.store.postgis import STAGING_PREFIX, ensure_schema, lock_table

GRID_COLUMNS: tuple[tuple[str, str], ...] = (
    ("h3", "text NOT NULL"),
    ("h3_int", "bigint NOT NULL"),
    ("resolution", "smallint NOT NULL"),
    ("parent", "text"),
    ("center", "geometry(Point, 4326) NOT NULL"),
    ("geom", "geometry(MultiPolygon, 4326) NOT NULL"),
)
_COPY_TYPES = ["text", "bigint", "smallint", "text", "geometry", "geometry"]
CHUNK_ROWS = 65_536


@dataclass(frozen=True)
class GridLoadResult:
    """What a grid load published."""

    schema: str
    table: str
    rows: int
    seconds: float


@dataclass(frozen=True)
class GridFacts:
    """Facts PostGIS computes about a published grid (for asset checks and tests)."""

    rows: int
    distinct_cells: int
    invalid: int
    resolutions: list[int]
    wide_parts: int  # polygon parts spanning more than 180 degrees of longitude
    polar_cells: int  # cells touching a pole (the only ones allowed to be wide)
    srid: int | None
    bbox: tuple[float, float, float, float] | None


def grid_table_name(resolution: int, bbox: BBox | None = None) -> str:
    """``cells_res4`` for a global grid, ``cells_res9_bbox_<hash>`` for a bbox grid."""
    if bbox is None:
        return f"cells_res{int(resolution)}"
    key = ",".join(f"{float(v):.6f}" for v in bbox)
    return pg_identifier(f"cells_res{int(resolution)}_bbox_{short_hash(key)}")


def _qualified(schema: str, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def load_grid(
    conn: psycopg.Connection[Any],
    table: pa.Table,
    *,
    schema: str = GRID_SCHEMA,
    name: str,
    description: str = "",
    lock_timeout_s: float | None = 300.0,
) -> GridLoadResult:
    """Replace ``schema.name`` atomically with the grid ``table`` (see ``lib.h3.grid.H3Grid``)."""
    t0 = time.perf_counter()
    ensure_schema(conn, schema)
    staging = f"{STAGING_PREFIX}{name[:40]}_{secrets.token_hex(4)}"
    stg = _qualified(schema, staging)
    with conn.transaction():
        lock_table(conn, schema, name)
        cols = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in GRID_COLUMNS]
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(stg, sql.SQL(", ").join(cols)))
        _copy(conn, stg, table)
        indexes = _index(conn, stg, staging)
        if lock_timeout_s is not None:
            conn.execute(
                sql.SQL("SET LOCAL lock_timeout = {}").format(
                    sql.Literal(f"{int(lock_timeout_s * 1000)}ms")
                )
            )
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_qualified(schema, name)))
        conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(stg, sql.Identifier(name)))
        for current, suffix in indexes:
            _rename_index(conn, schema, current, ident_with_suffix(name, suffix))
        if description:
            conn.execute(
                sql.SQL("COMMENT ON TABLE {} IS {}").format(
                    _qualified(schema, name), sql.Literal(description)
                )
            )
    return GridLoadResult(schema, name, table.num_rows, time.perf_counter() - t0)


def _copy(conn: psycopg.Connection[Any], stg: sql.Composed, table: pa.Table) -> None:
    names = [c for c, _ in GRID_COLUMNS]
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        stg, sql.SQL(", ").join(map(sql.Identifier, names))
    )
    with conn.cursor().copy(stmt) as copy:
        copy.write(pgcopy.SIGNATURE)
        for batch in table.select(names).to_batches(max_chunksize=CHUNK_ROWS):
            copy.write(pgcopy.encode_rows(batch.columns, _COPY_TYPES))
        copy.write(pgcopy.TRAILER)


def _index(conn: psycopg.Connection[Any], stg: sql.Composed, staging: str) -> list[tuple[str, str]]:
    """Primary key, unique string id, GiST on the polygons; returns (name, final suffix)."""
    pkey, uniq, gist = staging + "_pkey", staging + "_h3_key", staging + "_gix"
    conn.execute(
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY (h3_int)").format(
            stg, sql.Identifier(pkey)
        )
    )
    conn.execute(sql.SQL("CREATE UNIQUE INDEX {} ON {} (h3)").format(sql.Identifier(uniq), stg))
    conn.execute(
        sql.SQL("CREATE INDEX {} ON {} USING GIST (geom)").format(sql.Identifier(gist), stg)
    )
    conn.execute(sql.SQL("ANALYZE {}").format(stg))
    return [(pkey, "_pkey"), (uniq, "_h3_key"), (gist, "_geom_gix")]


def _rename_index(conn: psycopg.Connection[Any], schema: str, current: str, wanted: str) -> None:
    taken = conn.execute(
        """SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = %s AND c.relname = %s""",
        (schema, wanted),
    ).fetchone()
    if taken is None:
        conn.execute(
            sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                _qualified(schema, current), sql.Identifier(wanted)
            )
        )


def grid_facts(conn: psycopg.Connection[Any], schema: str, name: str) -> GridFacts:
    """Counts, validity (``ST_IsValid``) and longitude spans, computed by PostGIS."""
    t = _qualified(schema, name)
    row = conn.execute(
        sql.SQL(
            """SELECT count(*), count(DISTINCT h3_int),
                      count(*) FILTER (WHERE NOT ST_IsValid(geom)),
                      coalesce(array_agg(DISTINCT resolution), '{{}}'),
                      count(*) FILTER (WHERE ST_YMax(geom) >= 90 OR ST_YMin(geom) <= -90),
                      max(ST_SRID(geom)), ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)),
                      ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom))
               FROM {}"""
        ).format(t)
    ).fetchone()
    wide = conn.execute(
        sql.SQL(
            """SELECT count(*) FROM {}, LATERAL ST_Dump(geom) d
               WHERE ST_XMax(d.geom) - ST_XMin(d.geom) > 180"""
        ).format(t)
    ).fetchone()
    assert row is not None and wide is not None
    return GridFacts(
        rows=int(row[0]),
        distinct_cells=int(row[1]),
        invalid=int(row[2]),
        resolutions=sorted(int(r) for r in row[3]),
        wide_parts=int(wide[0]),
        polar_cells=int(row[4]),
        srid=None if row[5] is None else int(row[5]),
        bbox=None if row[6] is None else (row[6], row[7], row[8], row[9]),
    )
