"""The bronze sensor on a real Dagster instance and a real local blob store."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import dagster as dg
import pytest

from geo_platform.definitions import defs
from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.defs.bronze.sensors import bronze_sensor, bronze_tick, contiguous_ranges
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.naming import blob_for_partition_key, partition_key_for_blob
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.resources.databases import PlatformResource
from geo_platform_tests.fixtures.helpers import TESTDATA
from geo_platform_tests.workflows.test_tar_archives import _scene_tar, _shapefile_tgz

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


def test_a_batch_is_capped_in_files_and_bytes():
    """Small files share runs; a file over the byte cap runs alone; a gap in the partition order
    always starts a new run."""
    order = {k: i for i, k in enumerate("abcdefgh")}
    sizes = {"a": 10, "b": 10, "c": 100, "d": 5, "e": 5, "f": 5, "g": 5, "h": 5}
    keys = [k for k in order if k != "g"]
    assert contiguous_ranges(order, keys, 2, sizes, 30) == [
        ["a", "b"], ["c"], ["d", "e"], ["f"], ["h"]
    ]  # fmt: skip
    capped = [["a", "b"], ["c"], ["d", "e", "f"], ["h"]]
    assert contiguous_ranges(order, keys, 10, sizes, 30) == capped
    assert contiguous_ranges(order, keys, 10) == [["a", "b", "c", "d", "e", "f"], ["h"]]


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


# --- no blob can stop a tick (issue 17) ------------------------------------------------------
def _reported(res: dg.SensorResult, key: str = "unsupported_files") -> dict[str, str]:
    out: dict[str, str] = {}
    for e in res.asset_events:
        if e.asset_key == dg.AssetKey("bronze_inventory") and key in e.metadata:
            out.update(e.metadata[key].value)
    return out


def test_unsafe_names_are_reported_and_the_rest_of_the_tick_goes_on(instance, store):
    """A folder named ``a\\..`` (a backslash name, legal on a local disk) made the marker lookup
    raise UnsafePathError for the whole tick; a non-UTF-8 name broke run keys."""
    root = Path(store.root) / "bronze"
    (root / "a\\..").mkdir()
    (root / "a\\.." / "b.kml").write_bytes(b"<kml/>")
    (root / "raw").mkdir()
    (root / "raw" / "x.tif").write_bytes(RGB.read_bytes())
    with open(os.fsencode(root / "raw") + b"/bad\xff.tif", "wb") as fh:  # not UTF-8
        fh.write(RGB.read_bytes())
    store.upload_file("bronze", "good/ok.tif", RGB)
    res = _tick(instance, store, batch=1)
    assert sorted(r.partition_key for r in res.run_requests) == ["good/ok.tif", "raw/x.tif"]
    assert set(instance.get_dynamic_partitions(PARTITIONS["raster"].name)) == {
        "good/ok.tif",
        "raw/x.tif",
    }
    reported = _reported(res)
    assert "'..' segments" in reported["a\\../b.kml"]
    assert "not valid UTF-8" in reported["raw/bad\\udcff.tif"]
    # reported once; the cursor holds them, the next tick is quiet
    again = _tick(instance, store, res.cursor)
    assert again.run_requests == [] and not _reported(again)


def test_unreadable_collection_marker_skips_only_its_folder(instance, store, monkeypatch):
    """A marker lookup that fails (here: the store refuses the lookup for one folder) skips
    that folder's blobs for this tick, reported, and they are judged again next tick."""
    store.upload_file("bronze", "broken/a.tif", RGB)
    store.upload_file("bronze", "fine/b.tif", RGB)
    real_stat = LocalBlobStore.stat

    def failing_stat(self, container, path):
        if path == "broken/_collection.json":
            raise PermissionError(13, "Permission denied", path)
        return real_stat(self, container, path)

    monkeypatch.setattr(LocalBlobStore, "stat", failing_stat)
    res = _tick(instance, store)
    assert [r.partition_key for r in res.run_requests] == ["fine/b.tif"]
    assert "raster collection" in _reported(res, "skipped_files")["broken/a.tif"]
    monkeypatch.setattr(LocalBlobStore, "stat", real_stat)
    again = _tick(instance, store, res.cursor)
    assert [r.partition_key for r in again.run_requests] == ["broken/a.tif"]


class _FlakyStore(LocalBlobStore):
    """The real local store, whose listing fails inside one folder (a permission error cannot
    be produced as root, and a real Azure page can fail the same way)."""

    failing: str = "b/"

    def list_blobs(self, container, prefix=""):
        for blob in super().list_blobs(container, prefix):
            if blob.path.startswith(self.failing):
                raise PermissionError(13, "Permission denied", blob.path)
            yield blob


def test_a_listing_error_on_one_prefix_skips_only_that_prefix(instance, tmp_path):
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store.ensure_container("bronze")
    for folder in ("a", "b", "c"):
        store.upload_file("bronze", f"{folder}/one.tif", RGB)
    first = _tick(instance, store, batch=1)
    assert len(first.run_requests) == 3
    for folder in ("a", "b", "c"):
        store.upload_file("bronze", f"{folder}/two.tif", RGB)
    flaky = _FlakyStore(root=store.root)
    res = _tick(instance, flaky, first.cursor, batch=1)
    assert sorted(r.partition_key for r in res.run_requests) == ["a/two.tif", "c/two.tif"]
    errors = _reported(res, "listing_errors")
    assert any("Permission denied" in e for e in errors.values()) and "b/" in errors
    assert not [e for e in res.asset_events if e.asset_key == dg.AssetKey("bronze_raster")]
    # b/ is not reported removed, and is picked up once it lists again
    healed = _tick(instance, store, res.cursor)
    assert [r.partition_key for r in healed.run_requests] == ["b/two.tif"]


def test_a_store_that_lists_nothing_fails_the_tick(instance, tmp_path):
    """An outage is not a tick with an empty listing: the tick fails (and shows as failed)."""
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store.ensure_container("bronze")
    store.upload_file("bronze", "a/one.tif", RGB)
    first = _tick(instance, store)
    down = _FlakyStore(root=store.root, failing="")
    with pytest.raises(PermissionError):
        bronze_tick(instance, down, PlatformResource(), first.cursor, None)


def test_blobs_are_recognised_by_content_not_extension(instance, store, tmp_path):
    store.upload_file("bronze", "cogs/dem.cog", RGB)
    store.upload_file("bronze", "cogs/scene", RGB)  # no extension
    store.upload_file("bronze", "cogs/scene.data", RGB)  # unknown extension
    store.upload_file("bronze", "v/parks.export", GPKG)
    store.upload_bytes("bronze", "v/page", b"<!DOCTYPE html><html><body>404</body></html>")
    tar, _ = _scene_tar(tmp_path)  # a Landsat-like scene, and Shapefiles in a .tgz
    store.upload_file("bronze", "landsat/scene.tar", tar)
    store.upload_file("bronze", "v/wells.tgz", _shapefile_tgz(tmp_path))
    res = _tick(instance, store, batch=1)
    assert set(instance.get_dynamic_partitions(PARTITIONS["raster"].name)) == {
        "cogs/dem.cog",
        "cogs/scene",
        "cogs/scene.data",
        "landsat/scene.tar",
    }
    assert set(instance.get_dynamic_partitions(PARTITIONS["vector"].name)) == {
        "v/parks.export",
        "v/wells.tgz",
    }
    assert "HTML" in _reported(res)["v/page"]


@pytest.mark.azurite
def test_unsafe_azure_name_does_not_stop_the_tick(instance, azurite_connection_string):
    """Azure turns the backslashes of an uploaded ``a\\..\\..\\c.kml`` into ``a/../../c.kml``:
    the tick reports it and publishes the good file uploaded beside it."""
    from azure.storage.blob import BlobServiceClient

    from geo_platform.resources.blob_store import AzureBlobStore

    container = f"bronze-{uuid.uuid4().hex[:8]}"
    store = AzureBlobStore(connection_string=azurite_connection_string)
    store.ensure_container(container)
    raw = BlobServiceClient.from_connection_string(azurite_connection_string)
    raw.get_container_client(container).upload_blob("a\\..\\..\\c.kml", b"<kml/>")
    store.upload_file(container, "rasters/good.tif", RGB)
    try:
        listed = [b.path for b in store.list_blobs(container)]
        assert "a/../../c.kml" in listed
        ctx = dg.build_sensor_context(
            instance=instance,
            instance_ref=instance.get_ref(),
            resources={
                "blob_store": store,
                "platform": PlatformResource(bronze_container=container),
            },
            definitions=defs,
        )
        res = bronze_sensor.evaluate_tick(ctx)
        assert [(r.job_name, r.partition_key) for r in res.run_requests] == [
            ("raster_pipeline_job", "rasters/good.tif")
        ]
        (add,) = res.dynamic_partitions_requests
        assert list(add.partition_keys) == ["rasters/good.tif"]
        assert "'..' segments" in _reported(res)["a/../../c.kml"]
    finally:
        raw.delete_container(container)


def test_odd_files_pass_sensor_and_bronze_stage(instance, store, tmp_path):
    """The real-world misses of issue 17, from upload through the sensor to the bronze stage's
    inventory: a GeoTIFF named .cog, an SRTM zip, names with ';' (raster and vector), a zipped
    Shapefile in a subfolder."""
    import zipfile

    import numpy as np

    hgt = tmp_path / "N45E006.hgt"
    (np.arange(1201 * 1201) % 900).astype(">i2").tofile(hgt)
    srtm = tmp_path / "N45E006.hgt.zip"
    with zipfile.ZipFile(srtm, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(hgt, "N45E006.hgt")
    shp_zip = tmp_path / "parcels.zip"
    with (
        zipfile.ZipFile(shp_zip, "w") as zf,
        zipfile.ZipFile(TESTDATA / "vectors/shp_zip_with_prj/naturalearth_lowres.zip") as src,
    ):
        for info in src.infolist():
            zf.writestr(f"export/2024/{info.filename}", src.read(info))
    uploads = {
        "odd/dem.cog": RGB,
        "odd/N45E006.hgt.zip": srtm,
        "odd/a;b, c#1.tif": RGB,
        "odd/v;1, #2.gpkg": GPKG,
        "odd/parcels.zip": shp_zip,
    }
    for blob, src_path in uploads.items():
        store.upload_file("bronze", blob, src_path)
    _tick(instance, store)
    drivers = {}
    for kind in ("raster", "vector"):  # the bronze stage of each partition the tick added
        for key in instance.get_dynamic_partitions(PARTITIONS[kind].name):
            blob = blob_for_partition_key(key)
            with store.local_copy("bronze", blob) as local:
                drivers[key] = inventory_file(local, blob, kind).driver
    assert drivers == {
        "odd/dem.cog": "GTiff",
        "odd/N45E006.hgt.zip": "SRTMHGT",
        "odd/a;b%2C c#1.tif": "GTiff",
        "odd/v;1%2C #2.gpkg": "GPKG",
        "odd/parcels.zip": "ESRI Shapefile",
    }


def test_a_shapefile_runs_again_when_its_dbf_arrives_later(instance, store, tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    gpd.GeoDataFrame({"v": [1]}, geometry=[Point(1, 2)], crs=4326).to_file(tmp_path / "r.shp")
    for ext in (".shp", ".shx", ".prj"):  # the .dbf is still uploading
        store.upload_file("bronze", f"vectors/roads{ext}", tmp_path / f"r{ext}")
    first = _tick(instance, store)
    assert [r.partition_key for r in first.run_requests] == ["vectors/roads.shp"]
    store.upload_file("bronze", "vectors/roads.dbf", tmp_path / "r.dbf")
    second = _tick(instance, store, first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["vectors/roads.shp"]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert "+sidecars:" in second.run_requests[0].run_key
    third = _tick(instance, store, second.cursor)  # nothing changed since: nothing runs
    assert third.run_requests == []


def test_envi_data_files_are_rasters_by_their_header(instance, store, tmp_path):
    """``hyper`` (no extension) and ``scene.dat`` beside their ENVI ``.hdr`` are rasters; the
    ``.dat`` of a MapInfo table stays that table's sidecar."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    for name in ("hyper", "scene.dat"):
        with rasterio.open(tmp_path / name, "w", driver="ENVI", width=8, height=6, count=2,
                           dtype="uint16", crs="EPSG:32631",
                           transform=from_origin(600000, 5800000, 30, 30)) as dst:  # fmt: skip
            dst.write(np.ones((2, 6, 8), "uint16"))
    for f in ("hyper", "hyper.hdr", "scene.dat", "scene.hdr"):
        store.upload_file("bronze", f"envi/{f}", tmp_path / f)
    for f in ("roads.tab", "roads.dat", "roads.map", "roads.id"):
        store.upload_bytes("bronze", f"envi/{f}", b"!table\n")
    _tick(instance, store)
    assert set(instance.get_dynamic_partitions(PARTITIONS["raster"].name)) == {
        "envi/hyper",
        "envi/scene.dat",
    }
    assert instance.get_dynamic_partitions(PARTITIONS["vector"].name) == ["envi/roads.tab"]
