"""Compressed rasters (``dem.asc.gz`` with its ``dem.prj``, ``dem.asc.bz2``, ``.xz``, ``.zst``,
``scan.tif.gz``) publish from a private decompressed copy (``lib/compressed.py``), on the local
store and on Azurite, checked with rio-cogeo, rasterio and the STAC schemas."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from geo_platform.lib import naming
from geo_platform.lib.bronze import classify, sidecar_names
from geo_platform.lib.inventory import file_sha256, inventory_file
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.workflows.publish_raster import RasterPublished, RasterSettings, publish_raster
from geo_platform_tests.fixtures.helpers import CODECS, packed
from geo_platform_tests.workflows.test_publish_gcps import store  # noqa: F401  (fixture)

GRID = (np.arange(40 * 60).reshape(40, 60) % 977).astype("float32")


def _asc(folder: Path) -> tuple[Path, Path]:
    """An Arc/Info ASCII grid in UTM 32N (EPSG:25832 in its .prj), gzipped, and its .prj."""
    plain = folder / "dem.asc"
    profile = {"driver": "AAIGrid", "width": 60, "height": 40, "count": 1, "dtype": "float32",
               "crs": CRS.from_epsg(25832), "transform": from_origin(480_000, 5_300_000, 25, 25),
               "nodata": -9999.0}  # fmt: skip
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(GRID[None])
    gz = folder / "dem.asc.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    return gz, folder / "dem.prj"


@pytest.mark.parametrize(
    ("name", "kind"),
    [("d/dem.asc.gz", "raster"), ("d/scan.tif.gz", "raster"), ("d/run.nc.gz", "raster"),
     ("d/roads.geojson.gz", "vector"), ("d/dem.prj", "sidecar")],
)  # fmt: skip
def test_gzipped_rasters_by_name(name: str, kind: str) -> None:
    assert classify(name).kind == kind


def test_the_sidecars_of_a_gzipped_raster_are_those_of_its_inner_name() -> None:
    siblings = ["d/dem.prj", "d/dem.asc.aux.xml", "d/other.prj", "d/dem.asc.gz"]
    assert sorted(sidecar_names("d/dem.asc.gz", siblings)) == ["d/dem.asc.aux.xml", "d/dem.prj"]


@pytest.mark.parametrize("codec", CODECS)
def test_an_ascii_grid_compressed_beside_its_prj_publishes(
    codec: str,
    store,  # noqa: F811
    pgstac_lookups,
    bronze_folder,
    tmp_path,
) -> None:
    store, bronze, silver = store
    _, prj = _asc(tmp_path)
    gz = packed(tmp_path / "dem.asc", codec, (tmp_path / "dem.asc").read_bytes())
    blob = f"{bronze_folder}/{gz.name}"
    store.upload_file(bronze, blob, gz)
    store.upload_file(bronze, f"{bronze_folder}/dem.prj", prj)
    settings = RasterSettings(bronze_container=bronze, silver_container=silver)

    out = publish_raster(store, pgstac_lookups, settings, blob, run_id=f"run-{codec}")

    assert isinstance(out, RasterPublished)
    validate_stac(out.item)
    assert out.item["properties"]["geo_platform:source_driver"] == "AAIGrid"
    assert out.item["properties"]["geo_platform:source_sha256"] == file_sha256(gz)
    with store.local_copy(silver, f"{naming.silver_prefix(blob)}/analysis.tif") as local:
        assert cog_validate(str(local))[0]
        with rasterio.open(local) as cog:
            assert cog.crs == CRS.from_epsg(25832) and cog.nodata == -9999.0
            assert np.array_equal(cog.read(1), GRID)


def test_a_gzipped_geotiff_and_the_bronze_stage(blob_store, pgstac_lookups, bronze_folder,
                                                tmp_path):  # fmt: skip
    tif = tmp_path / "scan.tif"
    profile = {"driver": "GTiff", "width": 60, "height": 40, "count": 1, "dtype": "float32",
               "crs": CRS.from_epsg(4326), "transform": from_origin(7, 47, 0.01, 0.01)}  # fmt: skip
    with rasterio.open(tif, "w", **profile) as dst:
        dst.write(GRID[None])
    gz = tmp_path / "scan.tif.gz"
    gz.write_bytes(gzip.compress(tif.read_bytes()))
    inv = inventory_file(gz, "d/scan.tif.gz", "raster")
    assert (inv.format, inv.driver, inv.width, inv.height) == ("GTiff+gzip", "GTiff", 60, 40)
    assert inv.sha256 == file_sha256(gz)
    blob = f"{bronze_folder}/scan.tif.gz"
    blob_store.upload_file("bronze", blob, gz)
    out = publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    assert isinstance(out, RasterPublished)
    assert out.item["bbox"] == pytest.approx([7.0, 46.6, 7.6, 47.0])
