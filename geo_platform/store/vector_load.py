"""Publish one bronze vector file: every layer to PostGIS (atomically) and to GeoParquet.

One pass over each layer's features feeds both outputs: cleaned batches go to binary COPY into
staging tables and to GeoParquet files being written, while the extent accumulates. All
tables of a file are swapped in by ONE transaction, so a file publishes completely or not at
all (a failure, or a killed process, leaves the previous tables and no staging tables); the
GeoParquet files are moved into ``parquet_dir`` only after the commit.

Empty layers (documented rule): a layer without features, or whose every feature was dropped,
is skipped with an ``EmptyLayerWarning``; one whose every feature was dropped is also named
among the failed layers when other layers of the file publish (the file is partial); a file
with nothing to publish raises ``EmptyDatasetError``. With ``options.empty_layers="publish"``
a layer that declares its geometry type is published as an empty table instead. Likewise a
dimension of a split layer whose every feature was dropped gets no table (its drops are
counted on the layer's first table).

Failed layers (documented rule): given a ``failed_layers`` dict, a layer of a multi-layer file
refused for its input (an ``InputError``: no CRS, coordinates out of range, too many
columns...) is rolled back to its savepoint, recorded there as ``{layer: "ErrorClass:
message"}`` and skipped (its previous table, if any, is left alone); the good layers are still
swapped in together by the one transaction. If no layer is published and some failed, the
file fails with every layer's error. Any other error (the database went away) fails the file.

Table names: ``table_base`` for a single-layer file; ``naming.table_name(source_name, layer,
multi_layer=True)`` per layer otherwise; a layer split by dimension adds ``__points``,
``__lines`` or ``__polygons`` (and sibling tables of another split from an earlier version of
the same layer are dropped in the same transaction).
"""

from __future__ import annotations

import secrets
import time
import warnings
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from geo_platform.lib import naming
from geo_platform.lib.errors import (
    DatabaseUnavailableError,
    EmptyDatasetError,
    InputError,
    TooLargeError,
    is_retryable,
)
from geo_platform.lib.vector import wkb
from geo_platform.lib.vector.batches import open_batches
from geo_platform.lib.vector.clean import (
    GeometryWarning,
    LayerCleaner,
    OffPlanGeometries,
)
from geo_platform.lib.vector.extent import Extent
from geo_platform.lib.vector.geoparquet import GeoParquetWriter
from geo_platform.lib.vector.options import VectorOptions
from geo_platform.lib.vector.plan import LayerPlan, declared_plan
from geo_platform.lib.vector.prefetch import Prefetch
from geo_platform.lib.vector.read import open_source
from geo_platform.lib.vector.records import (
    EVERY_FEATURE_DROPPED,
    LoadedTable,
    dropped_reason,
    every_layer_failed,
)
from geo_platform.lib.vector.source import LayerSource
from geo_platform.store.layer_stream import (
    batch_rows,
    check_column_count,
    cleaned_pieces,
    plan_for,
)
from geo_platform.store.postgis import (
    ColumnSpec,
    StagedTable,
    advisory_lock,
    ensure_schema,
    ident_with_suffix,
)
from geo_platform.store.table_owner import table_source
from geo_platform.store.threads import ahead
from geo_platform.store.vector_outputs import SRID, TableOutput, finished_table, kept_kinds

_DROPS = ("dropped_null", "dropped_empty", "invalid_dropped")


class EmptyLayerWarning(UserWarning):
    """A layer was skipped because it has no features to publish."""


def split_table_name(base: str, kind: str) -> str:
    """Name of the table holding one dimension of a split layer."""
    return ident_with_suffix(base, f"__{kind}")


def layer_table_base(src: LayerSource, source_name: str, table_base: str) -> str:
    if not src.multi_layer:
        return table_base
    return naming.table_name(source_name, src.name, multi_layer=True)


def publish_vector_file(
    conn: psycopg.Connection[Any],
    path: Path,
    *,
    source_name: str,
    schema: str,
    table_base: str,
    options: VectorOptions | None = None,
    parquet_dir: Path | None,
    defer_index: bool = False,
    failed_layers: dict[str, str] | None = None,
) -> list[LoadedTable]:
    """Publish every layer of ``path`` (or ``options.layer``); see the module docstring.

    ``source_name`` is the bronze blob path (named in errors, used for per-layer table names);
    ``table_base`` is the already sanitized table name of the file. ``parquet_dir=None``
    skips the GeoParquet copies (PostGIS only). ``defer_index=True`` swaps the tables in with
    their primary key but without the GiST index and ANALYZE: the caller then runs
    ``create_spatial_index`` per table, on another connection, while it checks the tables
    and builds the STAC items (readers see the complete table at once, indexed moments later).
    ``failed_layers``: filled with the layers refused for their input (module docstring).
    """
    options = options or VectorOptions()
    prefetch = Prefetch(path) if options.layer is None and Prefetch.worth_it(path) else None
    try:
        layers = open_source(path, source_name, options)
        if prefetch is not None and len(layers) == 1:  # its reader, opened meanwhile
            layers = [replace(layers[0], prefetch=prefetch)]
        return _publish_layers(
            conn, layers, source_name, schema, table_base, options, parquet_dir, defer_index,
            failed_layers,
        )  # fmt: skip
    finally:
        if prefetch is not None:
            prefetch.close()


def _publish_layers(
    conn: psycopg.Connection[Any],
    layers: list[LayerSource],
    source_name: str,
    schema: str,
    table_base: str,
    options: VectorOptions,
    parquet_dir: Path | None,
    defer_index: bool,
    failed_layers: dict[str, str] | None,
) -> list[LoadedTable]:
    ensure_schema(conn, schema)
    done: list[tuple[LoadedTable, TableOutput]] = []
    skipped: dict[str, str] = {}  # layer -> why it published nothing (named if none did)
    try:
        with conn.transaction():
            bases = naming.distinct_bases(
                [layer_table_base(s, source_name, table_base) for s in layers]
            )
            record = failed_layers if len(layers) > 1 else None
            for src, base in zip(layers, bases, strict=True):
                done.extend(
                    _layer_or_failure(
                        record, conn, src, schema, base, options, parquet_dir, defer_index, skipped
                    )
                )
            _swap_all(conn, schema, [out for _, out in done], source_name)
    except psycopg.OperationalError as exc:
        _discard([o for _, o in done])
        if is_retryable(exc):  # connection lost, deadlock, server shutting down...
            raise DatabaseUnavailableError(
                f"database error while loading: {exc}", source_name
            ) from exc
        if (exc.sqlstate or "").startswith("54"):  # program_limit_exceeded: columns, row size
            raise TooLargeError(
                f"the data exceeds a PostgreSQL limit: {exc}".strip(), source_name
            ) from exc
        raise  # permanent: is_retryable() says so
    except BaseException:
        _discard([o for _, o in done])
        raise
    if not done:
        raise _nothing_published(failed_layers, skipped, source_name)
    if failed_layers is not None:  # a workbook's sheets without coordinates
        failed_layers.update(pair for src in layers for pair in src.left_out)
    if failed_layers is not None and len(layers) > 1:  # published beside: the file is partial
        failed_layers.update({layer: f"EmptyDatasetError: {why}" for layer, why in skipped.items()
                              if why.startswith(EVERY_FEATURE_DROPPED)})  # fmt: skip
    for _, out in done:
        if out.writer is not None and out.final_path is not None:
            out.writer.path.replace(out.final_path)
    return [table for table, _ in done]


def _nothing_published(
    failed: dict[str, str] | None, skipped: dict[str, str], source_name: str
) -> InputError:
    """The error of a file that published no table: its layers' errors, else why each layer
    was skipped (no features; every feature dropped, with the counts)."""
    if failed:
        return every_layer_failed(failed, source_name)
    why = "; ".join(f"layer {layer!r}: {reason}" for layer, reason in skipped.items())
    return EmptyDatasetError(
        "no layer has features to publish" + (f" ({why})" if why else ""), path=source_name
    )


def _discard(outputs: list[TableOutput]) -> None:
    for out in outputs:
        if out.writer is not None:
            out.writer.path.unlink(missing_ok=True)


def _layer_or_failure(
    failed: dict[str, str] | None,
    conn: psycopg.Connection[Any],
    src: LayerSource,
    *args: Any,
) -> list[tuple[LoadedTable, TableOutput]]:
    """``_publish_layer``; with ``failed``, a layer refused for its input is recorded there and
    skipped (its savepoint rolled back, its outputs discarded) so the other layers go on."""
    if failed is None:
        return _publish_layer(conn, src, *args)
    try:
        return _publish_layer(conn, src, *args)
    except InputError as exc:
        failed[src.name] = f"{type(exc).__name__}: {exc.message}"
        return []


def _skip(
    src: LayerSource, why: str, skipped: dict[str, str]
) -> list[tuple[LoadedTable, TableOutput]]:
    skipped[src.name] = why
    warnings.warn(
        f"{src.display}: layer {src.name!r} skipped: {why}", EmptyLayerWarning, stacklevel=3
    )
    return []


def _publish_layer(
    conn: psycopg.Connection[Any],
    src: LayerSource,
    schema: str,
    base: str,
    options: VectorOptions,
    parquet_dir: Path | None,
    defer_index: bool = False,
    skipped: dict[str, str] | None = None,
) -> list[tuple[LoadedTable, TableOutput]]:
    t0 = time.perf_counter()
    skipped = {} if skipped is None else skipped
    publish_empty = options.empty_layers == "publish"
    declared = declared_plan(src.geometry_type)
    if src.feature_count == 0 and not (publish_empty and declared):
        return _skip(src, "it has no features", skipped)
    plan = plan_for(src, options)
    if not plan.kinds:
        return _skip(src, "it has no geometries", skipped)
    load = (conn, src, schema, base, options, parquet_dir, defer_index, skipped, t0)
    try:
        return _load_layer(plan, *load)
    except OffPlanGeometries as exc:  # the declared type is not what the features are
        warnings.warn(f"{src.display}: {exc}; planned from its features", GeometryWarning,
                      stacklevel=2)  # fmt: skip
        return _load_layer(plan_for(src, options, trust_declared=False), *load)


def _load_layer(
    plan: LayerPlan,
    conn: psycopg.Connection[Any],
    src: LayerSource,
    schema: str,
    base: str,
    options: VectorOptions,
    parquet_dir: Path | None,
    defer_index: bool,
    skipped: dict[str, str],
    t0: float,
) -> list[tuple[LoadedTable, TableOutput]]:
    publish_empty = options.empty_layers == "publish"
    names = {k: base if len(plan.kinds) == 1 else split_table_name(base, k) for k in plan.kinds}
    outputs: dict[str, TableOutput] = {}
    dropped: list[int] | None = None  # the counts of a layer that kept no feature
    with conn.transaction():
        try:
            with open_batches(src, batch_rows(src, options)) as (arrow_schema, batches):
                cleaner = LayerCleaner(src, arrow_schema, plan, options)
                check_column_count(src, len(cleaner.columns))
                outputs = _open_outputs(
                    conn, cleaner, plan, schema, base, names, parquet_dir, defer_index
                )
                exclusive = len(plan.kinds) == 1
                with closing(ahead(cleaned_pieces(cleaner, batches))) as cleaned:
                    for parts, batch_end in cleaned:
                        for part in parts:
                            outputs[part.kind].add(part, exclusive, end_row_group=False)
                        if batch_end:
                            for out in outputs.values():
                                out.end_row_group()
            stats = cleaner.finish_stats()
            if sum(s.rows_loaded for s in stats.values()) == 0 and not publish_empty:
                dropped = [sum(getattr(s, k) for s in stats.values()) for k in _DROPS]
                raise psycopg.Rollback()
            kinds = kept_kinds(plan.kinds, stats, outputs, publish_empty)
            results = [finished_table(src, cleaner, plan, outputs[k], stats[k], t0) for k in kinds]
        except BaseException as exc:
            for out in outputs.values():
                out.abort(exc)
            raise
    if dropped is not None:
        return _skip(src, dropped_reason(*dropped), skipped)
    return results


def _open_outputs(
    conn: psycopg.Connection[Any],
    cleaner: LayerCleaner,
    plan: LayerPlan,
    schema: str,
    base: str,
    names: dict[str, str],
    parquet_dir: Path | None,
    defer_index: bool = False,
) -> dict[str, TableOutput]:
    columns = [ColumnSpec(c.name, c.pg_type) for c in cleaner.columns]
    outputs = {}
    for kind in plan.kinds:
        table = names[kind]
        gtype = plan.geometry_type(kind)
        staged = StagedTable(
            conn, schema=schema, table=table, columns=columns, geometry_type=gtype, srid=SRID,
            spatial_index=not defer_index, source=cleaner.src.display,
        ).begin()  # fmt: skip
        writer, final = None, None
        if parquet_dir is not None:
            tmp = Path(parquet_dir) / f".{table}.{secrets.token_hex(4)}.parquet.tmp"
            parquet_type = wkb.MULTI_TYPE[kind] + (" Z" if plan.has_z[kind] else "")
            writer = GeoParquetWriter(tmp, cleaner.out_schema, parquet_type)
            final = Path(parquet_dir) / f"{table}.parquet"
        outputs[kind] = TableOutput(kind, table, base, staged, writer, final, Extent())
    return outputs


def _swap_all(
    conn: psycopg.Connection[Any], schema: str, outputs: list[TableOutput], source: str
) -> None:
    """Swap every staged table of the file in, last thing before the commit."""
    for out in outputs:
        out.staged.swap()
    for base in dict.fromkeys(out.base for out in outputs):
        _drop_siblings(conn, schema, base, {o.table for o in outputs if o.base == base}, source)


def _drop_siblings(
    conn: psycopg.Connection[Any], schema: str, base: str, keep: set[str], source: str
) -> None:
    """Drop tables an earlier version of this layer produced under other split names (never
    another file's: ``table_owner``)."""
    for name in {base, *(split_table_name(base, k) for k in wkb.KINDS)} - keep:
        advisory_lock(conn, f"geo_platform:table:{schema}.{name}")
        if table_source(conn, schema, name) not in (None, source):
            continue
        target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
