"""Odd raster deliveries published by ``publish_raster`` (raster robustness sweep): a PCRaster
``.map`` (its CRS in the ``.aux.xml`` GDAL writes beside it, or none: the usual missing-CRS
error), a zip holding a zip of a GeoTIFF, and a zipped Zarr store, read in place through
``/vsizip/``. Real files on the local store and pgstac; the analysis COG is checked pixel for
pixel against the source."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from geo_platform.app.ingest import plan_for
from geo_platform.lib import naming
from geo_platform.lib.content import HEAD_BYTES
from geo_platform.lib.errors import MissingCRSError
from geo_platform.store.blobs.local import LocalBlobStore
from geo_platform.workflows.publish_raster import RasterSettings, publish_raster
from geo_platform_tests.fixtures.helpers import published_raster

GRID = {"transform": from_origin(600_000, 5_800_000, 10, 10)}
DATA = (np.arange(30 * 40, dtype="float32").reshape(1, 30, 40) % 97) + 100.0


def _tif(path: Path, crs: str | None = "EPSG:32631") -> Path:
    profile = {"driver": "GTiff", "width": 40, "height": 30, "count": 1, "dtype": "float32"}
    with rasterio.open(path, "w", crs=crs, **profile, **GRID) as dst:
        dst.write(DATA)
    return path


def _analysis(blob_store: LocalBlobStore, blob: str) -> np.ndarray:
    path = Path(blob_store.root) / "silver" / naming.silver_prefix(blob) / "analysis.tif"
    assert cog_validate(str(path))[0]
    with rasterio.open(path) as cog:
        assert cog.crs.to_epsg() == 32631 and cog.transform == GRID["transform"]
        return cog.read()


def _store(blob_store: LocalBlobStore) -> tuple[LocalBlobStore, str, str]:
    return blob_store, "bronze", "silver"


def _planned_rasters(blob_store: LocalBlobStore, folder: str) -> list[str]:
    """The bronze blobs of ``folder`` that ``geo-platform ingest`` (and the sensor) would
    publish as rasters, judging each by its name and first bytes."""
    root = Path(blob_store.root) / "bronze"
    listing = list(blob_store.list_blobs("bronze", prefix=f"{folder}/"))
    plan = plan_for(listing, lambda b: (root / b.path).read_bytes()[:HEAD_BYTES])
    return [b.path for b in plan.new["raster"]]


def test_a_pcraster_map_is_published(blob_store, pgstac_lookups, bronze_folder, tmp_path) -> None:
    folder = tmp_path / "pcr"
    folder.mkdir()
    rasterio.shutil.copy(_tif(tmp_path / "dem.tif"), folder / "dem.map", driver="PCRaster")
    aux = folder / "dem.map.aux.xml"  # where GDAL keeps the CRS PCRaster cannot hold
    blob_store.upload_file("bronze", f"{bronze_folder}/{aux.name}", aux)

    blob, out = published_raster(_store(blob_store), pgstac_lookups, bronze_folder,
                                 folder / "dem.map")  # fmt: skip

    assert _planned_rasters(blob_store, bronze_folder) == [blob]  # not skipped as a sidecar

    assert out.item["properties"]["proj:code"] == "EPSG:32631"
    assert "Source PCRaster raster" in out.item["properties"]["processing:lineage"]
    assert np.array_equal(_analysis(blob_store, blob), DATA)


def test_a_pcraster_map_without_crs_is_the_usual_missing_crs(
    blob_store, pgstac_lookups, bronze_folder, tmp_path
) -> None:
    rasterio.shutil.copy(_tif(tmp_path / "dem.tif", crs=None), tmp_path / "dem.map",
                         driver="PCRaster")  # fmt: skip
    blob = f"{bronze_folder}/dem.map"
    blob_store.upload_file("bronze", blob, tmp_path / "dem.map")
    assert _planned_rasters(blob_store, bronze_folder) == [blob]
    with pytest.raises(MissingCRSError, match="no CRS"):
        publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    assert list(blob_store.list_blobs("silver")) == []


def test_a_zip_of_a_zipped_geotiff_is_published(
    blob_store, pgstac_lookups, bronze_folder, tmp_path
) -> None:
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(_tif(tmp_path / "a.tif"), "a.tif")
    outer = tmp_path / "zip_in_zip.zip"
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(inner, "inner.zip")

    blob, out = published_raster(_store(blob_store), pgstac_lookups, bronze_folder, outer)

    assert np.array_equal(_analysis(blob_store, blob), DATA)
    assert out.item["properties"]["proj:code"] == "EPSG:32631"


def test_a_zipped_zarr_store_is_published(
    blob_store, pgstac_lookups, bronze_folder, tmp_path
) -> None:
    store = tmp_path / "dem.zarr"
    rasterio.shutil.copy(_tif(tmp_path / "dem.tif"), store, driver="Zarr")
    path = tmp_path / "dem_zarr.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(store.rglob("*")):
            archive.write(file, file.relative_to(tmp_path).as_posix())

    blob, out = published_raster(_store(blob_store), pgstac_lookups, bronze_folder, path)

    assert np.array_equal(_analysis(blob_store, blob), DATA)
    assert "Source Zarr raster" in out.item["properties"]["processing:lineage"]
