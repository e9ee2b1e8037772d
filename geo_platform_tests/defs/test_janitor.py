"""The janitor on real services: planted orphans are found, reported, and only they removed;
items whose data is partly missing are reported, never removed (nor what is left of them)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from geo_platform.defs.lifecycle.jobs import janitor, janitor_run_config
from geo_platform.lib import naming
from geo_platform.resources.blob_store import LocalBlobStore
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
    make_raster,
    publish,
)

OLD = time.time() - 3 * 24 * 3600  # three days ago


@pytest.fixture(scope="module")
def env(tmp_path_factory, pg_dsn: str, settings: Settings):
    tmp = tmp_path_factory.mktemp("janitor")
    prefix = f"lj{uuid.uuid4().hex[:6]}"
    schema = f"geo_{prefix}"
    store, resources = lifecycle_env(tmp / "blobs", pg_dsn, settings, schema)
    rasters = [f"{prefix}/jan/e.tif", f"{prefix}/jan/f.tif", f"system-{prefix}/s.tif"]
    for i, key in enumerate(rasters):
        store.upload_file("bronze", key, make_raster(tmp / f"r{i}.tif", seed=20 + i))
    vector = f"{prefix}/vec/kinked.geojson"
    store.upload_file(
        "bronze", vector, TESTDATA / "vectors/geojson_invalid/switzerlandKinked.geojson"
    )
    with dg.instance_for_test() as inst:
        publish(inst, resources, "raster", rasters)
        publish(inst, resources, "vector", [vector])
        yield {"inst": inst, "store": store, "resources": resources, "prefix": prefix,
               "schema": schema, "dsn": pg_dsn, "rasters": rasters, "vector": vector,
               "tmp": tmp}  # fmt: skip
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    delete_collections(pg_dsn, sorted({naming.collection_id(k) for k in [*rasters, vector]}))


def _plant_blob(store: LocalBlobStore, path: str, old: bool = True) -> str:
    store.upload_bytes("silver", path, b"leftover")
    if old:
        os.utime(Path(store.href("silver", path)), (OLD, OLD))
    return path


def _run(env: dict[str, Any], dry_run: bool):
    res = janitor.execute_in_process(
        run_config=janitor_run_config(
            dry_run=dry_run, older_than_hours=1, temp_dirs=[str(env["tmp"] / "temp")]
        ),
        instance=env["inst"],
        resources=env["resources"],
    )
    return res.output_for_node("janitor_sweep")


def test_janitor_finds_planted_orphans_and_removes_only_them(env: dict[str, Any]) -> None:
    store, prefix, schema = env["store"], env["prefix"], env["schema"]
    e, f, s = env["rasters"]
    # --- plant ---------------------------------------------------------------------------
    # A derived product of another asset in a published source's folder: not an orphan.
    derived = _plant_blob(store, f"{naming.silver_prefix(e)}/h3/e_res8.parquet")
    fresh = _plant_blob(store, f"{prefix}/young/y.tif/stac/y.tif.json", old=False)
    foreign = _plant_blob(store, "h3/res4.parquet")  # another tool's output: left alone
    failed_run = [  # a silver stage that never reached the catalog, source since deleted
        _plant_blob(store, f"{prefix}/gone/x.tif/analysis.tif"),
        _plant_blob(store, f"{prefix}/gone/x.tif/stac/x.tif.json"),
    ]
    staging_old = _plant_blob(store, "_staging/0123abcd/analysis.tif")
    staging_new = _plant_blob(store, "_staging/4567cdef/analysis.tif", old=False)
    f_cog = f"{naming.silver_prefix(f)}/analysis.tif"
    s_cog = f"{naming.silver_prefix(s)}/analysis.tif"
    assert store.delete("silver", f_cog) and store.delete("silver", s_cog)
    with psycopg.connect(env["dsn"]) as conn:
        [(vcoll, vtable)] = items_of_source(conn, env["vector"])
    uploads = Path(store.root) / "silver" / ".geo-platform-tmp"  # a killed upload's temp file
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / "dead").write_bytes(b"half")
    os.utime(uploads / "dead", (OLD, OLD))
    (uploads / "live").write_bytes(b"in progress")
    temp = env["tmp"] / "temp"
    for name, old in (("cog-dead", True), ("cog-live", False), ("unrelated-dir", True)):
        (temp / name).mkdir(parents=True)
        if old:
            os.utime(temp / name, (OLD, OLD))
    with psycopg.connect(env["dsn"], autocommit=True) as conn:
        for t in ("_stg_dead_1234abcd", "_stg_busy_5678ef01"):
            conn.execute(
                sql.SQL("CREATE TABLE {}.{} (x int)").format(sql.Identifier(schema),
                                                           sql.Identifier(t))
            )  # fmt: skip
        conn.execute(
            sql.SQL("DROP TABLE {}.{}").format(sql.Identifier(schema), sql.Identifier(vtable))
        )
    busy = psycopg.connect(env["dsn"])  # a load in progress holds its staging table
    busy.execute(
        sql.SQL("LOCK TABLE {}.{} IN ACCESS SHARE MODE").format(
            sql.Identifier(schema), sql.Identifier("_stg_busy_5678ef01")
        )
    )
    try:
        before = listing(store, "silver")
        # --- dry run: reports exactly, changes nothing ------------------------------------
        report = _run(env, dry_run=True)
        unref = {b["path"] for b in report["unreferenced_blobs"]}
        assert unref == set(failed_run)
        assert {b["path"] for b in report["staging_blobs"]} == {staging_old}
        assert report["staging_tables"] == [f"{schema}._stg_dead_1234abcd"]
        dangling = {(d["collection"], d["id"]): d for d in report["dangling_items"]
                    if d["collection"] in {naming.collection_id(k) for k in
                                           [e, f, s, env["vector"]]}}  # fmt: skip
        assert set(dangling) == {
            (naming.collection_id(f), naming.item_id(f)),
            (naming.collection_id(s), naming.item_id(s)),
            (vcoll, vtable),
        }
        assert dangling[(naming.collection_id(s), naming.item_id(s))]["protected"]
        assert report["temp_dirs"] == [str(temp / "cog-dead")]
        assert report["upload_leftovers"] == [str(uploads / "dead")]
        assert foreign in {b["path"] for b in report["strays"]}
        assert report["skipped"]["young"] == 2  # the young leftover and staging blob
        assert report["skipped"]["in_published_folder"] == 1  # the H3 aggregate
        assert listing(store, "silver") == before
        # --- apply -------------------------------------------------------------------------
        report = _run(env, dry_run=False)
        after = listing(store, "silver")
        gone = set(before) - set(after)
        # The damaged items keep whatever is left of their data (GeoParquet, JSON, tiers).
        assert gone == {*failed_run, staging_old}
        kept = {derived, fresh, foreign, staging_new, f"{naming.silver_prefix(e)}/analysis.tif"}
        assert kept <= set(after)
        with psycopg.connect(env["dsn"]) as conn:
            assert not table_exists(conn, schema, "_stg_dead_1234abcd")
            assert table_exists(conn, schema, "_stg_busy_5678ef01")
            assert pgstac.get_item(conn, naming.collection_id(f), naming.item_id(f))
            assert pgstac.get_item(conn, naming.collection_id(e), naming.item_id(e))
            assert pgstac.get_item(conn, naming.collection_id(s), naming.item_id(s))  # protected
            assert pgstac.get_item(conn, vcoll, vtable)
        assert audit_rows(env["dsn"], naming.collection_id(f), naming.item_id(f)) == []
        assert not (temp / "cog-dead").exists() and (temp / "cog-live").exists()
        assert (temp / "unrelated-dir").exists()
        assert not (uploads / "dead").exists() and (uploads / "live").exists()
        assert "items_unpublished" not in report["removed"]
        assert report["removed"]["damaged_items_kept"] >= 3
        # A second pass finds nothing new to remove.
        again = _run(env, dry_run=True)
        assert again["unreferenced_blob_count"] == 0 and again["staging_tables"] == []
    finally:
        busy.close()
