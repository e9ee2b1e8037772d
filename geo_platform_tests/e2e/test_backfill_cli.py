"""`geo-platform backfill` launches a real asset backfill through the running webserver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from geo_platform.app.backfill import split_removed
from geo_platform.definitions import build_resources, defs
from geo_platform.defs.bronze.partitions import bronze_raster_partitions
from geo_platform.lib import naming
from geo_platform.settings import REPO_ROOT, load_settings
from geo_platform.store import pgstac
from geo_platform_tests.e2e.processes import dagster_dev
from geo_platform_tests.fixtures.helpers import TESTDATA

pytestmark = pytest.mark.slow
SOURCES = ["rasters/rgb_uint8/RGB.byte.tif", "rasters/palette/storml_tcc.tif",
           "rasters/dem_float32/dem-hills.tiff"]  # fmt: skip


@pytest.fixture(scope="module")
def bronze_only(pg_instance, pg_dsn, tmp_path_factory) -> Iterator[dict]:
    """Three bronze rasters inventoried, nothing published yet."""
    root = tmp_path_factory.mktemp("bf_blobs")
    prefix = f"bf{uuid.uuid4().hex[:6]}/imagery"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GEO_PLATFORM_BLOB_ROOT", str(root))
        resources = build_resources(load_settings())
    store = resources["blob_store"]
    store.ensure_container("bronze")
    keys = []
    for rel in SOURCES:
        blob = f"{prefix}/{Path(rel).name}"
        store.upload_file("bronze", blob, TESTDATA / rel)
        keys.append(naming.partition_key_for_blob(blob))
    pg_instance.add_dynamic_partitions(bronze_raster_partitions.name, keys)
    tags = {"dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1]}  # fmt: skip
    res = defs.resolve_job_def("bronze_raster_job").execute_in_process(
        instance=pg_instance, tags=tags, resources=resources
    )
    assert res.success
    yield {"root": root, "prefix": prefix, "keys": keys}
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(
            "SELECT pgstac.delete_collection(id) FROM pgstac.collections WHERE id = %s",
            (naming.collection_id(f"{prefix}/x.tif"),),
        )
        conn.commit()


@pytest.fixture(scope="module")
def ui(bronze_only, pg_instance_env, tmp_path_factory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("bf_dev")
    env = {**os.environ, **pg_instance_env, "GEO_PLATFORM_BLOB_ROOT": str(bronze_only["root"])}
    log = tmp / "dagster_dev.log"
    with dagster_dev(env, log) as url:
        port = url.rsplit(":", 1)[1]
        yield {"env": {**env, "GEO_PLATFORM_UI_PORT": port}, "log": log}


def test_backfill_cli_publishes_the_prefix(ui, bronze_only, pg_dsn):
    prefix = bronze_only["prefix"]
    proc = subprocess.run(
        [sys.executable, "-m", "geo_platform.cli.main", "backfill", "--select",
         "raster_cog,raster_stac_item", "--prefix", prefix, "--json"],
        cwd=REPO_ROOT, env=ui["env"], capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr + ui["log"].read_text()[-2000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines[0]["partitions"] == 3
    assert lines[-1]["status"] in ("COMPLETED", "COMPLETED_SUCCESS")
    assert lines[-1]["per_asset"]["raster_stac_item"]["materialized"] == 3
    with psycopg.connect(pg_dsn) as conn:
        ids = pgstac.item_ids(conn, naming.collection_id(f"{prefix}/x.tif"))
    assert len(ids) == 3
    with dg.DagsterInstance.from_config(ui["env"]["DAGSTER_HOME"]) as inst:
        backfills = inst.get_backfills()
    assert any(b.backfill_id == lines[0]["backfill_id"] and b.is_asset_backfill for b in backfills)


def test_backfill_all_skips_files_removed_from_bronze(ui, bronze_only, pg_dsn):
    """A file removed from bronze keeps its partition but is left out of `--all`, and said;
    the others are published (they used to fail with NotFoundError)."""
    prefix = bronze_only["prefix"]
    removed = bronze_only["keys"][1]
    store = _resources_for(bronze_only["root"])["blob_store"]
    assert store.delete("bronze", naming.blob_for_partition_key(removed))
    proc = subprocess.run(
        [sys.executable, "-m", "geo_platform.cli.main", "backfill", "--select",
         "raster_cog,raster_stac_item", "--all", "--json"],
        cwd=REPO_ROOT, env=ui["env"], capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr + ui["log"].read_text()[-2000:]
    assert "1 file(s) removed from bronze" in proc.stderr and removed in proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines[0]["partitions"] == 2 and lines[0]["skipped_removed"] == [removed]
    assert lines[-1]["per_asset"]["raster_stac_item"] == {
        "targeted": 2, "materialized": 2, "failed": 0, "in_progress": 0
    }  # fmt: skip
    kept = [k for k in bronze_only["keys"] if k != removed]
    with psycopg.connect(pg_dsn) as conn:
        ids = set(pgstac.item_ids(conn, naming.collection_id(f"{prefix}/x.tif")))
    assert {naming.item_id(naming.blob_for_partition_key(k)) for k in kept} <= ids


def _resources_for(root: Path) -> dict:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GEO_PLATFORM_BLOB_ROOT", str(root))
        return build_resources(load_settings())


def test_split_removed_lists_once_and_keeps_order(tmp_path):
    from geo_platform.resources.blob_store import LocalBlobStore

    store = LocalBlobStore(root=str(tmp_path))
    store.ensure_container("bronze")
    for blob in ("a/b/one.tif", "a/b/c/two.tif", "a/three.tif", "a/bc/four.tif"):
        store.upload_bytes("bronze", blob, b"x")
    blobs = ("a/b/one.tif", "a/b/gone.tif", "a/b/c/two.tif", "a/three.tif", "a/bc/four.tif")
    keys = [naming.partition_key_for_blob(b) for b in blobs]
    kept, removed = split_removed(store, "bronze", keys)
    assert kept == [keys[0], keys[2], keys[3], keys[4]] and removed == [keys[1]]
    # Files of one folder: only that folder is listed ("a/bc/" is not under "a/b/").
    assert split_removed(store, "bronze", [keys[0], keys[1]]) == ([keys[0]], [keys[1]])
    assert split_removed(store, "bronze", []) == ([], [])


def test_backfill_cli_rejects_unknown_partitions(ui):
    proc = subprocess.run(
        [sys.executable, "-m", "geo_platform.cli.main", "backfill", "--select", "raster_cog",
         "--partitions", "no/such/file.tif"],
        cwd=REPO_ROOT, env=ui["env"], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "unknown partitions" in proc.stderr + proc.stdout
