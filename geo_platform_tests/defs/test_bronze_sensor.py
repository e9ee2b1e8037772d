"""The bronze sensor on a real Dagster instance and a real local blob store."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from geo_platform.definitions import defs
from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.defs.bronze.sensors import bronze_sensor
from geo_platform.lib.naming import partition_key_for_blob
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.resources.databases import PlatformResource
from geo_platform_tests.helpers import TESTDATA

RGB = TESTDATA / "rasters/rgb_uint8/RGB.byte.tif"
GPKG = TESTDATA / "vectors/gpkg_multilayer/ynp_features.gpkg"


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    s = LocalBlobStore(root=str(tmp_path / "blobs"))
    s.ensure_container("bronze")
    return s


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def _tick(instance, store, cursor=None, batch=25):
    ctx = dg.build_sensor_context(
        instance=instance,
        instance_ref=instance.get_ref(),
        cursor=cursor,
        resources={"blob_store": store, "platform": PlatformResource(sensor_batch_size=batch)},
        definitions=defs,
    )
    result = bronze_sensor.evaluate_tick(ctx)
    # Apply partition requests as the daemon would.
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    return result


def test_new_files_become_partitions_and_runs(instance, store):
    store.upload_file("bronze", "rasters/a.tif", RGB)
    store.upload_file("bronze", "vectors/ynp.gpkg", GPKG)
    store.upload_bytes("bronze", "docs/readme.docx", b"not geodata")
    store.upload_bytes("bronze", "rasters/a.tif.aux.xml", b"<PAMDataset/>")
    res = _tick(instance, store)
    assert instance.get_dynamic_partitions(PARTITIONS["raster"].name) == ["rasters/a.tif"]
    assert instance.get_dynamic_partitions(PARTITIONS["vector"].name) == ["vectors/ynp.gpkg"]
    jobs = sorted((r.job_name, r.partition_key) for r in res.run_requests)
    assert jobs == [
        ("raster_pipeline_job", "rasters/a.tif"),
        ("vector_pipeline_job", "vectors/ynp.gpkg"),
    ]
    assert all("@" in r.run_key for r in res.run_requests)
    unsupported = [e for e in res.asset_events if e.asset_key == dg.AssetKey("bronze_inventory")]
    assert len(unsupported) == 1
    assert "docs/readme.docx" in unsupported[0].metadata["unsupported_files"].value
    # Re-delivery (same content, same etag) is a no-op; cursor progressed.
    again = _tick(instance, store, res.cursor)
    assert again.run_requests == [] and not again.asset_events
    assert again.cursor == res.cursor


def test_changed_blob_runs_again_with_new_run_key(instance, store):
    store.upload_file("bronze", "rasters/a.tif", RGB)
    first = _tick(instance, store)
    import os
    import time

    path = Path(store.root) / "bronze" / "rasters" / "a.tif"
    time.sleep(0.01)
    with path.open("ab") as fh:
        fh.write(b"\0")
    os.utime(path)
    second = _tick(instance, store, first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["rasters/a.tif"]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert second.dynamic_partitions_requests == [] or all(
        not r.partition_keys for r in second.dynamic_partitions_requests
    )


def test_removed_blob_is_reported_not_deleted(instance, store):
    store.upload_file("bronze", "rasters/a.tif", RGB)
    first = _tick(instance, store)
    store.delete("bronze", "rasters/a.tif")
    second = _tick(instance, store, first.cursor)
    assert second.run_requests == []
    obs = [e for e in second.asset_events if e.asset_key == dg.AssetKey("bronze_raster")]
    assert [o.partition for o in obs] == ["rasters/a.tif"]
    assert "removed" in obs[0].metadata["status"].value
    # The partition (and so the derived data's lineage) is kept.
    assert instance.get_dynamic_partitions(PARTITIONS["raster"].name) == ["rasters/a.tif"]


def test_burst_is_batched_into_partition_ranges(instance, store, tmp_path):
    src = tmp_path / "x.tif"
    shutil.copy(RGB, src)
    for i in range(60):
        store.upload_file("bronze", f"burst/t{i:03d}.tif", src)
    res = _tick(instance, store, batch=25)
    keys = instance.get_dynamic_partitions(PARTITIONS["raster"].name)
    assert len(keys) == 60
    sizes = [int(r.tags.get("geo_platform/files", 1)) for r in res.run_requests]
    assert sizes == [25, 25, 10]
    starts = [r.tags["dagster/asset_partition_range_start"] for r in res.run_requests]
    assert starts == [keys[0], keys[25], keys[50]]


def test_hostile_names_never_crash_the_sensor(instance, store):
    names = [
        "odd/what...now.tif",
        "odd/quote'\"name.tif",
        "odd/ünï cödé.tif",
        "odd/pct%,.tif",
        "odd/" + "l" * 200 + ".tif",
        "odd/zero.tif",
    ]
    for n in names[:-1]:
        store.upload_file("bronze", n, RGB)
    store.upload_bytes("bronze", names[-1], b"")
    res = _tick(instance, store)
    keys = set(instance.get_dynamic_partitions(PARTITIONS["raster"].name))
    assert keys == {partition_key_for_blob(n) for n in names[:-1]}
    inv = [e for e in res.asset_events if e.asset_key == dg.AssetKey("bronze_inventory")]
    assert "odd/zero.tif" in inv[0].metadata["unsupported_files"].value


def test_raster_collection_members_are_left_to_the_collection_asset(instance, store):
    store.upload_file("bronze", "tiles/a.tif", RGB)
    store.upload_bytes("bronze", "tiles/_collection.json", b"{}")
    store.upload_file("bronze", "scenes/b.tif", RGB)
    store.upload_file("bronze", "single/c.tif", RGB)
    ctx = dg.build_sensor_context(
        instance=instance,
        instance_ref=instance.get_ref(),
        resources={"blob_store": store, "platform": PlatformResource(raster_collections="scenes")},
        definitions=defs,
    )
    res = bronze_sensor.evaluate_tick(ctx)
    assert [r.partition_key for r in res.run_requests] == ["single/c.tif"]
    assert not [e for e in res.asset_events if e.asset_key == dg.AssetKey("bronze_inventory")]
