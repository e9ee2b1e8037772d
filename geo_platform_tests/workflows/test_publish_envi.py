"""ENVI and ESRI band-interleaved rasters (``.bsq``, ``.bip``, ``.bil`` data beside a ``.hdr``):
the header travels with its data file as a sidecar, and the raster publishes like any other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from geo_platform.lib import bronze, naming
from geo_platform.lib.file_kinds import listed_roles
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.workflows.publish_raster import RasterPublished, RasterSettings, publish_raster
from geo_platform_tests.workflows.test_publish_gcps import store  # noqa: F401  (fixture)
from geo_platform_tests.workflows.test_publish_grids import publish_folder


@pytest.mark.parametrize(("ext", "driver"), [("bsq", "ENVI"), ("bip", "ENVI"), ("bil", "EHdr")])
def test_band_interleaved_raster_publishes_with_its_header(
    blob_store, pgstac_lookups, bronze_folder, tmp_path, ext, driver
):
    data = np.random.default_rng(3).integers(0, 4000, (5, 30, 40)).astype("uint16")
    path = tmp_path / f"scene.{ext}"
    profile = {"width": 40, "height": 30, "count": 5, "dtype": "uint16", "crs": "EPSG:32631",
               "transform": from_origin(600000, 5800000, 30, 30)}  # fmt: skip
    extra = {"INTERLEAVE": ext.upper()} if driver == "ENVI" else {}
    with rasterio.open(path, "w", driver=driver, **profile, **extra) as dst:
        dst.write(data)
    names = sorted(p.name for p in tmp_path.iterdir() if p.stem == "scene")
    assert f"scene.{ext}" in names and "scene.hdr" in names
    assert bronze.classify(f"x/scene.{ext}", 10).kind == "raster"
    assert bronze.classify("x/scene.hdr", 10).kind == "sidecar"
    for name in names:
        blob_store.upload_file("bronze", f"{bronze_folder}/{name}", tmp_path / name)

    blob = f"{bronze_folder}/scene.{ext}"
    out = publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")

    assert isinstance(out, RasterPublished)
    validate_stac(out.item)
    assert out.item["properties"]["geo_platform:source_driver"] == driver
    cog = Path(blob_store.root) / "silver" / naming.silver_prefix(blob) / "analysis.tif"
    assert cog_validate(str(cog))[0]
    with rasterio.open(cog) as ds:
        assert ds.count == 5 and ds.crs.to_epsg() == 32631
        assert np.array_equal(ds.read(), data)  # lossless, band order and interleave kept


@pytest.mark.parametrize("name", ["hyper", "hyper.dat", "hyper.bin"])
def test_an_envi_data_file_is_told_by_its_header(
    store,  # noqa: F811  (the fixture)
    pgstac_lookups,
    bronze_folder,
    tmp_path,
    name,
):
    """ENVI's own data names (none, ``.dat``, ``.bin``) say nothing by themselves: the ``.hdr``
    beside them makes them rasters (a ``.dat`` beside a MapInfo ``.tab`` stays its sidecar).
    Local store and Azurite."""
    blobs, _bronze, silver = store
    data = np.random.default_rng(9).integers(0, 4000, (4, 30, 40)).astype("uint16")
    tmp_path = tmp_path / "src"
    tmp_path.mkdir()
    with rasterio.open(tmp_path / name, "w", driver="ENVI", width=40, height=30, count=4,
                       dtype="uint16", crs="EPSG:32631",
                       transform=from_origin(600000, 5800000, 30, 30)) as dst:  # fmt: skip
        dst.write(data)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted([name, "hyper.hdr"])
    listed = [f"{bronze_folder}/{f}" for f in [*files, "roads.tab", "roads.dat"]]
    assert listed_roles(listed) == {f"{bronze_folder}/{name}": "raster"}
    blob = publish_folder(store, pgstac_lookups, bronze_folder, tmp_path, name, "ENVI")
    with blobs.local_copy(silver, f"{naming.silver_prefix(blob)}/analysis.tif") as cog:
        assert cog_validate(str(cog))[0]
        with rasterio.open(cog) as ds:
            assert ds.crs.to_epsg() == 32631 and np.array_equal(ds.read(), data)
