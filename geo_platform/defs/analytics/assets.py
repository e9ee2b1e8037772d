"""Analytics on the silver layer: a DuckDB catalog of published datasets and H3 aggregates.

``duckdb_catalog`` keeps ``<analytics_dir>/catalog.duckdb`` (``PlatformResource.analytics_dir``,
by default ``<state_dir>/analytics``) holding one view per published GeoParquet file.
``h3_aggregate`` (gold) aggregates each vector file's GeoParquet onto H3 cells in DuckDB (point
counts, line lengths, polygon area coverage) and publishes the cells as GeoParquet beside the
silver file and as a PostGIS table in the ``gold`` schema.
"""

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from psycopg import sql

from geo_platform.defs.bronze.partitions import bronze_vector_partitions
from geo_platform.defs.common import BATCH_POLICY, TRANSIENT_RETRY, Outcome, each_partition
from geo_platform.lib.errors import NotFoundError, ValidationError
from geo_platform.lib.h3 import DEFAULT_RESOLUTION
from geo_platform.lib.naming import silver_prefix
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PlatformResource, PostGISResource

# DuckDB, h3, pyarrow and the PostGIS loader are imported by the functions that run them: every
# run and command loads the code location, few of them aggregate.
if TYPE_CHECKING:
    from geo_platform.store.analytics import AggregateStats

ANALYTICS_GROUP = "analytics"
GOLD_SCHEMA = "gold"
POINTS_CHECK = "point_counts_match_rows"
TOTALS_CHECK = "totals_match_source"
CATALOG_AUTOMATION = (
    dg.AutomationCondition.any_deps_updated().since(
        dg.AutomationCondition.newly_requested() | dg.AutomationCondition.newly_updated()
    )
    & ~dg.AutomationCondition.in_progress()
)


class H3AggregateConfig(dg.Config):
    """Resolution of the aggregate cells (0-15; 8 is about 0.74 km2 per cell)."""

    resolution: int = DEFAULT_RESOLUTION
    gold_schema: str = GOLD_SCHEMA


def _silver_tables(store: BlobStore, container: str, blob: str) -> dict[str, str]:
    """{table: blob path} of the GeoParquet files the vector stage published for ``blob``."""
    prefix = silver_prefix(blob) + "/"
    out = {}
    for info in store.list_blobs(container, prefix=prefix):
        rel = info.path[len(prefix) :]
        if "/" not in rel and rel.endswith(".parquet"):
            out[rel[: -len(".parquet")]] = info.path
    return out


def _load_gold(conn: Any, parquet: Path, schema: str, table: str) -> int:
    """The aggregate cells as a PostGIS table (geometry as ``geom``, no bbox column)."""
    import pyarrow.parquet as pq

    from geo_platform.store.postgis import ensure_schema, load_layer

    data = pq.read_table(parquet)
    data = data.drop_columns([c for c in ("bbox",) if c in data.column_names])
    data = data.rename_columns(["geom" if c == "geometry" else c for c in data.column_names])
    ensure_schema(conn, schema)
    result = load_layer(conn, data, schema=schema, table=table, geometry_type="MultiPolygon")
    return result.rows


def _gold_point_sum(conn: Any, schema: str, table: str) -> int:
    row = conn.execute(
        sql.SQL("SELECT coalesce(sum(point_count), 0) FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
    ).fetchone()
    return int(row[0])


Verdicts = dict[str, tuple[bool, str]]


class GoldBlockedError(ValidationError):
    """The checks of some of a file's aggregates failed: those were not published."""

    def __init__(self, blob: str, tables: list[str], checks: Verdicts) -> None:
        failed = "; ".join(why for ok, why in checks.values() if not ok)
        super().__init__(f"not published ({', '.join(tables)}): {failed}", path=blob)
        self.checks = checks


def _verdicts(
    stats: "AggregateStats", gold_points: int | None = None, gold_rows: int | None = None
) -> Verdicts:
    """Check verdicts from the aggregate's totals, and from PostGIS's once it is loaded."""
    non_empty = stats.rows - stats.empty_rows
    point_only = stats.kinds == ("points",)
    points_ok = stats.points == stats.source_points and gold_points in (None, stats.points)
    if point_only and stats.source_points == stats.point_rows:  # single points: one per row
        points_ok = points_ok and stats.points == non_empty
    totals = stats.checks()
    totals_ok = totals["line_length"][0] and totals["polygon_area"][0]
    totals_ok = totals_ok and gold_rows in (None, stats.cells)
    return {
        POINTS_CHECK: (
            points_ok,
            f"sum(point_count) {stats.points} (PostGIS "
            f"{'not loaded' if gold_points is None else gold_points}), source points "
            f"{stats.source_points}, non-empty rows {non_empty}",
        ),
        TOTALS_CHECK: (
            totals_ok,
            f"{totals['line_length'][1]}; {totals['polygon_area'][1]}; "
            f"{'not loaded' if gold_rows is None else f'{gold_rows} rows'}",
        ),
    }


def _publish_checked(
    conn: Any, store: BlobStore, container: str, h3_blob: str, out: Path, gold: str,
    schema: str, stats: "AggregateStats",
) -> Verdicts:  # fmt: skip
    """Publish one aggregate only if its checks pass (what makes them blocking).

    The totals are checked before anything is written; the PostGIS table is then loaded and
    checked inside its transaction, and committed only if it holds every cell and point. An
    aggregate that fails is rolled back and its GeoParquet never uploaded: the previous one stays.
    """
    verdicts = _verdicts(stats)
    if all(ok for ok, _ in verdicts.values()):
        gold_rows = _load_gold(conn, out, schema, gold)
        verdicts = _verdicts(stats, _gold_point_sum(conn, schema, gold), gold_rows)
    if not all(ok for ok, _ in verdicts.values()):
        conn.rollback()
        return verdicts
    conn.commit()
    store.upload_file(container, h3_blob, out)
    return verdicts


def _aggregate_blob(
    store: BlobStore,
    postgis: PostGISResource,
    platform: PlatformResource,
    config: H3AggregateConfig,
    blob: str,
) -> Outcome:
    from geo_platform.store.analytics import aggregate_to_h3, gold_table_name
    from geo_platform.workflows.analytics_views import H3_FOLDER

    container, res = platform.silver_container, config.resolution
    tables = _silver_tables(store, container, blob)
    if not tables:
        raise NotFoundError("no silver GeoParquet for this file: run vector_table first", path=blob)
    prefix = silver_prefix(blob)
    checks: dict[str, list[tuple[bool, str]]] = {POINTS_CHECK: [], TOTALS_CHECK: []}
    details: dict[str, Any] = {}
    blocked: list[str] = []
    with tempfile.TemporaryDirectory(prefix="h3agg-") as tmp, postgis.connect() as conn:
        for table, path in sorted(tables.items()):
            out = Path(tmp) / f"{table}_res{res}.parquet"
            with store.local_copy(container, path) as local:
                stats = aggregate_to_h3(local, res, out)
            gold = gold_table_name(table, res)
            h3_blob = f"{prefix}/{H3_FOLDER}/{out.name}"
            verdicts = _publish_checked(
                conn, store, container, h3_blob, out, gold, config.gold_schema, stats
            )
            if not all(ok for ok, _ in verdicts.values()):
                blocked.append(table)
            for name, (ok, why) in verdicts.items():
                checks[name].append((ok, f"{table}: {why}"))
            details[table] = _stats_metadata(stats, f"{config.gold_schema}.{gold}")
        _remove_stale(store, container, prefix, set(tables), res, conn, config.gold_schema)
    verdicts = {k: (all(ok for ok, _ in v), "; ".join(w for _, w in v)) for k, v in checks.items()}
    if blocked:
        raise GoldBlockedError(blob, blocked, verdicts)
    return Outcome(
        {
            "resolution": res,
            "tables": dg.MetadataValue.json(details),
            "cells": sum(d["cells"] for d in details.values()),
        },
        verdicts,
    )


def _stats_metadata(stats: "AggregateStats", gold: str) -> dict[str, Any]:
    return {
        "gold_table": gold,
        "cells": stats.cells,
        "rows": stats.rows,
        "kinds": list(stats.kinds),
        "points": stats.points,
        "line_length_m": round(stats.line_length_m, 3),
        "area_m2": round(stats.area_m2, 1),
        "seconds": round(stats.seconds, 3),
    }


def _remove_stale(
    store: BlobStore,
    container: str,
    prefix: str,
    tables: set[str],
    res: int,
    conn: Any,
    schema: str,
) -> None:
    """Aggregates (this resolution) of tables the vector file no longer has."""
    from geo_platform.store.analytics import gold_table_name
    from geo_platform.store.postgis import drop_table
    from geo_platform.workflows.analytics_views import H3_FOLDER

    suffix = f"_res{res}.parquet"
    for info in store.list_blobs(container, prefix=f"{prefix}/{H3_FOLDER}/"):
        name = info.path.rsplit("/", 1)[-1]
        if name.endswith(suffix) and name[: -len(suffix)] not in tables:
            store.delete(container, info.path)
            drop_table(conn, schema, gold_table_name(name[: -len(suffix)], res))
    conn.commit()


@dg.asset(
    group_name=ANALYTICS_GROUP,
    partitions_def=bronze_vector_partitions,
    deps=["vector_table"],
    backfill_policy=BATCH_POLICY,
    retry_policy=TRANSIENT_RETRY,
    output_required=False,
    kinds={"duckdb", "parquet", "postgres"},
    pool="postgis",
    check_specs=[
        dg.AssetCheckSpec(
            POINTS_CHECK,
            asset="h3_aggregate",
            blocking=True,
            description="Sum of point counts over the cells (GeoParquet and PostGIS) equals the "
            "number of source points; for single-point data, the number of non-empty rows. "
            "Blocking: an aggregate that fails is not published.",
        ),
        dg.AssetCheckSpec(
            TOTALS_CHECK,
            asset="h3_aggregate",
            blocking=True,
            description="Line lengths add up to the source's great-circle length, polygon area "
            "to its spherical area (within 0.5%), and PostGIS holds one row per cell. Blocking: "
            "an aggregate that fails is not published (no gold table, no GeoParquet).",
        ),
    ],
    description=(
        "Gold: each vector file's GeoParquet aggregated onto H3 cells (run config resolution, "
        "default 8) in DuckDB: point counts, line lengths (m), polygon area (m2 and share of "
        "the cell) and distinct features per cell, as GeoParquet in silver "
        "(<file>/h3/<table>_res<R>.parquet) and as PostGIS tables gold.<table>_h3_res<R>."
    ),
)
def h3_aggregate(
    context: dg.AssetExecutionContext,
    config: H3AggregateConfig,
    blob_store: dg.ResourceParam[BlobStore],
    postgis: PostGISResource,
    platform: PlatformResource,
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult | dg.MaterializeResult]:
    blocked: dict[str, Verdicts] = {}

    def aggregate(_key: str, blob: str) -> Outcome:
        try:
            return _aggregate_blob(blob_store, postgis, platform, config, blob)
        except GoldBlockedError as exc:
            blocked[blob] = exc.checks
            raise

    for event in each_partition(context, aggregate):
        yield _with_blocked(event, blocked) if isinstance(event, dg.AssetCheckResult) else event


def _with_blocked(result: dg.AssetCheckResult, blocked: dict[str, Verdicts]) -> dg.AssetCheckResult:
    """The run's check result, with the verdicts of the files whose aggregates were blocked
    (their partitions fail, so ``each_partition`` has no outcome for them)."""
    mine = {b: checks[result.check_name or ""] for b, checks in blocked.items()}
    if not mine:
        return result
    meta = result.metadata or {}
    details = dict(getattr(meta.get("details"), "value", None) or {})
    failed = dict(getattr(meta.get("failed"), "value", None) or {})
    details.update({b: why for b, (_, why) in mine.items()})
    failed.update({b: why for b, (ok, why) in mine.items() if not ok})
    return dg.AssetCheckResult(
        asset_key=result.asset_key,
        check_name=result.check_name,
        passed=not failed,
        description=f"{len(details) - len(failed)}/{len(details)} files passed",
        metadata={
            "files_checked": len(details),
            "failed": dg.MetadataValue.json(failed),
            "details": dg.MetadataValue.json(details),
        },
    )


@dg.asset(
    group_name=ANALYTICS_GROUP,
    deps=["vector_table", "h3_aggregate"],
    automation_condition=CATALOG_AUTOMATION,
    kinds={"duckdb"},
    description=(
        "A DuckDB database file (<state_dir>/analytics/catalog.duckdb) with one view per "
        "published GeoParquet dataset, named like its PostGIS table (H3 aggregates as "
        "<table>_h3_res<R>); views of unpublished datasets are dropped. Open it with any "
        "DuckDB client, or use `geo-platform query`."
    ),
)
def duckdb_catalog(
    context: dg.AssetExecutionContext,
    blob_store: dg.ResourceParam[BlobStore],
    platform: PlatformResource,
) -> dg.MaterializeResult:
    from geo_platform.store.analytics import catalog_summary, sync_catalog
    from geo_platform.workflows.analytics_views import catalog_path, published_views

    analytics_dir = Path(platform.analytics_dir)
    views = published_views(blob_store, platform.silver_container, analytics_dir)
    result = sync_catalog(catalog_path(analytics_dir), views)
    context.log.info(f"catalog {result.path}: {catalog_summary(result)}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.path)),
            "views": dg.MetadataValue.json(sorted(views)),
            "view_count": len(views),
            "changes": dg.MetadataValue.json(catalog_summary(result)),
        }
    )
