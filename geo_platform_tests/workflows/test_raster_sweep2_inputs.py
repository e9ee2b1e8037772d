"""Raster deliveries of raster sweep 2: a BMP placed by its world file and ``.prj`` is a raster
and its sidecars travel with it (it was skipped as "unknown extension, and its content is
unrecognised binary data"); refusals that say what is wrong: a zip holding only a VRT gets the
advice a loose ``.vrt`` gets (not "zip contains no Shapefile"), and GCPs without a CRS say so
and how to set it (not "georectify it first"). Local store and pgstac."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
import rasterio.shutil
from PIL import Image
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.transform import from_origin

from geo_platform.app.ingest import plan_for
from geo_platform.lib import bronze, naming
from geo_platform.lib.content import HEAD_BYTES, VRT_ALONE, content_kind, is_bmp
from geo_platform.lib.errors import NotGeoreferencedError, UnsupportedFormatError
from geo_platform.lib.inventory import inventory_file
from geo_platform.store.blobs.local import LocalBlobStore
from geo_platform.workflows.publish_raster import RasterSettings, publish_raster
from geo_platform_tests.workflows.test_publish_grids import publish_folder

WORLD = "10\n0\n0\n-10\n500005\n4999995\n"  # 10 m pixels, upper left corner (500000, 5000000)


def _bmp(path: Path) -> np.ndarray:
    grid = (np.add.outer(np.arange(60), np.arange(80)) % 250).astype("uint8")
    rgb = np.stack([grid, grid[::-1], 255 - grid], -1)
    Image.fromarray(rgb).save(path, format="BMP")
    return np.moveaxis(rgb, -1, 0)


@pytest.mark.parametrize("world", ["map.bpw", "map.bmpw", "map.wld"])
def test_a_bmp_with_its_world_file_and_prj_is_published(
    blob_store, pgstac_lookups, bronze_folder, tmp_path, world
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    rgb = _bmp(src / "map.bmp")
    (src / world).write_text(WORLD)
    (src / "map.prj").write_text(pyproj.CRS.from_epsg(32633).to_wkt("WKT1_ESRI"))
    assert bronze.classify("x/map.bmp", 10).kind == "raster"
    assert bronze.classify(f"x/{world}", 10).kind == "sidecar"
    listed = [f"x/{p.name}" for p in src.iterdir()]
    assert bronze.sidecar_names("x/map.bmp", listed) == sorted({f"x/{world}", "x/map.prj"})

    store = (blob_store, "bronze", "silver")
    blob = publish_folder(store, pgstac_lookups, bronze_folder, src, "map.bmp", "BMP")

    root = Path(blob_store.root)
    listing = list(blob_store.list_blobs("bronze", prefix=f"{bronze_folder}/"))
    plan = plan_for(listing, lambda b: (root / "bronze" / b.path).read_bytes()[:HEAD_BYTES])
    assert [b.path for b in plan.new["raster"]] == [blob]  # what ingest and the sensor do
    analysis = root / "silver" / naming.silver_prefix(blob) / "analysis.tif"
    with rasterio.open(analysis) as ds:
        assert ds.crs.to_epsg() == 32633
        assert ds.transform == from_origin(500_000, 5_000_000, 10, 10)
        assert np.array_equal(ds.read(), rgb)


def test_a_bmp_is_recognised_by_its_header_not_by_two_letters(tmp_path) -> None:
    _bmp(tmp_path / "scan")  # no extension: a candidate judged by its first bytes
    data = (tmp_path / "scan").read_bytes()
    assert is_bmp(data, len(data))
    assert content_kind(data[:HEAD_BYTES], "scan", len(data))[0] == "raster"
    assert not is_bmp(data, len(data) + 1)  # the size it states is not the blob's
    broken = data[:14] + (99).to_bytes(4, "little") + data[18:]  # no such info header
    assert not is_bmp(broken, len(broken))
    text = b"BMW R 1250 GS, 2021\nBMX bikes and parts\n" * 10
    assert not is_bmp(text, len(text))
    assert content_kind(text, "notes", len(text))[0] == "unsupported"


def test_a_zip_of_only_a_vrt_gets_the_vrt_advice(tmp_path) -> None:
    outside = tmp_path / "outside.tif"
    profile = {"driver": "GTiff", "width": 20, "height": 20, "count": 1, "dtype": "uint8"}
    with rasterio.open(outside, "w", **profile, crs="EPSG:32633",
                       transform=from_origin(500_000, 5_000_000, 10, 10)) as dst:  # fmt: skip
        dst.write(np.ones((1, 20, 20), "uint8"))
    rasterio.shutil.copy(outside, tmp_path / "only.vrt", driver="VRT")
    with zipfile.ZipFile(tmp_path / "only.zip", "w") as archive:
        archive.write(tmp_path / "only.vrt", "only.vrt")
    assert bronze.classify("x/only.zip", 10).kind == "vector"

    with pytest.raises(UnsupportedFormatError) as refused:
        inventory_file(tmp_path / "only.zip", "x/only.zip", "vector")

    message = str(refused.value)
    assert "only a GDAL VRT (only.vrt)" in message and VRT_ALONE in message
    assert "Shapefile" not in message


def test_gcps_without_a_crs_say_so_and_how_to_set_it(
    blob_store: LocalBlobStore, pgstac_lookups, bronze_folder, tmp_path
) -> None:
    path = tmp_path / "scan.tif"
    profile = {"driver": "GTiff", "width": 300, "height": 200, "count": 1, "dtype": "uint8"}
    corners = [(0, 0, 11, 48), (0, 300, 11.3, 48.05), (200, 0, 10.9, 47.8), (200, 300, 11.2, 47.8)]
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((1, 200, 300), 7, "uint8"))
        dst.gcps = ([GroundControlPoint(r, c, x, y) for r, c, x, y in corners], CRS())
    blob = f"{bronze_folder}/scan.tif"
    blob_store.upload_file("bronze", blob, path)

    with pytest.raises(NotGeoreferencedError) as refused:
        publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")

    message = str(refused.value)
    assert "4 GCPs only, and the GCPs have no CRS" in message
    assert "gdal_edit.py -a_srs" in message and "georectify it first" not in message
