"""The janitor never deletes live data (issue 17).

What we saw: after one ``analysis.tif`` of a published raster was removed by hand, ``janitor
--apply`` deleted that item's lossless ``archive.tif``, its ``visualization.tif``, its thumbnail,
the item and the whole collection. Here a raster is published through the real pipeline, one
asset file is removed, and the janitor runs exactly as ``geo-platform janitor --apply`` does
(the ``janitor`` job, not a dry run): everything else must still be there, and the report
(JSON and text) must say what is missing and how to rebuild it.
"""

from __future__ import annotations

import os
import shlex
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from geo_platform.cli.lifecycle import janitor_lines
from geo_platform.defs.lifecycle.jobs import janitor, janitor_run_config
from geo_platform.lib import naming
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.settings import Settings
from geo_platform.store import pgstac
from geo_platform.workflows.janitor import find_orphans, remove_orphans
from geo_platform_tests.fixtures.lifecycle import (
    audit_rows,
    delete_collections,
    lifecycle_env,
    listing,
    make_raster,
    publish,
)

OLD = time.time() - 3 * 24 * 3600  # three days ago: older than any threshold used here


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, pg_dsn: str, settings: Settings):
    tmp = tmp_path_factory.mktemp("janitor_safety")
    prefix = f"js{uuid.uuid4().hex[:6]}"
    schema = f"geo_{prefix}"
    store, resources = lifecycle_env(tmp / "blobs", pg_dsn, settings, schema)
    # Each raster alone in its collection: deleting the item would delete the collection too.
    rasters = [f"{prefix}/damaged/a.tif", f"{prefix}/orphaned/b.tif"]
    for i, key in enumerate(rasters):
        store.upload_file("bronze", key, make_raster(tmp / f"r{i}.tif", seed=40 + i))
    with dg.instance_for_test() as inst:
        publish(inst, resources, "raster", rasters)
        yield {"inst": inst, "store": store, "resources": resources, "prefix": prefix,
               "dsn": pg_dsn, "rasters": rasters, "tmp": tmp}  # fmt: skip
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    delete_collections(pg_dsn, sorted({naming.collection_id(k) for k in rasters}))


def _apply(env: dict[str, Any]) -> dict[str, Any]:
    """``geo-platform janitor --apply`` (threshold 1 h; our own temp folder, never /tmp)."""
    res = janitor.execute_in_process(
        run_config=janitor_run_config(
            dry_run=False, older_than_hours=1, temp_dirs=[str(env["tmp"] / "temp")]
        ),
        instance=env["inst"],
        resources=env["resources"],
    )
    assert res.success
    return res.output_for_node("janitor_sweep")


def _age(store: LocalBlobStore, container: str, prefix: str) -> None:
    """Make every blob under ``prefix`` look three days old (past the janitor's threshold)."""
    for path in listing(store, container, prefix):
        os.utime(Path(store.href(container, path)), (OLD, OLD))


def _ours(report: dict[str, Any], blob: str) -> dict[str, Any]:
    [found] = [
        d
        for d in report["dangling_items"]
        if (d["collection"], d["id"]) == (naming.collection_id(blob), naming.item_id(blob))
    ]
    return found


def test_a_missing_asset_never_costs_the_other_assets_the_item_or_the_collection(
    env: dict[str, Any],
) -> None:
    store, blob = env["store"], env["rasters"][0]
    folder = naming.silver_prefix(blob)
    _age(store, "silver", folder + "/")
    before = listing(store, "silver", folder + "/")
    assert {p.rsplit("/", 1)[-1] for p in before} >= {
        "analysis.tif", "archive.tif", "visualization.tif", "thumbnail.png"
    }  # fmt: skip
    assert store.delete("silver", f"{folder}/analysis.tif")  # removed by hand

    report = _apply(env)

    after = listing(store, "silver", folder + "/")
    assert after == {p: v for p, v in before.items() if p != f"{folder}/analysis.tif"}
    with psycopg.connect(env["dsn"]) as conn:
        assert pgstac.get_item(conn, naming.collection_id(blob), naming.item_id(blob))
        assert pgstac.get_collection(conn, naming.collection_id(blob))
    assert audit_rows(env["dsn"], naming.collection_id(blob), naming.item_id(blob)) == []
    # Reported: what is missing, what is intact, and how to rebuild it from bronze.
    damaged = _ours(report, blob)
    assert damaged["missing_assets"] == ["analysis"]
    assert {"archive", "visualization", "thumbnail"} <= set(damaged["intact_assets"])
    assert damaged["source_blob"] == blob and damaged["bronze"] == "present"
    assert shlex.split(damaged["remedy"]) == [
        "geo-platform", "backfill", "--select", "raster_cog,raster_stac_item",
        "--partitions", blob,
    ]  # fmt: skip
    removed = report["removed"]
    assert "items_unpublished" not in removed and removed["blobs_deleted"] == 0
    text = "\n".join(janitor_lines(report))
    item = f"{naming.collection_id(blob)}/{naming.item_id(blob)}"
    assert f"STAC item {item}: asset(s) missing: analysis" in text
    assert "kept" in text and damaged["remedy"] in text


def test_bronze_gone_and_strays_are_reported_and_nothing_is_removed(env: dict[str, Any]) -> None:
    store, blob = env["store"], env["rasters"][1]
    folder = naming.silver_prefix(blob)
    _age(store, "silver", folder + "/")
    assert store.delete("silver", f"{folder}/visualization.tif")
    assert store.delete("bronze", blob)  # and its bronze file is gone too
    # Files outside any source folder (another tool's output): strays, left alone, listed.
    strays = [f"{env['prefix']}-reports/summary.csv", f"{env['prefix']}-reports/old/x.json"]
    for path in strays:
        store.upload_bytes("silver", path, b"someone else's")
        os.utime(Path(store.href("silver", path)), (OLD, OLD))
    before = listing(store, "silver")

    report = _apply(env)

    assert listing(store, "silver") == before
    with psycopg.connect(env["dsn"]) as conn:
        assert pgstac.get_item(conn, naming.collection_id(blob), naming.item_id(blob))
    damaged = _ours(report, blob)
    assert damaged["missing_assets"] == ["visualization"] and damaged["bronze"] == "gone"
    assert "unpublish" in damaged["remedy"] and "backfill" not in damaged["remedy"]
    assert set(strays) <= {b["path"] for b in report["strays"]}
    text = janitor_lines(report)
    for path in strays:
        assert any(path in line and "stray" in line for line in text)
    assert any("bronze file gone" in line for line in text)


# --- the workflow alone (no Dagster): folders a live item uses, blobs changed since the scan ---
def _old_blob(store: LocalBlobStore, path: str, data: bytes = b"x") -> str:
    store.upload_bytes("silver", path, data)
    os.utime(Path(store.href("silver", path)), (OLD, OLD))
    return path


def test_a_folder_a_live_item_uses_is_live_and_a_changed_blob_is_kept(
    blob_store: LocalBlobStore, pg_dsn: str, bronze_folder: str, drop_collection: Any
) -> None:
    store, cid = blob_store, f"{bronze_folder}-mosaic"
    drop_collection(cid)
    # An item that records no source blob (made by another tool, or before provenance was
    # recorded), in a folder recognised as a source folder by its stac/ JSON.
    live = f"{bronze_folder}/mosaic"
    used = _old_blob(store, f"{live}/mosaic.tif")
    siblings = [_old_blob(store, f"{live}/manifest.json"), _old_blob(store, f"{live}/stac/m.json")]
    gone = f"{bronze_folder}/gone/x.tif"  # a source unpublished long ago: its leftovers go
    leftovers = [_old_blob(store, f"{gone}/analysis.tif"), _old_blob(store, f"{gone}/stac/x.json")]
    item = {
        "type": "Feature", "stac_version": "1.1.0", "id": "m", "collection": cid,
        "geometry": {"type": "Point", "coordinates": [0, 0]}, "bbox": [0, 0, 0, 0],
        "properties": {"datetime": "2026-11-01T00:00:00Z"}, "links": [],
        "assets": {"data": {"href": store.href("silver", used), "roles": ["data"]}},
    }  # fmt: skip
    collection = {
        "type": "Collection", "stac_version": "1.1.0", "id": cid, "description": "t",
        "license": "other", "links": [],
        "extent": {"spatial": {"bbox": [[0, 0, 0, 0]]},
                   "temporal": {"interval": [[None, None]]}},
    }  # fmt: skip
    with psycopg.connect(pg_dsn) as conn:
        pgstac.upsert_collection(conn, collection)
        pgstac.upsert_items(conn, [item])
        conn.commit()
        found = find_orphans(
            conn,
            store,
            silver_container="silver",
            geo_schema=f"geo_{bronze_folder}",  # no such schema: no staging tables to drop
            older_than=timedelta(hours=1),
            bronze_container="bronze",
        )
        assert {b.path for b in found.unreferenced_blobs} == set(leftovers)
        assert found.skipped["in_published_folder"] == len(siblings)
        # A publish rewrites one of the leftovers between the scan and the removal: kept.
        store.upload_bytes("silver", leftovers[0], b"republished")
        done = remove_orphans(found, conn, store, silver_container="silver")
        conn.rollback()
    assert done["blobs_deleted"] == 1 and done["blobs_changed_since_scan"] == 1
    assert store.exists("silver", leftovers[0]) and not store.exists("silver", leftovers[1])
    assert all(store.exists("silver", p) for p in [used, *siblings])
