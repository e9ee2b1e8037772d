"""Bronze assets inventory real files, batch partitions per run, and fail exactly the bad ones."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from geo_platform.defs.bronze.assets import bronze_inventory
from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.defs.pipeline import raster_files, vector_files
from geo_platform.lib.naming import partition_key_for_blob
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource, PostGISResource
from geo_platform_tests.fixtures.helpers import TESTDATA

FILES = {
    "r/rgb.tif": ("raster", "rasters/rgb_uint8/RGB.byte.tif"),
    "r/truncated.tif": ("raster", "rasters/corrupt/RGB.byte.truncated-50pct.tif"),
    "r/hills.img": ("raster", "rasters/non_tiff/dem_azimuth50_pa.img"),
    "v/ynp.gpkg": ("vector", "vectors/gpkg_multilayer/ynp_features.gpkg"),
    "v/world.zip": ("vector", "vectors/shp_zip_with_prj/naturalearth_lowres.zip"),
    "v/badzip.zip": ("vector", "vectors/misc/badzip.zip"),
    "v/actually_a_tiff.geojson": ("vector", "rasters/rgb_uint8/RGB.byte.tif"),
}


@pytest.fixture
def setup(tmp_path: Path, pg_dsn: str):
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store.ensure_container("bronze")
    for blob, (_, rel) in FILES.items():
        store.upload_file("bronze", blob, TESTDATA / rel)
    with dg.instance_for_test() as inst:
        for kind in ("raster", "vector"):
            keys = [b for b, (k, _) in FILES.items() if k == kind]
            inst.add_dynamic_partitions(PARTITIONS[kind].name, keys)
        # Bronze runs in each kind's file pipeline, whose later stages need the databases.
        yield inst, {"blob_store": store, "platform": PlatformResource(),
                     "pgstac": PgSTACResource(database_url=pg_dsn),
                     "postgis": PostGISResource(database_url=pg_dsn)}  # fmt: skip


def _run_range(inst, resources, asset, kind):
    keys = inst.get_dynamic_partitions(PARTITIONS[kind].name)
    return dg.materialize(
        [asset],
        selection=[f"bronze_{kind}"],
        instance=inst,
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        },
        raise_on_error=False,
    )


def test_raster_batch_materializes_good_files_and_fails_bad_ones(setup):
    inst, resources = setup
    result = _run_range(inst, resources, raster_files, "raster")
    assert not result.success
    mats = {
        m.partition: m.metadata
        for m in (e.materialization for e in result.get_asset_materialization_events())
    }
    assert set(mats) == {"r/rgb.tif", "r/hills.img"}
    rgb = mats["r/rgb.tif"]
    assert rgb["format"].value == "GTiff" and rgb["width"].value == 791 and rgb["bands"].value == 3
    assert rgb["crs"].value == "EPSG:32618" and len(rgb["sha256"].value) == 64
    assert mats["r/hills.img"]["format"].value == "HFA"
    status = inst.get_status_by_partition(
        dg.AssetKey("bronze_raster"), list(FILES)[:3], PARTITIONS["raster"]
    )
    assert status["r/truncated.tif"].value == "FAILED"
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert "r/truncated.tif" in failure.metadata["failed_files"].value
    assert "r/truncated.tif" in failure.description


def test_vector_batch(setup):
    inst, resources = setup
    result = _run_range(inst, resources, vector_files, "vector")
    mats = {
        m.partition: m.metadata
        for m in (e.materialization for e in result.get_asset_materialization_events())
    }
    assert set(mats) == {"v/ynp.gpkg", "v/world.zip"}
    assert mats["v/ynp.gpkg"]["features"].value == 1 + 2021 + 1399
    assert mats["v/world.zip"]["features"].value == 177
    failed = (
        result.get_step_failure_events()[0]
        .step_failure_data.user_failure_data.metadata["failed_files"]
        .value
    )
    assert "zip" in failed["v/badzip.zip"]
    assert "FormatMismatchError" in failed["v/actually_a_tiff.geojson"]


def test_inventory_summarises_container(setup):
    inst, resources = setup
    resources["blob_store"].upload_bytes("bronze", "x/notes.docx", b"hello")
    _run_range(inst, resources, raster_files, "raster")
    # Kinds the sensor found beyond the name: a zip of rasters, a file without an extension.
    for blob in ("r/scan.zip", "r/elevation_export"):
        resources["blob_store"].upload_bytes("bronze", blob, b"PK\x05\x06" + bytes(18))
        inst.add_dynamic_partitions(PARTITIONS["raster"].name, [partition_key_for_blob(blob)])
    result = dg.materialize([bronze_inventory], instance=inst, resources=resources)
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["files_raster"].value == 5 and meta["files_vector"].value == 4
    assert "raster:.zip" in meta["by_format"].value and "raster:(none)" in meta["by_format"].value
    assert list(meta["unsupported"].value) == ["x/notes.docx"]
    assert meta["failed_partitions"].value == {"raster": ["r/truncated.tif"]}
