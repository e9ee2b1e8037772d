"""unpublish_vector on real services: vectors published through the pipeline, then removed."""

from __future__ import annotations

import uuid
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from geo_platform.defs.lifecycle.jobs import unpublish_run_config, unpublish_vector
from geo_platform.lib import naming
from geo_platform.settings import Settings
from geo_platform.store import pgstac
from geo_platform.store.catalog import items_of_source
from geo_platform.store.postgis import table_exists
from geo_platform_tests.fixtures.helpers import TESTDATA
from geo_platform_tests.fixtures.lifecycle import (
    audit_rows,
    delete_collections,
    lifecycle_env,
    listing,
    publish,
)

FILES = {
    "solo/kinked.geojson": "vectors/geojson_invalid/switzerlandKinked.geojson",
    "keep/kinked.geojson": "vectors/geojson_invalid/switzerlandKinked.geojson",
    "trio/trio.geojson": "vectors/misc/trio.geojson",
}


@pytest.fixture(scope="module")
def env(tmp_path_factory, pg_dsn: str, settings: Settings):
    tmp = tmp_path_factory.mktemp("unpublish_vector")
    prefix = f"lv{uuid.uuid4().hex[:6]}"
    schema = f"geo_{prefix}"
    store, resources = lifecycle_env(tmp / "blobs", pg_dsn, settings, schema)
    for name, rel in FILES.items():
        store.upload_file("bronze", f"{prefix}/{name}", TESTDATA / rel)
    keys = [f"{prefix}/{n}" for n in FILES]
    with dg.instance_for_test() as inst:
        publish(inst, resources, "vector", keys)
        yield {"inst": inst, "store": store, "resources": resources, "prefix": prefix,
               "schema": schema, "dsn": pg_dsn}  # fmt: skip
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    delete_collections(pg_dsn, sorted({naming.collection_id(k) for k in keys}))


def _items(env: dict[str, Any], name: str) -> list[tuple[str, str]]:
    with psycopg.connect(env["dsn"]) as conn:
        return sorted(items_of_source(conn, f"{env['prefix']}/{name}"))


def _run(env: dict[str, Any], collection: str, ids: list[str], **config: Any):
    return unpublish_vector.execute_in_process(
        run_config=unpublish_run_config("vector", item_ids=ids, collection=collection, **config),
        instance=env["inst"], resources=env["resources"],
    )  # fmt: skip


def _rows(env: dict[str, Any], table: str) -> int | None:
    with psycopg.connect(env["dsn"]) as conn:
        if not table_exists(conn, env["schema"], table):
            return None
        q = sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(env["schema"]), sql.Identifier(table)
        )
        return conn.execute(q).fetchone()[0]


def _silver(env: dict[str, Any], name: str) -> dict[str, tuple[int, str]]:
    prefix = naming.silver_prefix(f"{env['prefix']}/{name}") + "/"
    return listing(env["store"], "silver", prefix)


def test_dry_run_real_run_and_rerun(env: dict[str, Any]) -> None:
    [(collection, table)] = _items(env, "solo/kinked.geojson")
    bronze = listing(env["store"], "bronze")
    silver = _silver(env, "solo/kinked.geojson")
    assert set(silver) == {
        f"{naming.silver_prefix(env['prefix'] + '/solo/kinked.geojson')}/{p}"
        for p in (f"{table}.parquet", f"stac/{table}.json")
    }
    dry = _run(env, collection, [table]).output_for_node("unpublish_vector_items")
    [item] = dry["items"]
    assert item["tables"] == [{"table": f"{env['schema']}.{table}", "rows": 1}]
    assert {b["path"]: b["size"] for b in item["blobs"]} == {p: s for p, (s, _) in silver.items()}
    assert dry["collection"]["would_be_deleted"] and dry["totals"]["rows"] == 1
    assert _rows(env, table) == 1 and _silver(env, "solo/kinked.geojson") == silver
    # Real run.
    res = _run(env, collection, [table], dry_run=False, reason="retired")
    assert res.output_for_node("unpublish_vector_items")["result"]["collection_deleted"]
    assert _rows(env, table) is None
    assert _silver(env, "solo/kinked.geojson") == {}
    assert _items(env, "solo/kinked.geojson") == []
    assert listing(env["store"], "bronze") == bronze
    [row] = audit_rows(env["dsn"], collection, table)
    assert row["inventory"]["tables"] == [{"table": f"{env['schema']}.{table}", "rows": 1}]
    assert row["original_item"]["id"] == table and row["kind"] == "vector"
    key = naming.partition_key_for_blob(f"{env['prefix']}/solo/kinked.geojson")
    for asset in ("vector_table", "vector_stac_item"):
        [rec] = (
            env["inst"]
            .fetch_observations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]), limit=5
            )
            .records
        )
        assert rec.asset_observation.metadata["status"].value == "unpublished"
    again = _run(env, collection, [table], dry_run=False)
    assert again.output_for_node("unpublish_vector_items")["noop"]
    assert len(audit_rows(env["dsn"], collection, table)) == 1


def test_drop_table_false_keeps_the_table(env: dict[str, Any]) -> None:
    [(collection, table)] = _items(env, "keep/kinked.geojson")
    _run(env, collection, [table], dry_run=False, drop_table=False)
    assert _rows(env, table) == 1  # kept, with its rows
    assert _silver(env, "keep/kinked.geojson") == {}  # blobs were not kept
    assert _items(env, "keep/kinked.geojson") == []
    [row] = audit_rows(env["dsn"], collection, table)
    assert row["drop_table"] is False


def test_one_layer_of_a_multi_table_source(env: dict[str, Any]) -> None:
    """Only that layer's table and files go; its siblings and the shared folder stay."""
    items = _items(env, "trio/trio.geojson")
    assert len(items) == 3  # one file split by geometry dimension
    collection = items[0][0]
    first, rest = items[0][1], [i for _, i in items[1:]]
    res = _run(env, collection, [first], dry_run=False)
    assert not res.output_for_node("unpublish_vector_items")["result"]["collection_deleted"]
    silver = _silver(env, "trio/trio.geojson")
    assert not any(first in p for p in silver)
    assert all(any(t in p for p in silver) for t in rest)
    assert _rows(env, first) is None and all(_rows(env, t) for t in rest)
    key = naming.partition_key_for_blob(f"{env['prefix']}/trio/trio.geojson")
    [rec] = (
        env["inst"]
        .fetch_observations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("vector_table"), asset_partitions=[key]),
            limit=5,
        )
        .records
    )
    assert rec.asset_observation.metadata["status"].value == "partially unpublished"
    # The last layers take the whole folder and the collection with them.
    _run(env, collection, rest, dry_run=False)
    assert _silver(env, "trio/trio.geojson") == {}
    with psycopg.connect(env["dsn"]) as conn:
        assert pgstac.get_collection(conn, collection) is None
