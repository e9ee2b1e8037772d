"""Sidecars that place a raster travel with it as its sidecars: a picture's world file under
every name GDAL looks for (the extension's first and last letters plus ``w``, the extension
plus ``w``, ``.wld``), a MapInfo ``.tab``, RPCs as text (``scene_RPC.TXT``). On Azurite the
silver stage downloads only the sidecars it knows, so one it did not know (a GIF's ``.gfw``)
left the raster unplaced there while the local store, which reads the bronze folder in place,
published it. Local store and Azurite."""

from __future__ import annotations

import zipfile

import numpy as np
import pyproj
import pytest
import rasterio
from PIL import Image

from geo_platform.lib import bronze, naming
from geo_platform.lib.archive_members import zip_kind
from geo_platform.lib.file_kinds import listed_roles
from geo_platform_tests.workflows.test_publish_gcps import store  # noqa: F401  (fixture)
from geo_platform_tests.workflows.test_publish_grids import publish_folder

WORLD = "10\n0\n0\n-10\n500005\n4999995\n"  # 10 m pixels, upper left corner (500000, 5000000)


@pytest.mark.parametrize(
    ("picture", "world", "driver"),
    [
        ("map.gif", "map.gfw", "GIF"),
        ("map.gif", "map.gifw", "GIF"),
        ("map.png", "map.pngw", "PNG"),
        ("map.jpeg", "map.jpegw", "JPEG"),
        ("map.gif", "map.wld", "GIF"),
    ],
)
def test_world_file_names_travel_with_their_picture(
    store,  # noqa: F811  (the fixture)
    pgstac_lookups,
    bronze_folder,
    tmp_path,
    picture,
    world,
    driver,
):
    src = tmp_path / "src"
    src.mkdir()
    grid = np.add.outer(np.arange(60), np.arange(80)) % 250
    rgb = np.stack([grid, grid[::-1], grid], -1).astype("uint8")
    image = Image.fromarray(rgb)
    (image.convert("P") if driver == "GIF" else image).save(src / picture)
    (src / world).write_text(WORLD)
    (src / "map.prj").write_text(pyproj.CRS.from_epsg(32633).to_wkt("WKT1_ESRI"))
    assert bronze.classify(f"x/{world}", 10).kind == "sidecar"
    blob = publish_folder(store, pgstac_lookups, bronze_folder, src, picture, driver)
    blobs, _bronze, silver = store
    analysis = f"{naming.silver_prefix(blob)}/analysis.tif"
    with blobs.local_copy(silver, analysis) as cog, rasterio.open(cog) as ds:
        assert ds.crs.to_epsg() == 32633
        assert ds.transform.a == 10 and ds.transform.e == -10
        assert (ds.transform.c, ds.transform.f) == (500000, 5000000)


TAB = """!table
!version 300
!charset WindowsLatin1

Definition Table
  File "{name}"
  Type "RASTER"
  (4.0,52.6) (0,0) Label "Pt 1",
  (4.8,52.6) (80,0) Label "Pt 2",
  (4.0,52.0) (0,60) Label "Pt 3"
  CoordSys Earth Projection 1, 104
  Units "degree"
"""


def test_a_mapinfo_tab_placing_a_picture_travels_with_it(
    store,  # noqa: F811  (the fixture)
    pgstac_lookups,
    bronze_folder,
    tmp_path,
):
    """MapInfo registers a picture with a ``.tab`` of the same name (control points and
    CoordSys). That ``.tab`` is the picture's sidecar, not a vector table: it was a vector
    partition whose run failed ("GDAL recognises no vector format"), and on Azurite the
    picture published without it."""
    src = tmp_path / "src"
    src.mkdir()
    grid = (np.add.outer(np.arange(60), np.arange(80)) % 250).astype("uint8")
    Image.fromarray(np.stack([grid, grid[::-1], grid], -1)).save(src / "sheet.jpg", quality=95)
    (src / "sheet.tab").write_text(TAB.format(name="sheet.jpg"))
    listed = [f"{bronze_folder}/sheet.jpg", f"{bronze_folder}/sheet.tab"]
    assert listed_roles(listed) == {listed[1]: "sidecar"}
    blob = publish_folder(store, pgstac_lookups, bronze_folder, src, "sheet.jpg", "JPEG")
    blobs, _bronze, silver = store
    analysis = f"{naming.silver_prefix(blob)}/analysis.tif"
    with blobs.local_copy(silver, analysis) as cog, rasterio.open(cog) as ds:
        assert ds.crs.to_epsg() == 4326
        assert ds.transform.almost_equals(rasterio.Affine(0.01, 0, 4.0, 0, -0.01, 52.6))


def test_a_zipped_picture_with_its_world_file_is_a_raster(
    store,  # noqa: F811  (the fixture)
    pgstac_lookups,
    bronze_folder,
    tmp_path,
):
    """An orthophoto delivered zipped with its world file and .prj was taken for a vector zip:
    "zip contains no Shapefile, FileGDB or other vector file"."""
    src, out = tmp_path / "src", tmp_path / "zipped"
    src.mkdir()
    out.mkdir()
    grid = (np.add.outer(np.arange(60), np.arange(80)) % 250).astype("uint8")
    Image.fromarray(np.stack([grid, grid[::-1], grid], -1)).save(src / "ortho.jpg", quality=95)
    (src / "ortho.jgw").write_text(WORLD)
    (src / "ortho.prj").write_text(pyproj.CRS.from_epsg(32633).to_wkt("WKT1_ESRI"))
    with zipfile.ZipFile(out / "ortho.zip", "w") as archive:
        for f in sorted(src.iterdir()):
            archive.write(f, f"delivery/{f.name}")
    with zipfile.ZipFile(out / "ortho.zip") as archive:
        assert zip_kind(archive.namelist())[0] == "raster"
    blob = publish_folder(store, pgstac_lookups, bronze_folder, out, "ortho.zip", "JPEG")
    blobs, _bronze, silver = store
    analysis = f"{naming.silver_prefix(blob)}/analysis.tif"
    with blobs.local_copy(silver, analysis) as cog, rasterio.open(cog) as ds:
        assert ds.crs.to_epsg() == 32633
        assert (ds.transform.c, ds.transform.f) == (500000, 5000000)


def test_rpcs_in_a_text_file_beside_the_scene_travel_with_it(
    store,  # noqa: F811  (the fixture)
    pgstac_lookups,
    bronze_folder,
    tmp_path,
):
    """A scene whose RPCs come only in ``scene_RPC.TXT`` (GeoEye, IKONOS deliveries): that
    file was "unknown extension, plain text", and on Azurite the scene published without it
    (nothing places it)."""
    from rasterio.rpc import RPC

    src = tmp_path / "src"
    src.mkdir()
    rpc = RPC(height_off=50, height_scale=500, lat_off=52.0, lat_scale=0.05,
              line_den_coeff=[1] + [0] * 19, line_num_coeff=[0, 0, -1] + [0] * 17,
              line_off=128, line_scale=128, long_off=4.5, long_scale=0.05,
              samp_den_coeff=[1] + [0] * 19, samp_num_coeff=[0, 1] + [0] * 18,
              samp_off=128, samp_scale=128)  # fmt: skip
    grid = (np.add.outer(np.arange(256), np.arange(256)) % 200).astype("uint8")
    profile = {"driver": "GTiff", "width": 256, "height": 256, "count": 1, "dtype": "uint8"}
    with rasterio.open(
        src / "scene.tif", "w", **profile, rpcs=rpc, RPCTXT="YES", PROFILE="BASELINE"
    ) as dst:  # RPCs in scene_RPC.TXT only, none in the TIFF
        dst.write(grid, 1)
    assert sorted(p.name for p in src.iterdir()) == ["scene.tif", "scene_RPC.TXT"]
    assert bronze.classify(f"{bronze_folder}/scene_RPC.TXT", 10).kind == "sidecar"
    blob = publish_folder(store, pgstac_lookups, bronze_folder, src, "scene.tif", "GTiff")
    blobs, _bronze, silver = store
    analysis = f"{naming.silver_prefix(blob)}/analysis.tif"
    with blobs.local_copy(silver, analysis) as cog, rasterio.open(cog) as ds:
        assert ds.crs.to_epsg() == 4326
        west, south, east, north = ds.bounds
        assert abs(west - 4.45) < 0.01 and abs(east - 4.55) < 0.01
        assert abs(south - 51.95) < 0.01 and abs(north - 52.05) < 0.01
