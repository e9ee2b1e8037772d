"""Tar archives (``lib/tarred.py``): a Landsat-like scene ``.tar`` publishes one COG and item per
band (the zip rules, through a stored zip repacked once), a ``.tar.gz`` of one GeoTIFF one item,
a ``.tgz`` of a Shapefile its table; the sensor tells them apart by the member names in their
first bytes; unsafe and oversized tars are refused. Real GeoTIFFs, on the local store and on
Azurite, checked pixel for pixel."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import Point

from geo_platform.lib import bronze, naming, tarred
from geo_platform.lib.content import content_kind, sniff_head
from geo_platform.lib.errors import EmptyFileError, TooLargeError, UnsafeArchiveError
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.types import BlobInfo
from geo_platform.workflows.publish_multidim import CubePublished
from geo_platform.workflows.publish_raster import RasterPublished, RasterSettings, publish_raster
from geo_platform_tests.fixtures.vector_world import World
from geo_platform_tests.workflows.test_publish_gcps import store  # noqa: F401  (fixture)

SCENE = "LC09_L2SP_198024_20240501_20240502_02_T1"
BANDS = ("SR_B4", "SR_B5", "QA_PIXEL")


def _band(path: Path, seed: int) -> np.ndarray:
    data = np.random.default_rng(seed).integers(7000, 20000, (1, 50, 60)).astype("uint16")
    with rasterio.open(path, "w", driver="GTiff", width=60, height=50, count=1, dtype="uint16",
                       crs="EPSG:32631", transform=from_origin(600_000, 5_800_000, 30, 30),
                       ) as dst:  # fmt: skip
        dst.write(data)
    return data


def _scene_tar(folder: Path) -> tuple[Path, dict[str, np.ndarray]]:
    bands = {}
    path = folder / f"{SCENE}.tar"
    with tarfile.open(path, "w") as tar:
        mtl = b"GROUP = LANDSAT_METADATA_FILE\nEND\n"
        info = tarfile.TarInfo(f"{SCENE}_MTL.txt")
        info.size = len(mtl)
        tar.addfile(info, io.BytesIO(mtl))  # metadata first, as the USGS packs it
        for i, band in enumerate(BANDS):
            local = folder / f"{SCENE}_{band}.TIF"
            bands[band] = _band(local, i)
            tar.add(local, arcname=local.name)
    return path, bands


def test_the_sensor_tells_raster_and_vector_tars_apart(tmp_path: Path) -> None:
    tar, _ = _scene_tar(tmp_path)
    head = tar.read_bytes()[:65536]
    assert sniff_head(head) == "TAR" and content_kind(head)[0] == "raster"
    assert tarred.member_names(head)[:2] == [f"{SCENE}_MTL.txt", f"{SCENE}_SR_B4.TIF"]
    shp = _shapefile_tgz(tmp_path)
    gz_head = shp.read_bytes()[:65536]
    assert sniff_head(gz_head) == "GZIP" and content_kind(gz_head)[0] == "vector"
    for name in (f"x/{SCENE}.tar", "x/wells.tgz", "x/scene.tar.gz"):
        assert bronze.classify(name, 10).needs_content  # their content decides
    blob = BlobInfo(path=f"x/{SCENE}.tar", size=tar.stat().st_size, etag="e")
    assert bronze.classify_content(blob, head).kind == "raster"


def test_a_scene_tar_publishes_one_item_per_band(store, pgstac_lookups, bronze_folder, tmp_path):  # noqa: F811
    store, bronze_container, silver = store
    tar, bands = _scene_tar(tmp_path)
    blob = f"{bronze_folder}/{tar.name}"
    store.upload_file(bronze_container, blob, tar)
    inv = inventory_file(tar, blob, "raster")
    assert inv.format == "ZIP+tar" and len(inv.layers) == 3
    settings = RasterSettings(bronze_container=bronze_container, silver_container=silver)

    out = publish_raster(store, pgstac_lookups, settings, blob, run_id="run-tar")

    assert isinstance(out, CubePublished)
    stem = naming.item_id(blob, "")
    assert out.item_ids == tuple(f"{stem}-{b.lower()}" for b in BANDS)  # archive order
    assert all(ok for ok, _ in out.checks.values()), out.checks
    for variable in out.variables:
        validate_stac(variable.item)
        band = variable.item_id.rsplit("-", 1)[1].upper()
        path = f"{naming.silver_prefix(blob)}/{variable.item_id}/analysis.tif"
        with store.local_copy(silver, path) as local:
            assert cog_validate(str(local))[0]
            with rasterio.open(local) as cog:
                assert np.array_equal(cog.read(), bands[band])


def test_a_gzipped_tar_of_one_raster_is_that_raster(blob_store, pgstac_lookups, bronze_folder,
                                                     tmp_path):  # fmt: skip
    data = _band(tmp_path / "band4.tif", 7)
    path = tmp_path / "single.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(tmp_path / "band4.tif", arcname="./single/band4.tif")
    blob = f"{bronze_folder}/single.tar.gz"
    blob_store.upload_file("bronze", blob, path)
    out = publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    assert isinstance(out, RasterPublished) and out.item["id"] == "single.tar.gz"
    with rasterio.open(Path(blob_store.root) / "silver" / naming.silver_prefix(blob) /
                       "analysis.tif") as cog:  # fmt: skip
        assert np.array_equal(cog.read(), data)


def _shapefile_tgz(folder: Path) -> Path:
    gpd.GeoDataFrame({"depth": [3.5, 7.0]}, geometry=[Point(5, 52), Point(6, 53)],
                     crs="EPSG:4326").to_file(folder / "wells.shp")  # fmt: skip
    path = folder / "wells.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for ext in ("shp", "shx", "dbf", "prj", "cpg"):
            tar.add(folder / f"wells.{ext}", arcname=f"data/wells.{ext}")
    return path


def test_a_tgz_of_a_shapefile_publishes_its_table(tmp_path: Path, pg_dsn, pg_schema) -> None:
    world = World(tmp_path, pg_dsn, pg_schema)
    try:
        (table,) = world.publish(world.upload("wells.tgz", _shapefile_tgz(tmp_path))).tables
        assert table.rows_loaded == 2 and table.geometry_type == "MultiPoint"
    finally:
        world.drop_collections()


def test_unsafe_and_oversized_tars_are_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        info = tarfile.TarInfo("../../etc/evil.tif")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"II*\0"))
    with pytest.raises(UnsafeArchiveError) as err:
        tarred.as_zip(evil, "x/evil.tar")
    assert "../../etc/evil.tif" in str(err.value) and "x/evil.tar" in str(err.value)
    tar, _ = _scene_tar(tmp_path)
    with pytest.raises(TooLargeError):
        tarred.as_zip(tar, "x/scene.tar", max_bytes=1000)
    assert tarred.if_tar(tmp_path / f"{SCENE}_SR_B4.TIF", "x/b.tif") is None  # not a tar
    links = tmp_path / "links.tar"
    with tarfile.open(links, "w") as tar:
        info = tarfile.TarInfo("scene.tif")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"  # never followed
        tar.addfile(info)
    with pytest.raises(EmptyFileError, match="tar archive holds no files"):
        tarred.as_zip(links, "x/links.tar")
