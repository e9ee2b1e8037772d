"""Unpublish cascades on real services: H3 aggregates go, DuckDB views never break,
production copies are reported (with the demote command) and left alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import psycopg
import pytest
from psycopg import sql

from geo_platform.cli.lifecycle import unpublish_lines
from geo_platform.defs.analytics.assets import GOLD_SCHEMA, duckdb_catalog, h3_aggregate
from geo_platform.defs.lifecycle.jobs import unpublish_run_config, unpublish_vector
from geo_platform.defs.promotion import promote_job
from geo_platform.lib import naming
from geo_platform.settings import load_settings
from geo_platform.store.catalog import items_of_source
from geo_platform.store.postgis import table_exists
from geo_platform.store.promotion_state import read_items
from geo_platform.workflows.analytics_views import catalog_path
from geo_platform_tests.fixtures.lifecycle import audit_rows, delete_collections, publish
from geo_platform_tests.fixtures.promotion import kinked_vector_in_bronze

RES = 6


@pytest.fixture(scope="module")
def env(pg_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("unpublish_deps")
    mp = pytest.MonkeyPatch()
    mp.setenv("GEO_PLATFORM_STATE_DIR", str(tmp / "state"))
    settings = load_settings()
    prefix = f"ud{uuid.uuid4().hex[:6]}"
    blob, store, resources = kinked_vector_in_bronze(tmp, pg_dsn, settings, prefix)
    collection, table = naming.collection_id(blob), naming.table_name(blob)
    gold = f"{table}_h3_res{RES}"
    with dg.instance_for_test() as inst:
        publish(inst, resources, "vector", [blob])
        cfg = {"ops": {"h3_aggregate": {"config": {"resolution": RES}}}}
        assert dg.materialize(
            [h3_aggregate], partition_key=blob, instance=inst, resources=resources, run_config=cfg
        ).success
        assert dg.materialize([duckdb_catalog], instance=inst, resources=resources).success
        promoted = promote_job.execute_in_process(
            run_config={"ops": {"promote_dataset": {"config": {"collection": collection,
                                                               "dry_run": False}}}},
            instance=inst, resources=resources,
        )  # fmt: skip
        assert promoted.success
        yield {"inst": inst, "store": store, "resources": resources, "blob": blob,
               "collection": collection, "table": table, "gold": gold, "dsn": pg_dsn,
               "settings": settings, "catalog": catalog_path(settings.analytics_dir)}  # fmt: skip
    for url in (settings.database_url, settings.production_database_url):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS geo.{}").format(sql.Identifier(table)))
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
                    sql.Identifier(GOLD_SCHEMA), sql.Identifier(gold)
                )
            )
    delete_collections(pg_dsn, [collection])
    delete_collections(settings.production_database_url, [collection])
    store.delete_prefix("silver-prod", f"{collection}/")
    mp.undo()


def _views(path: Path) -> dict[str, int]:
    """{view: row count}: selecting from every view must work (no broken view)."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = [r[0] for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main'"
        ).fetchall()]  # fmt: skip
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def _state(env: dict[str, Any]) -> dict[str, Any]:
    h3 = naming.silver_prefix(env["blob"]) + "/h3/"
    with psycopg.connect(env["dsn"]) as conn:
        gold = table_exists(conn, GOLD_SCHEMA, env["gold"])
        staged = items_of_source(conn, env["blob"])
    with psycopg.connect(env["settings"].production_database_url) as conn:
        prod_items = [i["id"] for i in read_items(conn, env["collection"])]
        prod_table = table_exists(conn, "geo", env["table"])
    return {
        "h3_blobs": sorted(b.path for b in env["store"].list_blobs("silver", h3)),
        "gold": gold,
        "items": staged,
        "views": _views(env["catalog"]),
        "prod_items": prod_items,
        "prod_table": prod_table,
        "prod_blobs": sorted(
            b.path for b in env["store"].list_blobs("silver-prod", env["collection"] + "/")
        ),
    }


def _run(env: dict[str, Any], item: str, **config: Any) -> dict[str, Any]:
    res = unpublish_vector.execute_in_process(
        run_config=unpublish_run_config(
            "vector", item_ids=[item], collection=env["collection"], **config
        ),
        instance=env["inst"], resources=env["resources"],
    )  # fmt: skip
    assert res.success
    return res.output_for_node("unpublish_vector_items")


def test_unpublish_cascades_to_dependents(env: dict[str, Any]) -> None:
    before = _state(env)
    [(_, item)] = before["items"]
    h3_blob = f"{naming.silver_prefix(env['blob'])}/h3/{env['table']}_res{RES}.parquet"
    assert before["h3_blobs"] == [h3_blob] and before["gold"]
    assert {env["table"], f"{env['table']}_h3_res{RES}"} <= set(before["views"])
    assert before["prod_items"] == [item] and before["prod_table"]

    # Dry run: every dependent listed, nothing changed.
    dry = _run(env, item)
    deps = dry["dependents"]
    assert deps["h3_blobs"] == [h3_blob]
    assert deps["h3_tables"] == [f"{GOLD_SCHEMA}.{env['gold']}"]
    assert {v["view"] for v in deps["duckdb_views"]} == {
        env["table"], f"{env['table']}_h3_res{RES}"
    }  # fmt: skip
    assert deps["production"]["items"] == [item]
    command = f"geo-platform demote {env['collection']} --apply"
    assert deps["production"]["command"] == command
    assert command in deps["production_warning"]
    assert any(command in line for line in unpublish_lines(dry))
    assert _state(env) == before
    # A dry run says what it would do, never that it did it, and leaves an audit row.
    assert dry["message"].endswith("would drop 2 DuckDB view(s)")
    views = [line for line in unpublish_lines(dry) if line.startswith("DuckDB view")]
    assert len(views) == 2 and all(line.endswith(": would drop") for line in views)
    assert not any("dropped" in line or ": deleted" in line for line in unpublish_lines(dry))
    [dry_row] = audit_rows(env["dsn"], env["collection"], item, dry_run=True)
    assert dry_row["result"]["duckdb_views"] and dry["audit_ids"] == [dry_row["id"]]
    assert audit_rows(env["dsn"], env["collection"], item) == []

    # Apply: aggregates and views gone, every remaining view selectable, production untouched.
    done = _run(env, item, dry_run=False, reason="retired")
    [out] = done["result"]["items"]
    assert out["h3_blobs_deleted"] == [h3_blob]
    assert out["h3_tables_dropped"] == [f"{GOLD_SCHEMA}.{env['gold']}"]
    assert set(done["result"]["duckdb_catalog"]["views_dropped"]) == {
        env["table"], f"{env['table']}_h3_res{RES}"
    }  # fmt: skip
    after = _state(env)
    assert after["h3_blobs"] == [] and not after["gold"] and after["items"] == []
    assert not {env["table"], f"{env['table']}_h3_res{RES}"} & set(after["views"])
    assert (after["prod_items"], after["prod_table"], after["prod_blobs"]) == (
        before["prod_items"], True, before["prod_blobs"]
    )  # fmt: skip
    assert any(command in line for line in unpublish_lines(done))
    [row] = audit_rows(env["dsn"], env["collection"], item)
    assert row["status"] == "completed"
    assert row["inventory"]["h3_aggregates"]["tables"] == [
        {"table": f"{GOLD_SCHEMA}.{env['gold']}", "rows": row["inventory"]["h3_aggregates"]
         ["tables"][0]["rows"]}
    ]  # fmt: skip
    assert row["result"]["duckdb_catalog"]["views_dropped"]

    # Re-run: a no-op (still warning about production), nothing changes.
    again = _run(env, item, dry_run=False)
    assert again["noop"] and "result" not in again
    assert again["dependents"]["production_warning"]
    assert _state(env) == after
    assert len(audit_rows(env["dsn"], env["collection"], item)) == 1
