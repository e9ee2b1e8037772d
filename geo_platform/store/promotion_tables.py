"""Copy PostGIS tables between two databases by streaming binary COPY, then swap them in.

``TableCopy`` follows ``store/postgis``'s publishing pattern on the target side, inside the
caller's transaction: take the table's advisory lock (same key as ``postgis.load_layer``, so a
load and a promotion of one table queue), create ``_stg_<table>_<random>`` with the source's
column definitions, stream the rows, build the indexes, ANALYZE; ``swap()`` then drops the live
table and renames the staging one into place. Several tables swapped in one transaction become
visible together at its commit: readers see the old set or the new set.

Rows never pass through Python as rows: ``COPY ... TO STDOUT (FORMAT BINARY)`` on the source
is piped block by block into ``COPY ... FROM STDIN (FORMAT BINARY)`` on the target, with the
blocks gathered into ~1 MiB chunks and sent by psycopg's writer thread through a short queue,
so memory stays bounded whatever the table size (the two servers work at the same time).
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from queue import Queue
from typing import Any, cast

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from geo_platform.lib.errors import ValidationError
from geo_platform.lib.naming import ident_with_suffix
from geo_platform.lib.stac.refs import TableRef
from geo_platform.store.postgis import STAGING_PREFIX, lock_table

CHUNK_BYTES = 1 << 20
QUEUE_CHUNKS = 8
_TYPE_SQL = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .]*(\([A-Za-z0-9_, ]*\))?(\[\])*$")
_INDEX_METHODS = frozenset({"btree", "gist", "brin", "hash", "spgist", "gin"})


@dataclass(frozen=True)
class ColumnDef:
    """One column as the source database defines it (``format_type`` text)."""

    name: str
    type_sql: str
    not_null: bool


@dataclass(frozen=True)
class IndexDef:
    """A plain index (columns only: no expression, no predicate)."""

    columns: tuple[str, ...]
    method: str
    unique: bool
    primary: bool


@dataclass(frozen=True)
class CopyResult:
    """What one table copy moved."""

    source: str
    target: str
    rows: int
    bytes: int
    seconds: float
    skipped_indexes: int


def _qualified(ref: TableRef) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(ref.schema), sql.Identifier(ref.table))


def table_columns(conn: psycopg.Connection[Any], ref: TableRef) -> list[ColumnDef]:
    """The columns of a table in order; ``ValidationError`` if it does not exist."""
    rows = conn.execute(
        """SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')
             AND a.attnum > 0 AND NOT a.attisdropped
           ORDER BY a.attnum""",
        (ref.schema, ref.table),
    ).fetchall()
    if not rows:
        raise ValidationError("table not found in the source database", path=ref.qualified)
    cols = [ColumnDef(r[0], r[1], bool(r[2])) for r in rows]
    for c in cols:
        if not _TYPE_SQL.match(c.type_sql):
            raise ValidationError(
                f"column {c.name!r} has a type promotion cannot copy: {c.type_sql}",
                path=ref.qualified,
            )
    return cols


def table_indexes(conn: psycopg.Connection[Any], ref: TableRef) -> tuple[list[IndexDef], int]:
    """Plain indexes of a table, and how many others (expression/partial) were left out."""
    rows = conn.execute(
        """SELECT i.indisprimary, i.indisunique, am.amname,
                  i.indexprs IS NOT NULL OR i.indpred IS NOT NULL,
                  array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
                        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                        ORDER BY k.ord)
           FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
           WHERE n.nspname = %s AND c.relname = %s
           ORDER BY i.indisprimary DESC, ic.relname""",
        (ref.schema, ref.table),
    ).fetchall()
    out, skipped = [], 0
    for primary, unique, method, complex_, cols in rows:
        if complex_ or method not in _INDEX_METHODS or not cols:
            skipped += 1
            continue
        out.append(IndexDef(tuple(cols), method, bool(unique), bool(primary)))
    return out, skipped


class _BoundedQueuedWriter(QueuedLibpqWriter):
    """psycopg's threaded COPY writer with a short queue: at most a few chunks in memory."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        super().__init__(cursor)
        self._queue = cast(Any, Queue(maxsize=QUEUE_CHUNKS))


def stream_copy(
    src: psycopg.Connection[Any],
    dst: psycopg.Connection[Any],
    copy_out: sql.Composed,
    copy_in: sql.Composed,
    chunk_bytes: int = CHUNK_BYTES,
) -> tuple[int, int]:
    """Pipe a binary ``COPY ... TO STDOUT`` into a ``COPY ... FROM STDIN``: (rows, bytes)."""
    sent = 0
    with src.cursor() as scur, dst.cursor() as dcur:
        with (
            scur.copy(copy_out) as out,
            dcur.copy(copy_in, writer=_BoundedQueuedWriter(dcur)) as inp,
        ):
            buf = bytearray()
            for block in out:
                buf += block
                if len(buf) >= chunk_bytes:
                    inp.write(buf)
                    sent += len(buf)
                    buf = bytearray()
            if buf:
                inp.write(buf)
                sent += len(buf)
        return max(dcur.rowcount, 0), sent


class TableCopy:
    """One source table copied into a staging table on the target (see the module docstring).

    ``copy()`` must run inside a transaction on ``dst``; ``swap()`` in the same transaction.
    """

    def __init__(
        self,
        src: psycopg.Connection[Any],
        dst: psycopg.Connection[Any],
        source: TableRef,
        target: TableRef,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.src, self.dst, self.source, self.target = src, dst, source, target
        self.chunk_bytes = chunk_bytes
        self.staging = TableRef(
            target.schema, f"{STAGING_PREFIX}{target.table[:40]}_{secrets.token_hex(4)}"
        )
        self.indexes: list[IndexDef] = []
        self.result: CopyResult | None = None

    def copy(self) -> CopyResult:
        t0 = time.perf_counter()
        columns = table_columns(self.src, self.source)
        self.indexes, skipped = table_indexes(self.src, self.source)
        lock_table(self.dst, self.target.schema, self.target.table)
        defs = [
            sql.SQL("{} {}{}").format(
                sql.Identifier(c.name),
                sql.SQL(c.type_sql),
                sql.SQL(" NOT NULL" if c.not_null else ""),
            )
            for c in columns
        ]
        self.dst.execute(
            sql.SQL("CREATE TABLE {} ({})").format(
                _qualified(self.staging), sql.SQL(", ").join(defs)
            )
        )
        names = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
        rows, nbytes = stream_copy(
            self.src,
            self.dst,
            sql.SQL("COPY {} ({}) TO STDOUT (FORMAT BINARY)").format(
                _qualified(self.source), names
            ),
            sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                _qualified(self.staging), names
            ),
            self.chunk_bytes,
        )
        self._build_indexes()
        self.dst.execute(sql.SQL("ANALYZE {}").format(_qualified(self.staging)))
        self.result = CopyResult(
            source=self.source.qualified,
            target=self.target.qualified,
            rows=rows,
            bytes=nbytes,
            seconds=time.perf_counter() - t0,
            skipped_indexes=skipped,
        )
        return self.result

    def _index_name(self, idx: IndexDef, n: int) -> str:
        return self.staging.table + ("_pkey" if idx.primary else f"_i{n}")

    def _build_indexes(self) -> None:
        stg = _qualified(self.staging)
        for n, idx in enumerate(self.indexes):
            cols = sql.SQL(", ").join(map(sql.Identifier, idx.columns))
            name = sql.Identifier(self._index_name(idx, n))
            if idx.primary:
                stmt = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})")
                self.dst.execute(stmt.format(stg, name, cols))
                continue
            unique = sql.SQL("UNIQUE " if idx.unique else "")
            self.dst.execute(
                sql.SQL("CREATE {}INDEX {} ON {} USING {} ({})").format(
                    unique, name, stg, sql.SQL(idx.method), cols
                )
            )

    def swap(self, lock_timeout_s: float | None = 300.0) -> None:
        """Replace the live target table by the staging one (caller's transaction)."""
        if lock_timeout_s is not None:
            self.dst.execute(
                sql.SQL("SET LOCAL lock_timeout = {}").format(
                    sql.Literal(f"{int(lock_timeout_s * 1000)}ms")
                )
            )
        self.dst.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_qualified(self.target)))
        self.dst.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                _qualified(self.staging), sql.Identifier(self.target.table)
            )
        )
        for n, idx in enumerate(self.indexes):
            wanted = ident_with_suffix(self.target.table, _index_suffix(idx))
            self._rename_index(self._index_name(idx, n), wanted)

    def _rename_index(self, current: str, wanted: str) -> None:
        taken = self.dst.execute(
            """SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = %s AND c.relname = %s""",
            (self.target.schema, wanted),
        ).fetchone()
        if taken is None:
            self.dst.execute(
                sql.SQL("ALTER INDEX {}.{} RENAME TO {}").format(
                    sql.Identifier(self.target.schema),
                    sql.Identifier(current),
                    sql.Identifier(wanted),
                )
            )


def _index_suffix(idx: IndexDef) -> str:
    """Stable index names after the swap: ``<table>_pkey``, ``<table>_geom_gix`` (as
    ``store/postgis`` names them), ``<table>_<columns>_idx``."""
    if idx.primary:
        return "_pkey"
    cols = "_".join(idx.columns)[:24]
    return f"_{cols}_gix" if idx.method == "gist" else f"_{cols}_idx"


def drop_table(conn: psycopg.Connection[Any], ref: TableRef) -> bool:
    """Drop a table in the caller's transaction (after its advisory lock); False if absent."""
    lock_table(conn, ref.schema, ref.table)
    existed = conn.execute(
        "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s",
        (ref.schema, ref.table),
    ).fetchone()
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_qualified(ref)))
    return existed is not None
