"""End to end: a bronze file through the sensor and a real run on a PostgreSQL-backed instance."""

from __future__ import annotations

import gzip
import json
import lzma
import os
import subprocess
import sys
import warnings
import zipfile

import dagster as dg
import pandas as pd
import pyogrio
import pytest

from geo_platform.definitions import build_definitions
from geo_platform.defs.bronze.sensors import bronze_sensor
from geo_platform.settings import REPO_ROOT, load_settings
from geo_platform_tests.fixtures.helpers import TESTDATA
from geo_platform_tests.workflows.test_compressed_files import shapefile_tar
from geo_platform_tests.workflows.test_kmz_overlay import PLACEMARK, kmz, overlay, pyramid_kmz
from geo_platform_tests.workflows.test_sevenzip import bdtopo_7z

pytestmark = pytest.mark.slow


def test_sensor_then_run_on_postgres_instance(pg_instance, local_blob_root, monkeypatch):
    monkeypatch.setenv("GEO_PLATFORM_BLOB_ROOT", str(local_blob_root))
    defs = build_definitions(load_settings())
    resources = defs.resources
    store = resources["blob_store"]
    store.ensure_container("bronze")
    store.upload_file("bronze", "e2e/rgb.tif", TESTDATA / "rasters/rgb_uint8/RGB.byte.tif")

    ctx = dg.build_sensor_context(
        instance=pg_instance,
        instance_ref=pg_instance.get_ref(),
        resources=resources,
        definitions=defs,
    )
    result = bronze_sensor.evaluate_tick(ctx)
    for req in result.dynamic_partitions_requests:
        pg_instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    assert len(result.run_requests) == 1
    rr = result.run_requests[0]
    run = defs.resolve_job_def(rr.job_name).execute_in_process(
        instance=pg_instance, partition_key=rr.partition_key, tags=rr.tags
    )
    assert run.success
    stored = pg_instance.get_run_by_id(run.run_id)
    assert stored is not None and stored.is_success
    event = pg_instance.get_latest_materialization_event(dg.AssetKey("bronze_raster"))
    assert event.asset_materialization.partition == "e2e/rgb.tif"
    assert event.asset_materialization.metadata["format"].value == "GTiff"


def test_cli_ingest_wait_json(pg_instance_env, local_blob_root, tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "rgb.tif").write_bytes(
        (TESTDATA / "rasters/rgb_uint8/RGB.byte.tif").read_bytes()
    )
    (src / "broken.tif").write_bytes(
        (TESTDATA / "rasters/corrupt/RGB.byte.truncated-50pct.tif").read_bytes()
    )
    (src / "notes.docx").write_bytes(b"hello")
    # A raster zipped under a plain name, and a spreadsheet of coordinates.
    with zipfile.ZipFile(src / "delivery.zip", "w") as archive:
        archive.write(TESTDATA / "rasters/rgb_uint8/RGB.byte.tif", "imagery/rgb.tif")
        archive.writestr("imagery/README.txt", "flown in 2019")
    sheet = pd.DataFrame({"name": ["a", "b"], "lat": [47.1, 47.2], "lon": [8.1, 8.2]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyogrio.write_dataframe(sheet, src / "wells.xlsx", driver="XLSX", layer="Wells")
    geojson = (TESTDATA / "vectors/null_geometry/null_geom.geojson").read_bytes()
    (src / "roads.geojson.gz").write_bytes(gzip.compress(geojson))
    (src / "parcels.geojson.xz").write_bytes(lzma.compress(geojson))
    (src / "survey.xz").write_bytes(lzma.compress(geojson))  # its content says GeoJSON
    # Shapefiles in a tar.bz2 whose first block is longer than the sensor's usual head.
    shapes = shapefile_tar(tmp_path, "shapes.tar.bz2", "w:bz2", noise=600_000)
    shapes.rename(src / shapes.name)
    bdtopo_7z(tmp_path).rename(src / "bdtopo.7z")  # Shapefiles deep in a 7-Zip archive
    kmz(src / "scan.kmz", overlay(), image=(src / "sub" / "rgb.tif").read_bytes())  # a raster
    kmz(src / "places.kmz", overlay(), PLACEMARK)  # placemarks and an overlay: a vector
    pyramid_kmz(tmp_path)[0].rename(src / "ortho.kmz")  # a superoverlay of tiles: a raster
    env = {**os.environ, **pg_instance_env, "GEO_PLATFORM_BLOB_ROOT": str(local_blob_root)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "geo_platform.cli.main",
            "ingest",
            str(src),
            "--prefix",
            "cli",
            "--wait",
            "--json",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stderr  # one file is broken on purpose
    rows = {r["blob"]: r for r in json.loads(proc.stdout)}
    assert set(rows) == {"cli/sub/rgb.tif", "cli/broken.tif", "cli/notes.docx",
                         "cli/delivery.zip", "cli/wells.xlsx", "cli/roads.geojson.gz",
                         "cli/parcels.geojson.xz", "cli/shapes.tar.bz2",
                         "cli/survey.xz", "cli/bdtopo.7z", "cli/scan.kmz",
                         "cli/places.kmz", "cli/ortho.kmz"}  # fmt: skip
    assert rows["cli/sub/rgb.tif"]["status"] == "published"
    assert rows["cli/delivery.zip"]["status"] == "published"
    assert any(b.endswith("/analysis.tif") for b in rows["cli/delivery.zip"]["blobs"])
    assert rows["cli/wells.xlsx"]["status"] == "published"
    (table,) = rows["cli/wells.xlsx"]["tables"]
    assert table.endswith(".cli_wells")
    assert rows["cli/roads.geojson.gz"]["status"] == "published"
    assert rows["cli/parcels.geojson.xz"]["status"] == "published"
    assert rows["cli/survey.xz"]["status"] == "published"
    assert rows["cli/bdtopo.7z"]["status"] == "published", rows["cli/bdtopo.7z"]
    assert rows["cli/bdtopo.7z"]["tables"][0].endswith(".cli_bdtopo")
    assert rows["cli/shapes.tar.bz2"]["status"] == "published", rows["cli/shapes.tar.bz2"]
    (shapes,) = rows["cli/shapes.tar.bz2"]["tables"]
    assert shapes.endswith(".cli_shapes")
    assert rows["cli/scan.kmz"]["status"] == "published", rows["cli/scan.kmz"]
    assert any(b.endswith("/analysis.tif") for b in rows["cli/scan.kmz"]["blobs"])
    assert rows["cli/ortho.kmz"]["status"] == "published", rows["cli/ortho.kmz"]
    assert rows["cli/ortho.kmz"]["stac_items"] and not rows["cli/ortho.kmz"]["tables"]
    places = rows["cli/places.kmz"]  # its placemarks published, its overlay named as left out
    assert places["status"] == "partial" and places["tables"], places
    assert any("GroundOverlay" in layer for layer in places["failed_layers"]), places
    assert rows["cli/broken.tif"]["status"] == "failed"
    assert (
        "broken.tif" in rows["cli/broken.tif"]["error"] or "TIFF" in rows["cli/broken.tif"]["error"]
    )
    assert rows["cli/notes.docx"]["status"] == "skipped"
    for r in rows.values():
        assert set(r) == {
            "file", "blob", "status", "error", "stac_items", "tables", "blobs", "failed_layers",
            "duplicate_of",
        }  # fmt: skip
        assert r["duplicate_of"] != r["blob"]  # None, or the other file (other tests' rgb.tif)
    assert (local_blob_root / "bronze" / "cli" / "sub" / "rgb.tif").is_file()
