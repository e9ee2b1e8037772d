"""Rasters placed by ground control points only are georectified and published (``rectify.py``):
real GeoTIFFs with GCPs, published through ``publish_raster`` on the local store and on Azurite,
checked with rio-cogeo, rasterio and the STAC schemas."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from azure.storage.blob import BlobServiceClient
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rio_cogeo.cogeo import cog_validate

from geo_platform.lib import naming
from geo_platform.lib.errors import NotGeoreferencedError
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.resources.blob_store import AzureBlobStore, BlobStore, LocalBlobStore
from geo_platform.workflows.publish_raster import RasterPublished, RasterSettings, publish_raster

# A 300 x 200 image whose corners sit at these lon/lat (slightly sheared: a real polynomial).
CORNERS = [(0, 0, 10.0, 50.0), (0, 300, 13.0, 50.1), (200, 0, 10.1, 48.0), (200, 300, 13.2, 48.1)]


def _gcp_tif(path: Path, dtype: str = "uint8", nodata: float | None = None, crs: bool = True):
    data = (np.arange(200 * 300).reshape(1, 200, 300) % 250 + 1).astype(dtype)
    profile = {"driver": "GTiff", "width": 300, "height": 200, "count": 1, "dtype": dtype}
    with rasterio.open(path, "w", nodata=nodata, **profile) as dst:
        dst.write(data)
        points = [GroundControlPoint(row, col, x, y) for row, col, x, y in CORNERS]
        dst.gcps = (points, CRS.from_epsg(4326) if crs else CRS())  # CRS(): none written
    return path


@pytest.fixture(params=["local", pytest.param("azure", marks=pytest.mark.azurite)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[BlobStore, str, str]]:
    """(store, bronze container, silver container) on either backend."""
    if request.param == "local":
        blobs: BlobStore = LocalBlobStore(root=str(tmp_path / "blobs"))
        for container in ("bronze", "silver"):
            blobs.ensure_container(container)
        yield blobs, "bronze", "silver"
        return
    conn = request.getfixturevalue("azurite_connection_string")
    suffix = uuid.uuid4().hex[:8]
    bronze, silver = f"bronze-{suffix}", f"silver-{suffix}"
    blobs = AzureBlobStore(connection_string=conn)
    for container in (bronze, silver):
        blobs.ensure_container(container)
    try:
        yield blobs, bronze, silver
    finally:
        service = BlobServiceClient.from_connection_string(conn)
        for container in (bronze, silver):
            service.delete_container(container)


def test_a_raster_placed_by_gcps_is_georectified_and_published(
    store, pgstac_lookups, bronze_folder, tmp_path
) -> None:
    store, bronze, silver = store
    blob = f"{bronze_folder}/scan.tif"
    store.upload_file(bronze, blob, _gcp_tif(tmp_path / "scan.tif"))
    settings = RasterSettings(bronze_container=bronze, silver_container=silver)

    out = publish_raster(store, pgstac_lookups, settings, blob, run_id="run-gcp")

    assert isinstance(out, RasterPublished)
    validate_stac(out.item)
    assert "georectified from 4 GCPs (EPSG:4326" in out.item["properties"]["processing:lineage"]
    west, south, east, north = out.item["bbox"]
    assert (west, south) == pytest.approx((10.0, 48.0), abs=0.03)  # within ~2 pixels
    assert (east, north) == pytest.approx((13.2, 50.1), abs=0.03)
    prefix = naming.silver_prefix(blob)
    for tier in ("analysis", "archive", "visualization"):
        with store.local_copy(silver, f"{prefix}/{tier}.tif") as local:
            ok, errors, _ = cog_validate(str(local))
            assert ok, (tier, errors)
            with rasterio.open(local) as cog:
                assert cog.crs == CRS.from_epsg(4326) and not cog.transform.is_identity
                assert cog.transform.b == 0 and cog.transform.d == 0  # north-up
                if tier == "analysis":
                    mask = cog.dataset_mask()
                    # the sheared footprint leaves padding in the corners, masked, not data
                    assert mask[0, -1] == 0 and mask[-1, 0] == 0
                    assert mask[mask.shape[0] // 2, mask.shape[1] // 2] == 255
                    assert cog.read(1)[mask > 0].min() >= 1  # every real pixel kept a value


def test_float_gcps_keep_their_nodata(blob_store, pgstac_lookups, bronze_folder, tmp_path):
    blob = f"{bronze_folder}/sar.tif"
    blob_store.upload_file("bronze", blob, _gcp_tif(tmp_path / "s.tif", "float32", -9999.0))
    out = publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    path = Path(blob_store.root) / "silver" / naming.silver_prefix(blob) / "analysis.tif"
    with rasterio.open(path) as cog:
        assert cog.nodata == -9999.0 and cog.dtypes[0] == "float32"
        assert (cog.read(1) == -9999.0).any()  # the padding
    assert out.item["properties"]["geo_platform:source_driver"] == "GTiff"


def test_gcps_without_a_crs_are_still_refused(blob_store, pgstac_lookups, bronze_folder, tmp_path):
    blob = f"{bronze_folder}/nocrs.tif"
    blob_store.upload_file("bronze", blob, _gcp_tif(tmp_path / "n.tif", crs=False))
    with pytest.raises(NotGeoreferencedError, match="GCPs only"):
        publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    assert not list(blob_store.list_blobs("silver", prefix=naming.silver_prefix(blob)))
