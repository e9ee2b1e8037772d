"""Atomic PostGIS table loads with binary COPY, and the checks the assets run on tables.

How a load publishes (``load_layer`` / ``StagedTable``), all in ONE transaction:

1. ``pg_advisory_xact_lock`` on a hash of ``schema.table``: two loads of the same table queue
   instead of racing; loads of different tables never wait on each other (no shared locks, so
   no deadlocks).
2. ``CREATE TABLE _stg_<table>_<random>`` and binary ``COPY`` of Arrow batches in bounded
   chunks (``pgcopy``: packed with numpy/Arrow, no per-row Python).
3. Primary key, GiST index and ``ANALYZE`` on the staging table (nobody can see it yet).
4. ``DROP TABLE`` the live table and ``RENAME`` the staging table into its place; commit.

Readers see the old table until the commit and the new one after it, never a half-loaded one.
The staging table exists only inside the transaction, so a failure, a rollback or a killed
process leaves the previous table untouched and nothing behind. Identifiers always go through
``sql.Identifier``; type names are checked against a whitelist before they reach SQL.

Not carried over by a swap: views depending on the old table (the DROP fails, on purpose, rather
than dropping them with CASCADE) and grants on it (use ``ALTER DEFAULT PRIVILEGES`` on the
schema). The staging table is a regular (logged) table: ``UNLOGGED`` + ``SET LOGGED`` measured
slower, since ``SET LOGGED`` rewrites the table into the WAL.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
from psycopg import sql

from geo_platform.lib.naming import ident_with_suffix
from geo_platform.lib.vector import pgcopy
from geo_platform.store import table_owner
from geo_platform.store.copy_stream import CopyStream
from geo_platform.store.db import advisory_lock

GEOMETRY_COLUMN = "geom"
ID_COLUMN = "fid"
STAGING_PREFIX = "_stg_"
DEFAULT_CHUNK_ROWS = 65_536
_GEOMETRY_TYPE = re.compile(
    r"^(Geometry|GeometryCollection|(Multi)?(Point|LineString|Polygon))(Z|M|ZM)?$"
)
_PG_TYPES = frozenset(
    {
        "boolean", "smallint", "integer", "bigint", "real", "double precision", "numeric",
        "text", "jsonb", "bytea", "date", "timestamp", "timestamptz", "time", "interval",
        pgcopy.LONLAT_GEOMETRY,  # a GeoParquet's secondary geometry columns
    }
)  # fmt: skip


@dataclass(frozen=True)
class ColumnSpec:
    """One attribute column: SQL-safe name and PostgreSQL type."""

    name: str
    pg_type: str


@dataclass(frozen=True)
class LoadResult:
    """What a load published."""

    schema: str
    table: str
    rows: int
    geometry_type: str
    srid: int
    columns: tuple[ColumnSpec, ...]
    seconds: float


def lock_table(conn: psycopg.Connection[Any], schema: str, table: str) -> None:
    """Serialize every change of ``schema.table`` (load, swap, drop, promotion) until the
    transaction ends: the one lock key all writers of a published table take."""
    advisory_lock(conn, f"geo_platform:table:{schema}.{table}")


INDEX_BUILD_MEMORY = "256MB"


def index_build_memory(conn: psycopg.Connection[Any]) -> None:
    """Raise ``maintenance_work_mem`` to ``INDEX_BUILD_MEMORY`` for the current transaction,
    never lower it (a server tuned higher keeps its own). PostgreSQL's 64 MB default makes
    the sorted GiST build of a million geometries spill its sort to disk: about 8% slower.
    The memory is taken only as the sort needs it, and given back at the end of the build."""
    conn.execute(
        """SELECT set_config('maintenance_work_mem', %(mem)s, true)
           WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes(%(mem)s)""",
        {"mem": INDEX_BUILD_MEMORY},
    )


def ensure_schema(conn: psycopg.Connection[Any], schema: str) -> None:
    """Create the schema if missing (safe when many loads start at once)."""
    with conn.transaction():
        advisory_lock(conn, f"geo_platform:schema:{schema}")
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def drop_table(conn: psycopg.Connection[Any], schema: str, table: str) -> bool:
    """Drop a published table; False if it did not exist."""
    with conn.transaction():
        lock_table(conn, schema, table)
        existed = table_exists(conn, schema, table)
        conn.execute(
            sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
        )
    return existed


def table_exists(conn: psycopg.Connection[Any], schema: str, table: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s", (schema, table)
    ).fetchone()
    return row is not None


def staging_tables(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    """Staging tables visible in a schema (always empty outside a running load)."""
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s AND starts_with(tablename, %s)",
        (schema, STAGING_PREFIX),
    ).fetchall()
    return [r[0] for r in rows]


class StagedTable:
    """One table being loaded inside the caller's transaction (see the module docstring).

    ``begin()`` takes the table's advisory lock and creates the staging table, ``write()``
    COPYs batches (WKB geometry in ``geometry_column``; other columns as in ``columns``),
    ``prepare()`` indexes and analyzes, ``swap()`` puts it in place (``finish()`` = both).
    Several staged tables may be open on one connection at once (``pause()`` ends a COPY).
    """

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        *,
        schema: str,
        table: str,
        columns: Sequence[ColumnSpec],
        geometry_type: str = "Geometry",
        srid: int = 4326,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        spatial_index: bool = True,
        source: str | None = None,
    ) -> None:
        if not _GEOMETRY_TYPE.match(geometry_type):
            raise ValueError(f"unsupported geometry type {geometry_type!r}")
        for c in columns:
            if c.pg_type not in _PG_TYPES:
                raise ValueError(f"unsupported column type {c.pg_type!r} for {c.name!r}")
            if c.name in (GEOMETRY_COLUMN, ID_COLUMN):
                raise ValueError(f"column name {c.name!r} is reserved")
        self.conn, self.schema, self.table = conn, schema, table
        self.columns = tuple(columns)
        self.geometry_type, self.srid, self.chunk_rows = geometry_type, int(srid), chunk_rows
        self.staging = f"{STAGING_PREFIX}{table[:40]}_{secrets.token_hex(4)}"
        self.rows = 0
        self._copy: CopyStream | None = None
        self._prepared = False
        self.spatial_index = spatial_index
        self.source = source  # the bronze blob: the table is stamped with it (``table_owner``)
        self._t0 = time.perf_counter()
        self._pg_types = ["bigint", *(c.pg_type for c in columns), f"geometry({geometry_type})"]

    def _qualified(self, name: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(name))

    def begin(self) -> StagedTable:
        lock_table(self.conn, self.schema, self.table)
        if self.source is not None:
            table_owner.check_owner(self.conn, self.schema, self.table, self.source)
        cols = [sql.SQL("{} bigint NOT NULL").format(sql.Identifier(ID_COLUMN))]
        cols += [
            sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.pg_type))
            for c in self.columns
        ]
        cols.append(
            sql.SQL("{} geometry({}, {})").format(
                sql.Identifier(GEOMETRY_COLUMN),
                sql.SQL(self.geometry_type),
                sql.Literal(self.srid),
            )
        )
        self.conn.execute(
            sql.SQL("CREATE TABLE {} ({})").format(
                self._qualified(self.staging), sql.SQL(", ").join(cols)
            )
        )
        return self

    def write(self, data: pa.RecordBatch | pa.Table) -> None:
        """COPY rows: attribute columns by name (from ``columns``) and the WKB geometry.

        The COPY statement stays open between calls (the server parses while the caller
        prepares the next batch, a worker thread sends); ``pause()`` ends it when another
        statement must run on the connection.
        """
        for start in range(0, data.num_rows, self.chunk_rows):
            chunk = data.slice(start, self.chunk_rows)
            n = chunk.num_rows
            if n == 0:
                continue
            fid = pa.array(np.arange(self.rows + 1, self.rows + n + 1, dtype=np.int64))
            arrays = [fid, *(_column(chunk, c.name) for c in self.columns)]
            arrays.append(_column(chunk, GEOMETRY_COLUMN))
            payload = pgcopy.encode_rows(arrays, self._pg_types, srid=self.srid)
            self._stream().write(payload)
            self.rows += n

    def _stream(self) -> CopyStream:
        if self._copy is None:
            names = [ID_COLUMN, *(c.name for c in self.columns), GEOMETRY_COLUMN]
            stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                self._qualified(self.staging), sql.SQL(", ").join(map(sql.Identifier, names))
            )
            self._copy = CopyStream(self.conn, stmt, self.table)
        return self._copy

    def pause(self) -> None:
        """End the running COPY (if any); the next ``write`` starts a new one."""
        if self._copy is not None:
            copy, self._copy = self._copy, None
            copy.close()

    def discard(self) -> None:
        """Drop the staging table, the transaction going on (a table with nothing to publish)."""
        self.pause()
        self.conn.execute(sql.SQL("DROP TABLE {}").format(self._qualified(self.staging)))

    def abort(self, exc: BaseException) -> None:
        """Fail the running COPY after an error (the transaction then rolls back)."""
        if self._copy is not None:
            copy, self._copy = self._copy, None
            copy.close(exc)

    def prepare(self) -> None:
        """End the COPY; primary key, GiST index and ANALYZE on the (invisible) staging table.
        With ``spatial_index=False`` only the primary key: the caller runs
        ``create_spatial_index`` after the commit (in parallel with other work)."""
        self.pause()
        stg = self._qualified(self.staging)
        self.conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
                stg, sql.Identifier(self.staging + "_pkey"), sql.Identifier(ID_COLUMN)
            )
        )
        if self.spatial_index:
            index_build_memory(self.conn)
            self.conn.execute(
                sql.SQL("CREATE INDEX {} ON {} USING GIST ({})").format(
                    sql.Identifier(self.staging + "_gix"), stg, sql.Identifier(GEOMETRY_COLUMN)
                )
            )
            self.conn.execute(sql.SQL("ANALYZE {}").format(stg))
        self._prepared = True

    def swap(self, *, lock_timeout_s: float | None = 300.0) -> LoadResult:
        """Drop the live table and rename the staging table into its place.

        Takes the live table's ACCESS EXCLUSIVE lock until the caller's commit, so it is the
        last step: readers wait only for the rename and the commit, not for the load.
        """
        if not self._prepared:
            self.prepare()
        if lock_timeout_s is not None:
            self.conn.execute(
                sql.SQL("SET LOCAL lock_timeout = {}").format(
                    sql.Literal(f"{int(lock_timeout_s * 1000)}ms")
                )
            )
        self.conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._qualified(self.table)))
        self.conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                self._qualified(self.staging), sql.Identifier(self.table)
            )
        )
        self._rename_index(self.staging + "_pkey", ident_with_suffix(self.table, "_pkey"))
        if self.spatial_index:
            self._rename_index(self.staging + "_gix", ident_with_suffix(self.table, "_geom_gix"))
        if self.source is not None:
            table_owner.stamp_owner(self.conn, self.schema, self.table, self.source)
        return LoadResult(
            schema=self.schema,
            table=self.table,
            rows=self.rows,
            geometry_type=self.geometry_type,
            srid=self.srid,
            columns=self.columns,
            seconds=time.perf_counter() - self._t0,
        )

    def finish(self, *, lock_timeout_s: float | None = 300.0) -> LoadResult:
        """``prepare`` then ``swap`` (same transaction)."""
        self.prepare()
        return self.swap(lock_timeout_s=lock_timeout_s)

    def _rename_index(self, current: str, wanted: str) -> None:
        """Give indexes stable names, unless some other relation already holds the name."""
        taken = self.conn.execute(
            """SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = %s AND c.relname = %s""",
            (self.schema, wanted),
        ).fetchone()
        if taken is None:
            self.conn.execute(
                sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                    self._qualified(current), sql.Identifier(wanted)
                )
            )


def _column(data: pa.RecordBatch | pa.Table, name: str) -> pa.Array:
    col = data.column(name)
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _batches(data: pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch]) -> Iterable[Any]:
    if isinstance(data, pa.Table):
        return data.to_batches()
    if isinstance(data, pa.RecordBatch):
        return [data]
    return data


def columns_for(schema: pa.Schema) -> list[ColumnSpec]:
    """Column specs for every non-geometry field of an Arrow schema (names used as given)."""
    return [
        ColumnSpec(f.name, pgcopy.pg_type_for(f.type))
        for f in schema
        if f.name not in (GEOMETRY_COLUMN, ID_COLUMN)
    ]


def load_layer(
    conn: psycopg.Connection[Any],
    data: pa.Table | pa.RecordBatch | pa.RecordBatchReader | Iterable[pa.RecordBatch],
    *,
    schema: str,
    table: str,
    columns: Sequence[ColumnSpec] | None = None,
    geometry_type: str = "Geometry",
    srid: int = 4326,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    lock_timeout_s: float | None = 300.0,
) -> LoadResult:
    """Replace ``schema.table`` atomically with ``data`` (Arrow, WKB geometry in ``geom``).

    ``columns`` defaults to every non-geometry column of the data with its mapped type. Runs in
    its own transaction, or as a savepoint when the caller already has one open (then the swap
    becomes visible at the caller's commit).
    """
    if columns is None:
        arrow_schema = getattr(data, "schema", None)
        if arrow_schema is None:
            raise ValueError("columns are required for a plain iterable of batches")
        columns = columns_for(arrow_schema)
    with conn.transaction():
        staged = StagedTable(
            conn,
            schema=schema,
            table=table,
            columns=columns,
            geometry_type=geometry_type,
            srid=srid,
            chunk_rows=chunk_rows,
        ).begin()
        try:
            for batch in _batches(data):
                staged.write(batch)
        except BaseException as exc:
            staged.abort(exc)
            raise
        return staged.finish(lock_timeout_s=lock_timeout_s)
