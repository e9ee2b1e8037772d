"""What one output table of a vector load accumulates while its layer streams, and the GiST
index a deferred load builds after its swap (``publish_vector_file(defer_index=True)``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from geo_platform.lib.vector.clean import CleanPart, KindStats, LayerCleaner
from geo_platform.lib.vector.extent import Extent
from geo_platform.lib.vector.geoparquet import GeoParquetWriter
from geo_platform.lib.vector.plan import LayerPlan
from geo_platform.lib.vector.records import ColumnInfo, LoadedTable
from geo_platform.lib.vector.source import LayerSource
from geo_platform.store.postgis import (
    GEOMETRY_COLUMN,
    StagedTable,
    ident_with_suffix,
    index_build_memory,
    lock_table,
    table_exists,
)
from geo_platform.store.threads import InOrder

SRID = 4326


@dataclass
class TableOutput:
    """Everything one output table accumulates while its layer streams."""

    kind: str
    table: str
    base: str
    staged: StagedTable
    writer: GeoParquetWriter | None
    final_path: Path | None
    extent: Extent
    _extent_jobs: InOrder = field(default_factory=lambda: InOrder("extent"))

    def add(self, part: CleanPart, exclusive: bool, end_row_group: bool = True) -> None:
        """Write a part; ``exclusive`` keeps the COPY open (no other table on the connection);
        ``end_row_group=False``: its GeoParquet rows join the next row group (see
        ``end_row_group``). The extent accumulates in a thread of its own (numpy releases the
        GIL), beside the COPY encoding of the next batch."""
        rows = part.bounds if part.extent_rows is None else part.extent_rows
        self._extent_jobs.submit(self.extent.add, rows)
        self.staged.write(part.batch)
        if not exclusive:
            self.staged.pause()
        if self.writer is not None:
            self.writer.write(part.batch, part.batch.column("geom"), part.bounds, end_row_group)

    def end_row_group(self) -> None:
        """End the GeoParquet row group being gathered (no-op without GeoParquet)."""
        if self.writer is not None:
            self.writer.end_row_group()

    def settled_extent(self) -> Extent:
        """The extent once every submitted batch is in (raises the first error of one)."""
        self._extent_jobs.wait()
        return self.extent

    def discard(self) -> None:
        """Drop what was written (the staging table, the GeoParquet file being written); the
        transaction goes on."""
        self._extent_jobs.wait(raise_errors=False)
        self.staged.discard()
        if self.writer is not None:
            self.writer.abort()

    def abort(self, exc: BaseException) -> None:
        self._extent_jobs.wait(raise_errors=False)
        self.staged.abort(exc)
        if self.writer is not None:
            self.writer.abort()


def kept_kinds(
    kinds: Sequence[str],
    stats: dict[str, KindStats],
    outputs: dict[str, TableOutput],
    publish_empty: bool,
) -> list[str]:
    """The dimensions of a split layer that kept features. One whose every feature was dropped
    (an empty polygon, a line of one repeated point beside good points) gets no table and no
    item: its table is discarded and its counts go to the first kept one, whose lineage names
    the drops."""
    kept = [k for k in kinds if stats[k].rows_loaded or publish_empty]
    for k in kinds:
        if k not in kept:
            stats[kept[0]].add(stats[k])
            outputs.pop(k).discard()
    return kept


def finished_table(
    src: LayerSource,
    cleaner: LayerCleaner,
    plan: LayerPlan,
    out: TableOutput,
    stats: KindStats,
    t0: float,
) -> tuple[LoadedTable, TableOutput]:
    """The layer's output ``out`` made ready for the swap (COPY ended, key and index built,
    GeoParquet closed), and its record."""
    out.settled_extent()
    out.staged.prepare()  # the swap waits until every layer of the file is ready
    if out.writer is not None:
        out.writer.close()
    gtype = plan.geometry_type(out.kind)
    columns = (
        ColumnInfo("fid", "bigint", None),
        *(ColumnInfo(c.name, c.pg_type, c.source) for c in cleaner.columns),
        ColumnInfo("geom", f"geometry({gtype},{SRID})", src.geometry_column),
    )
    table = LoadedTable(
        schema=out.staged.schema,
        table=out.staged.table,
        layer=src.name,
        kind=out.kind,
        rows_read=stats.rows_read,
        rows_loaded=out.staged.rows,
        dropped_null=stats.dropped_null,
        dropped_empty=stats.dropped_empty,
        repaired=stats.repaired,
        invalid_dropped=stats.invalid_dropped,
        geometry_type=gtype,
        srid=SRID,
        bbox=out.extent.bbox(),
        source_crs=cleaner.reprojector.source_crs,
        crs_assumed=cleaner.reprojector.assumed or src.crs_assumed,
        columns=columns,
        geoparquet_path=out.final_path,
        footprint=out.extent.footprint(),
        driver=src.driver,
        split=len(plan.kinds) > 1,
        seconds=time.perf_counter() - t0,
        wrapped=stats.wrapped,
    )
    return table, out


def create_spatial_index(conn: psycopg.Connection[Any], schema: str, table: str) -> bool:
    """GiST index and ANALYZE of a table published with ``defer_index=True``, in a transaction
    of its own under the table's lock (a concurrent load of the same table waits, and the other
    way round). False when there is nothing to do: the table is gone (replaced or dropped by a
    later load) or already has a GiST index."""
    target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    with conn.transaction():
        lock_table(conn, schema, table)
        if not table_exists(conn, schema, table):
            return False
        has_gist = conn.execute(
            """SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               JOIN pg_am a ON a.oid = c.relam
               WHERE i.indrelid = %s::regclass AND a.amname = 'gist'""",
            (target.as_string(conn),),
        ).fetchone()
        if has_gist is not None:
            return False
        name = ident_with_suffix(table, "_geom_gix")
        taken = conn.execute(
            """SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = %s AND c.relname = %s""",
            (schema, name),
        ).fetchone()
        index = sql.Identifier(name) if taken is None else sql.SQL("")  # else PostgreSQL names it
        index_build_memory(conn)
        conn.execute(
            sql.SQL("CREATE INDEX {} ON {} USING GIST ({})").format(
                index, target, sql.Identifier(GEOMETRY_COLUMN)
            )
        )
        conn.execute(sql.SQL("ANALYZE {}").format(target))
    return True
