"""Gold H3 aggregates from the real vector stage, and the DuckDB catalog, on real services."""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from geo_platform.defs.analytics.assets import duckdb_catalog, h3_aggregate
from geo_platform.defs.bronze.partitions import bronze_vector_partitions
from geo_platform.defs.pipeline import vector_files
from geo_platform.lib import naming
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource, PostGISResource
from geo_platform.workflows.analytics_views import view_name
from geo_platform_tests.fixtures.helpers import TESTDATA

BLOB = "parks/ynp.gpkg"


@pytest.fixture
def env(tmp_path: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GEO_PLATFORM_STATE_DIR", str(tmp_path / "state"))
    suffix = uuid.uuid4().hex[:6]
    geo, gold = f"geo_{suffix}", f"gold_{suffix}"
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store.ensure_container("bronze")
    store.upload_file("bronze", BLOB, TESTDATA / "vectors/gpkg_multilayer/ynp_features.gpkg")
    resources = {
        "blob_store": store,
        "postgis": PostGISResource(database_url=pg_dsn, geo_schema=geo),
        "pgstac": PgSTACResource(database_url=pg_dsn),  # the vector file pipeline's catalog stage
        "platform": PlatformResource(
            geo_schema=geo, analytics_dir=str(tmp_path / "state" / "analytics")
        ),
    }
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(bronze_vector_partitions.name, [BLOB])
        yield inst, store, resources, gold, tmp_path
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for schema in (geo, gold):
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _aggregate(inst, resources, gold: str, res: int) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [vector_files, h3_aggregate],
        selection=["vector_table", "h3_aggregate"],
        partition_key=BLOB,
        instance=inst,
        resources=resources,
        run_config={"ops": {"h3_aggregate": {"config": {"resolution": res, "gold_schema": gold}}}},
    )


def test_h3_aggregate_publishes_geoparquet_and_gold_tables(env, pg_dsn: str) -> None:
    inst, store, resources, gold, _ = env
    result = _aggregate(inst, resources, gold, 7)
    assert result.success
    checks = {
        e.check_name: e.passed
        for e in result.get_asset_check_evaluations()
        if e.asset_key == dg.AssetKey("h3_aggregate")
    }
    assert checks == {"point_counts_match_rows": True, "totals_match_source": True}
    prefix = naming.silver_prefix(BLOB)
    silver = sorted(b.path for b in store.list_blobs("silver", prefix + "/h3/"))
    tables = sorted(
        b.path.rsplit("/", 1)[1][: -len(".parquet")]
        for b in store.list_blobs("silver", prefix + "/")
        if b.path.count("/") == prefix.count("/") + 1 and b.path.endswith(".parquet")
    )
    assert len(tables) == 3
    assert silver == [f"{prefix}/h3/{t}_res7.parquet" for t in tables]
    with psycopg.connect(pg_dsn) as conn:
        for t in tables:
            source_rows = pq.ParquetFile(
                store.href("silver", f"{prefix}/{t}.parquet")
            ).metadata.num_rows
            gold_table = sql.SQL("{}.{}").format(
                sql.Identifier(gold), sql.Identifier(f"{t}_h3_res7")
            )
            points, cells, invalid = conn.execute(
                sql.SQL(
                    "SELECT coalesce(sum(point_count), 0), count(*), "
                    "count(*) FILTER (WHERE NOT ST_IsValid(geom)) FROM {}"
                ).format(gold_table)
            ).fetchone()
            assert invalid == 0 and cells > 0
            if "points" in t:
                assert points == source_rows == 1399
            h3_file = store.href("silver", f"{prefix}/h3/{t}_res7.parquet")
            assert pq.ParquetFile(h3_file).metadata.num_rows == cells


def _views(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    return {r[0] for r in rows}


def test_duckdb_catalog_tracks_published_datasets(env) -> None:
    inst, store, resources, gold, tmp_path = env
    assert _aggregate(inst, resources, gold, 6).success
    catalog = tmp_path / "state" / "analytics" / "catalog.duckdb"
    assert dg.materialize([duckdb_catalog], instance=inst, resources=resources).success
    with duckdb.connect(str(catalog), read_only=True) as con:
        views = _views(con)
        points_view = next(v for v in views if v.endswith("points_of_interest"))
        assert con.execute(f'SELECT count(*) FROM "{points_view}"').fetchone() == (1399,)
        agg = f"{points_view}_h3_res6"
        assert agg in views
        assert con.execute(f'SELECT sum(point_count) FROM "{agg}"').fetchone() == (1399,)
    assert len(views) == 6

    # Unpublishing a dataset (its silver files deleted) drops its views at the next sync.
    for b in list(store.list_blobs("silver", naming.silver_prefix(BLOB) + "/")):
        if view_name(b.path) and "roads" in b.path:
            store.delete("silver", b.path)
    result = dg.materialize([duckdb_catalog], instance=inst, resources=resources)
    changes = result.get_asset_materialization_events()[0].materialization.metadata["changes"]
    assert len(changes.value["dropped"]) == 2 and changes.value["unchanged"] == 4
    with duckdb.connect(str(catalog), read_only=True) as con:
        left = _views(con)
    assert left == {v for v in views if "roads" not in v}


def test_h3_aggregate_without_silver_fails_clearly(env) -> None:
    inst, _, resources, gold, _ = env
    result = dg.materialize(
        [h3_aggregate],
        partition_key=BLOB,
        instance=inst,
        resources=resources,
        run_config={"ops": {"h3_aggregate": {"config": {"gold_schema": gold}}}},
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert "vector_table" in failure.description and BLOB in failure.description
