"""The promote/demote jobs and the auto-promotion asset, after a real vector pipeline run."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from geo_platform.definitions import defs
from geo_platform.defs.bronze.partitions import bronze_vector_partitions
from geo_platform.defs.promotion import (
    PromotionResource,
    demote_job,
    promote_job,
    promotion_assets,
    run_config,
)
from geo_platform.lib import naming
from geo_platform.lib.stac_ext import PROMOTION_RUN
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.settings import Settings, load_settings
from geo_platform.store.promotion_audit import history
from geo_platform.store.promotion_state import read_items
from geo_platform_tests.fixtures.promotion import kinked_vector_in_bronze

STAGES = ["bronze_vector_job", "vector_table_job", "vector_catalog_job"]


@dataclasses.dataclass
class Env:
    inst: dg.DagsterInstance
    store: LocalBlobStore
    resources: dict[str, Any]
    blob: str
    collection: str
    table: str
    settings: Settings


@pytest.fixture(scope="module")
def published(pg_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One real vector pipeline run (bronze -> PostGIS + GeoParquet -> pgstac) in staging."""
    settings = load_settings()
    tmp_path = tmp_path_factory.mktemp("promotion")
    prefix = f"promo{uuid.uuid4().hex[:6]}"
    blob, store, resources = kinked_vector_in_bronze(tmp_path, pg_dsn, settings, prefix)
    collection, table = naming.collection_id(blob), naming.table_name(blob)
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(bronze_vector_partitions.name, [blob])
        for job in STAGES:
            result = defs.resolve_job_def(job).execute_in_process(
                instance=inst, partition_key=blob, resources=resources
            )
            assert result.success
        yield Env(inst, store, resources, blob, collection, table, settings)
    for url in (settings.database_url, settings.production_database_url):
        _drop(url, collection, table)


def _drop(url: str, collection: str, table: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS geo.{}").format(sql.Identifier(table)))
        conn.execute(
            "SELECT pgstac.delete_collection(id) FROM pgstac.collections WHERE id = %s",
            (collection,),
        )


@pytest.fixture
def env(published: Env) -> Iterator[Env]:
    """The published dataset, with production emptied again after each test."""
    yield published
    _drop(published.settings.production_database_url, published.collection, published.table)
    published.store.delete_prefix("silver-prod", f"{published.collection}/")


def _production(env: Env) -> tuple[list[dict[str, Any]], int | None]:
    with psycopg.connect(env.settings.production_database_url, autocommit=True) as conn:
        items = read_items(conn, env.collection)
        exists = conn.execute(
            "SELECT 1 FROM pg_tables WHERE schemaname = 'geo' AND tablename = %s", (env.table,)
        ).fetchone()
        rows = None
        if exists:
            q = sql.SQL("SELECT count(*) FROM geo.{}").format(sql.Identifier(env.table))
            rows = conn.execute(q).fetchone()[0]  # type: ignore[index]
        return items, rows


def _prod_blobs(env: Env) -> list[str]:
    return [b.path for b in env.store.list_blobs("silver-prod", prefix=f"{env.collection}/")]


def _run(env: Env, job: dg.JobDefinition, op: str, **cfg: Any) -> dg.ExecuteInProcessResult:
    config = {"collection": env.collection, "items": None, "dry_run": True, **cfg}
    return job.execute_in_process(
        run_config={"ops": {op: {"config": config}}}, instance=env.inst, resources=env.resources
    )


def test_promote_and_demote_jobs(env: Env) -> None:
    # The default config is a dry run.
    dry = promote_job.execute_in_process(
        run_config={"ops": {"promote_dataset": {"config": {"collection": env.collection}}}},
        instance=env.inst,
        resources=env.resources,
    )
    report = dry.output_for_node("promote_dataset")
    assert report["dry_run"] is True and report["plan"]["tables"][0]["target"] == f"geo.{env.table}"
    assert _production(env) == ([], None) and _prod_blobs(env) == []

    real = _run(env, promote_job, "promote_dataset", dry_run=False)
    report = real.output_for_node("promote_dataset")
    assert report["dry_run"] is False and report["tables"][0]["rows"] == 1
    items, rows = _production(env)
    assert rows == 1 and len(items) == 1
    assert items[0]["properties"][PROMOTION_RUN] == real.run_id
    assert len(_prod_blobs(env)) == 1  # the GeoParquet copy
    [output] = [e for e in real.all_node_events if e.is_successful_output]
    meta = output.step_output_data.metadata
    assert meta["rows_copied"].value == 1 and meta["dry_run"].value is False

    # Demote: dry run by default, then for real.
    dry = _run(env, demote_job, "demote_dataset")
    assert dry.output_for_node("demote_dataset")["plan"]["drop_tables"] == [f"geo.{env.table}"]
    assert _production(env)[1] == 1
    real_demote = _run(env, demote_job, "demote_dataset", dry_run=False)
    assert real_demote.success
    assert _production(env) == ([], None) and _prod_blobs(env) == []
    with psycopg.connect(env.settings.production_database_url) as conn:
        actions = [(r["action"], r["run_id"]) for r in history(conn, env.collection)]
    assert actions == [("demote", real_demote.run_id), ("promote", real.run_id)]


def test_unknown_collection_fails_without_retry(env: Env) -> None:
    result = promote_job.execute_in_process(
        run_config=run_config("promote_dataset", "no-such-collection", None, dry_run=True),
        instance=env.inst,
        resources=env.resources,
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert failure is not None and "NotFoundError" in failure.description


def test_auto_promotion_asset(env: Env) -> None:
    settings = dataclasses.replace(env.settings, auto_promote=f"{env.collection[:5]}*")
    _raster_asset, vector_asset = promotion_assets(settings)
    key = dg.AssetKey("vector_production_item")
    assert vector_asset.automation_conditions_by_key[key] is not None
    assert dg.AssetKey("vector_stac_item") in vector_asset.dependency_keys
    quiet = promotion_assets(dataclasses.replace(env.settings, auto_promote=""))
    assert all(c is None for a in quiet for c in a.automation_conditions_by_key.values())

    # Not marked auto-promote: nothing happens, nothing is materialized.
    res = dg.materialize(
        [vector_asset], partition_key=env.blob, instance=env.inst, resources=env.resources
    )
    assert res.success and res.get_asset_materialization_events() == []
    assert _production(env) == ([], None)

    plain = env.resources["promotion"]
    marked = {
        **env.resources,
        "promotion": PromotionResource(
            staging_database_url=plain.staging_database_url,
            production_database_url=plain.production_database_url,
            auto_promote=f"other, {env.collection[:5]}*",
        ),
    }
    res = dg.materialize(
        [vector_asset], partition_key=env.blob, instance=env.inst, resources=marked
    )
    [event] = res.get_asset_materialization_events()
    assert event.materialization.partition == env.blob
    items, rows = _production(env)
    assert rows == 1 and items[0]["properties"]["geo_platform:source_blob"] == env.blob


def test_registration_recipe_gives_valid_definitions() -> None:
    """The platform's code location, with auto-promotion on, loads and the graph is wired."""
    from geo_platform.definitions import build_definitions
    from geo_platform.defs.promotion import promotion_resource

    settings = dataclasses.replace(load_settings(), auto_promote="rasters-*")
    merged = build_definitions(settings)
    dg.Definitions.validate_loadable(merged)
    graph = merged.resolve_asset_graph()
    for kind in ("raster", "vector"):
        node = graph.get(dg.AssetKey(f"{kind}_production_item"))
        assert dg.AssetKey(f"{kind}_stac_item") in node.parent_keys
        assert node.automation_condition is not None
    assert merged.resolve_job_def("promote_job").name == "promote_job"
    promotion = promotion_resource(settings)  # the promoter's URLs, never a password in config
    for url in (promotion.staging_database_url, promotion.production_database_url):
        assert urlsplit(url).username == settings.promoter_role and urlsplit(url).password is None


def test_the_run_log_says_what_was_done() -> None:
    from geo_platform.defs.promotion.ops import report_lines

    plan = {"collection": "c", "items": ["a"], "drop_tables": [], "delete_blobs": []}
    lines = report_lines({"action": "demote", "dry_run": False, "plan": plan})
    assert lines[:2] == ["demote c (applied)", "did remove items: ['a']"]
