"""A zip of several rasters that are not tiles of one grid publishes one COG and item per raster
(``lib/raster/zip_rasters.py`` through ``publish_multidim``): real GeoTIFFs, on the local store
and on Azurite, checked pixel for pixel, with rio-cogeo and against the STAC schemas."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from geo_platform.lib import naming
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.raster.zip_rasters import separate_rasters
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.workflows.publish_multidim import CubePublished
from geo_platform.workflows.publish_raster import RasterPublished, RasterSettings, publish_raster
from geo_platform_tests.workflows.test_publish_gcps import store  # noqa: F401  (fixture)

UTM = {"crs": "EPSG:32631", "transform": from_origin(600_000, 5_800_000, 10, 10)}
LONLAT = {"crs": "EPSG:4326", "transform": from_origin(3.0, 52.0, 0.001, 0.001)}


def _tif(path: Path, data: np.ndarray, grid: dict, nodata: float | None = None) -> Path:
    profile = {"driver": "GTiff", "width": data.shape[2], "height": data.shape[1],
               "count": data.shape[0], "dtype": data.dtype, "nodata": nodata, **grid}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def _terrain(folder: Path) -> dict[str, np.ndarray]:
    """A DEM and its hillshade on one grid (the same ground: not tiles), an overview elsewhere."""
    rng = np.random.default_rng(7)
    return {
        "terrain/dem.tif": (rng.random((1, 80, 100)) * 300).astype("float32"),
        "terrain/hillshade.tif": rng.integers(1, 255, (1, 80, 100)).astype("uint8"),
        "terrain/overview.tif": rng.integers(1, 255, (3, 60, 90)).astype("uint8"),
    }


def _zip(path: Path, rasters: dict[str, np.ndarray], extra: dict[str, bytes] | None = None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in rasters.items():
            grid = LONLAT if "overview" in member else UTM
            local = _tif(path.parent / Path(member).name, data, grid)
            archive.write(local, member)
        for member, raw in (extra or {}).items():
            archive.writestr(member, raw)
        archive.writestr("terrain/README.txt", "survey 2024")
    return path


def test_each_raster_of_the_zip_is_its_own_item(store, pgstac_lookups, bronze_folder, tmp_path):  # noqa: F811
    store, bronze, silver = store
    rasters = _terrain(tmp_path)
    blob = f"{bronze_folder}/terrain.zip"
    store.upload_file(bronze, blob, _zip(tmp_path / "terrain.zip", rasters))
    settings = RasterSettings(bronze_container=bronze, silver_container=silver)

    out = publish_raster(store, pgstac_lookups, settings, blob, run_id="run-zip-rasters")

    assert isinstance(out, CubePublished)
    assert out.item_ids == ("terrain.zip-dem", "terrain.zip-hillshade", "terrain.zip-overview")
    assert out.metadata["multidimensional"] is False and out.driver == "ZIP"
    assert all(ok for ok, _ in out.checks.values()), out.checks
    prefix = naming.silver_prefix(blob)
    for variable, (member, data) in zip(out.variables, rasters.items(), strict=True):
        item = variable.item
        validate_stac(item)
        assert not any("datacube" in e for e in item["stac_extensions"])
        assert f"member {member!r}, one of 3 rasters" in item["properties"]["processing:lineage"]
        with store.local_copy(silver, f"{prefix}/{variable.item_id}/analysis.tif") as local:
            assert cog_validate(str(local))[0]
            with rasterio.open(local) as cog:
                assert np.array_equal(cog.read(), data)  # lossless, every band
    west, south, east, north = out.variables[2].item["bbox"]
    assert (west, north, east, south) == pytest.approx((3.0, 52.0, 3.09, 51.94))


def test_a_broken_member_is_set_aside(blob_store, pgstac_lookups, bronze_folder, tmp_path):
    rasters = _terrain(tmp_path)
    good = _zip(tmp_path / "t.zip", rasters)
    with zipfile.ZipFile(good) as zf:
        broken = zf.read("terrain/dem.tif")[:600]  # a truncated GeoTIFF
    blob = f"{bronze_folder}/terrain.zip"
    path = _zip(tmp_path / "terrain.zip", rasters, {"terrain/broken.tif": broken})
    blob_store.upload_file("bronze", blob, path)
    out = publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    assert isinstance(out, CubePublished) and len(out.item_ids) == 3
    assert len(out.ignored) == 1 and out.ignored[0].startswith("terrain/broken.tif: ")


def test_a_member_taken_out_is_unpublished(blob_store, pgstac_lookups, bronze_folder, tmp_path):
    rasters = _terrain(tmp_path)
    blob = f"{bronze_folder}/terrain.zip"
    blob_store.upload_file("bronze", blob, _zip(tmp_path / "a.zip", rasters))
    publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r1")
    del rasters["terrain/overview.tif"]
    blob_store.upload_file("bronze", blob, _zip(tmp_path / "b.zip", rasters))
    out = publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r2")
    assert isinstance(out, CubePublished)
    left = {b.path for b in blob_store.list_blobs("silver", prefix=naming.silver_prefix(blob))}
    assert not any("overview" in p for p in left) and any("hillshade" in p for p in left)


def test_labels_and_which_zips_take_this_path(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    same_name = {"a/dem.tif": rng.random((1, 8, 8)).astype("float32"),
                 "b/dem.tif": rng.random((1, 8, 8)).astype("float32")}  # fmt: skip
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in same_name.items():
            archive.write(_tif(tmp_path / member.replace("/", "_"), data, UTM), member)
    cube = separate_rasters(path, "in/two.zip", tmp_path, 2**30)
    assert cube is not None and [v.name for v in cube.variables] == ["a-dem", "b-dem"]
    unflagged = tmp_path / "höhen.zip"  # UTF-8 names without the flag (Info-ZIP, macOS)
    names = {"höhen": "a_dem.tif", "ärz": "b_dem.tif"}
    with zipfile.ZipFile(unflagged, "w") as archive:
        for name, src in names.items():
            archive.write(tmp_path / src, "Q" * len(name.encode()) + ".tif")
    patched = unflagged.read_bytes()
    for name in names:
        patched = patched.replace(b"Q" * len(name.encode()) + b".", name.encode() + b".")
    unflagged.write_bytes(patched)
    cube = separate_rasters(unflagged, "in/höhen.zip", tmp_path, 2**30)
    assert cube is not None and sorted(v.name for v in cube.variables) == ["höhen", "ärz"]
    one = tmp_path / "one.zip"
    with zipfile.ZipFile(one, "w") as archive:
        archive.write(tmp_path / "a_dem.tif", "dem.tif")
    assert separate_rasters(one, "in/one.zip", tmp_path, 2**30) is None  # the ordinary path


def test_the_bronze_stage_lists_the_rasters(tmp_path: Path) -> None:
    inv = inventory_file(_zip(tmp_path / "terrain.zip", _terrain(tmp_path)), "in/t.zip", "raster")
    assert inv.driver == "ZIP"
    assert [layer["name"] for layer in inv.layers] == [
        "terrain/dem.tif", "terrain/hillshade.tif", "terrain/overview.tif",
    ]  # fmt: skip
    assert inv.layers[2]["crs"] == "EPSG:4326" and inv.layers[0]["dtypes"] == ["float32"]
    assert inv.bbox is not None and inv.bbox[0] == pytest.approx(3.0)


def test_a_preview_picture_beside_the_raster_is_not_a_second_raster(
    blob_store, pgstac_lookups, bronze_folder, tmp_path
):
    """``dem.tif`` with ``preview.png`` (no world file): one raster, the ordinary item; a
    picture a world file places is a raster of its own."""
    dem = _tif(tmp_path / "dem.tif", _terrain(tmp_path)["terrain/dem.tif"], UTM)
    with rasterio.open(tmp_path / "preview.png", "w", driver="PNG", width=20, height=16,
                       count=1, dtype="uint8") as png:  # fmt: skip
        png.write(np.full((1, 16, 20), 9, "uint8"))
    path = tmp_path / "delivery.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(dem, "dem.tif")
        archive.write(tmp_path / "preview.png", "preview.png")
    blob = f"{bronze_folder}/delivery.zip"
    blob_store.upload_file("bronze", blob, path)
    out = publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    assert isinstance(out, RasterPublished) and out.item_id == "delivery.zip"
    with zipfile.ZipFile(path, "a") as archive:  # now a world file places the picture
        archive.writestr("preview.pgw", "0.01\n0\n0\n-0.01\n4.0\n52.0\n")
    assert separate_rasters(path, "in/delivery.zip", tmp_path, 2**30) is not None
