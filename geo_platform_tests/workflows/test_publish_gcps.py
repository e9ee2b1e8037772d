"""Rasters placed by ground control points or RPCs only are georectified and published
(``rectify.py``): real GeoTIFFs with GCPs or RPCs, published through ``publish_raster`` on the
local store and on Azurite, checked with rio-cogeo, rasterio and the STAC schemas."""

from __future__ import annotations

import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
from azure.storage.blob import BlobServiceClient
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.rpc import RPC
from rio_cogeo.cogeo import cog_validate

from geo_platform.lib import naming
from geo_platform.lib.archive_members import zip_kind as content_kind_of_zip
from geo_platform.lib.errors import NotGeoreferencedError
from geo_platform.lib.raster.rectify import geotiff_keeps_crs, rectify
from geo_platform.resources.blob_store import AzureBlobStore, BlobStore, LocalBlobStore
from geo_platform.workflows.publish_raster import RasterSettings, publish_raster
from geo_platform_tests.fixtures.helpers import published_raster

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
    blob, out = published_raster(
        store, pgstac_lookups, bronze_folder, _gcp_tif(tmp_path / "scan.tif")
    )
    store, _, silver = store
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


# --- RPCs: satellite scenes in sensor geometry ----------------------------------------------
def _rpc_tif(path: Path, height_off: float = 400.0, **creation: str) -> Path:
    """A 200 x 300 scene whose RPCs map it onto about 4.40-4.70E, 51.95-52.15N, with a
    height term: at HEIGHT_OFF + 1 HEIGHT_SCALE, lines shift by a tenth of LINE_SCALE."""
    data = (np.arange(200 * 300).reshape(1, 200, 300) % 250 + 1).astype("uint8")
    # normalised line = -P (north at the top), sample = L; + 0.1 H on the line numerator
    line_num = [0.0, 0.0, -1.0, 0.1] + [0.0] * 16
    samp_num = [0.0, 1.0] + [0.0] * 18
    rpcs = RPC(
        height_off=height_off, height_scale=500, lat_off=52.05, lat_scale=0.1,
        long_off=4.55, long_scale=0.15, line_off=100, line_scale=100, samp_off=150,
        samp_scale=150, line_num_coeff=line_num, line_den_coeff=[1.0] + [0.0] * 19,
        samp_num_coeff=samp_num, samp_den_coeff=[1.0] + [0.0] * 19,
    )  # fmt: skip
    profile = {"driver": "GTiff", "width": 300, "height": 200, "count": 1, "dtype": "uint8"}
    with rasterio.open(path, "w", rpcs=rpcs, **profile, **creation) as dst:
        dst.write(data)
    return path


def test_a_scene_placed_by_rpcs_is_orthorectified_and_published(
    store, pgstac_lookups, bronze_folder, tmp_path
) -> None:
    blob, out = published_raster(
        store, pgstac_lookups, bronze_folder, _rpc_tif(tmp_path / "scene.tif")
    )
    store, _, silver = store
    lineage = out.item["properties"]["processing:lineage"]
    assert "orthorectified from RPCs onto EPSG:4326 at a constant height of 400 m" in lineage
    west, south, east, north = out.item["bbox"]
    assert (west, east) == pytest.approx((4.40, 4.70), abs=0.002)
    assert (south, north) == pytest.approx((51.95, 52.15), abs=0.002)
    with store.local_copy(silver, f"{naming.silver_prefix(blob)}/analysis.tif") as local:
        ok, errors, _ = cog_validate(str(local))
        assert ok, errors
        with rasterio.open(local) as cog:
            assert cog.crs == CRS.from_epsg(4326) and cog.transform.b == 0
            # the scene's first line (values 1..250 repeating) lands on the northern edge
            row = cog.read(1, window=((1, 2), (0, cog.width)))[0]
            assert row[: cog.width // 2].min() >= 1


def test_rpcs_are_applied_at_the_scenes_height(tmp_path: Path) -> None:
    low = rectify(_rpc_tif(tmp_path / "a.tif", 0.0), tmp_path / "a-out.tif", 2**30)
    high = rectify(_rpc_tif(tmp_path / "b.tif", 400.0), tmp_path / "b-out.tif", 2**30)
    assert low is not None and high is not None
    with rasterio.open(low.path) as a, rasterio.open(high.path) as b:
        # both at their own HEIGHT_OFF: the same footprint whatever the mean height
        assert a.bounds == pytest.approx(b.bounds, abs=1e-6)
    flat = tmp_path / "flat.tif"
    with rasterio.open(_rpc_tif(tmp_path / "c.tif", 400.0)) as src:
        profile = {**src.profile, "transform": rasterio.transform.from_origin(4, 52, 0.001, 0.001),
                   "crs": "EPSG:4326"}  # fmt: skip
        with rasterio.open(flat, "w", **profile) as dst:
            dst.write(src.read())
    assert rectify(flat, tmp_path / "none.tif", 2**30) is None  # has a geotransform


def test_rpcs_in_an_rpb_sidecar_are_found(store, pgstac_lookups, bronze_folder, tmp_path):
    """WorldView-style delivery: the RPCs in ``scene.RPB`` beside ``scene.tif`` (a sidecar
    blob, fetched with the raster from either store)."""
    folder = tmp_path / "delivery"
    folder.mkdir()
    _rpc_tif(folder / "scene.tif", PROFILE="BASELINE")  # RPCs in scene.RPB, not in TIFF tags
    assert sorted(p.name for p in folder.iterdir()) == ["scene.RPB", "scene.tif"]
    (folder / "scene.RPB").rename(tmp_path / "aside.RPB")
    with rasterio.open(folder / "scene.tif") as alone:
        assert alone.rpcs is None
    (tmp_path / "aside.RPB").rename(folder / "scene.RPB")
    blobs, bronze, _ = store
    blobs.upload_file(bronze, f"{bronze_folder}/scene.RPB", folder / "scene.RPB")
    _, out = published_raster(store, pgstac_lookups, bronze_folder, folder / "scene.tif")
    assert "orthorectified from RPCs" in out.item["properties"]["processing:lineage"]
    assert out.item["bbox"][0] == pytest.approx(4.40, abs=0.002)


ROTATED_POLE = "+proj=ob_tran +o_proj=longlat +o_lon_p=0 +o_lat_p=39.25 +lon_0=18 +datum=WGS84"


def test_a_crs_no_geotiff_carries_is_warped_onto_lonlat(store, pgstac_lookups, bronze_folder,
                                                       tmp_path):  # fmt: skip
    """A GeoTIFF on a rotated pole (GDAL keeps that CRS in ``grid.tif.aux.xml``, a sidecar
    blob): a COG of its own grid would lose its CRS, so it is warped onto EPSG:4326 (nearest
    neighbour) and the lineage says so."""
    assert geotiff_keeps_crs(CRS.from_epsg(32631).to_wkt())
    assert not geotiff_keeps_crs(CRS.from_proj4(ROTATED_POLE).to_wkt())
    folder = tmp_path / "model"
    folder.mkdir()
    data = (np.arange(40 * 60).reshape(1, 40, 60) % 200 + 1).astype("uint8")
    grid = rasterio.transform.from_origin(-28.6, 20.4, 0.44, 0.44)
    rotated = CRS.from_proj4(ROTATED_POLE)
    with rasterio.open(folder / "grid.tif", "w", driver="GTiff", width=60, height=40, count=1,
                       dtype="uint8", crs=rotated, transform=grid) as dst:  # fmt: skip
        dst.write(data)
    assert sorted(p.name for p in folder.iterdir()) == ["grid.tif", "grid.tif.aux.xml"]
    blobs, bronze, silver = store
    blobs.upload_file(bronze, f"{bronze_folder}/grid.tif.aux.xml", folder / "grid.tif.aux.xml")
    blob, out = published_raster(store, pgstac_lookups, bronze_folder, folder / "grid.tif")
    assert "onto EPSG:4326, nearest neighbour" in out.item["properties"]["processing:lineage"]
    assert out.item["properties"]["proj:code"] == "EPSG:4326"
    with blobs.local_copy(silver, f"{naming.silver_prefix(blob)}/analysis.tif") as cog:
        assert cog_validate(str(cog))[0]
        with rasterio.open(cog) as ds:
            assert ds.crs.to_epsg() == 4326
            values = ds.read(1)
            assert set(np.unique(values[values != 0])) <= set(np.unique(data))
            left, bottom, right, top = ds.bounds
            assert -45 < left < -40 and 10 < right < 20 and 40 < bottom < top < 75, ds.bounds


@pytest.mark.parametrize(
    "crs",
    [pyproj.CRS("EPSG:4269").to_wkt("WKT1_ESRI"), pyproj.CRS("EPSG:3035").to_wkt("WKT1_GDAL"),
     pyproj.CRS("EPSG:7415").to_wkt(), pyproj.CRS("ESRI:54009").to_wkt()],
    ids=["esri-nad83", "gdal-laea", "compound", "mollweide"],
)  # fmt: skip
def test_a_crs_read_back_under_other_names_is_kept(crs: str) -> None:
    """GeoTIFF keys give back these CRSs under other names (EPSG:4269 for an ESRI .prj's
    GCS_North_American_1983, a compound CRS without its vertical part): published as they
    are, never warped."""
    assert geotiff_keeps_crs(CRS.from_wkt(crs).to_wkt())


def test_a_zipped_gridfloat_with_an_esri_prj_publishes_on_its_own_grid(
    store, pgstac_lookups, bronze_folder, tmp_path
):
    """USGS NED tiles come so: ``n40w106.zip`` holding ``floatn40w106_13.flt``, its ``.hdr``
    and an ESRI ``.prj`` (NAD83). The zip is a raster by its members, and the grid is kept."""
    folder = tmp_path / "ned"
    folder.mkdir()
    data = (np.arange(20 * 30, dtype="float32").reshape(1, 20, 30) / 3 + 1500).astype("float32")
    nad83 = CRS.from_wkt(pyproj.CRS(4269).to_wkt("WKT1_ESRI"))
    grid = rasterio.transform.from_origin(-106, 40, 0.001, 0.001)
    with rasterio.open(folder / "floatn40w106_13.flt", "w", driver="EHdr", width=30, height=20,
                       count=1, dtype="float32", crs=nad83, transform=grid) as dst:  # fmt: skip
        dst.write(data)
    members = sorted(p.name for p in folder.iterdir())
    assert content_kind_of_zip(members)[0] == "raster"
    archive = tmp_path / "n40w106.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in members:
            zf.write(folder / name, name)
    blob, out = published_raster(store, pgstac_lookups, bronze_folder, archive)
    assert "warped" not in out.item["properties"]["processing:lineage"]
    assert out.item["properties"]["proj:code"] == "EPSG:4269"
    blobs, _bronze, silver = store
    analysis = f"{naming.silver_prefix(blob)}/analysis.tif"
    with blobs.local_copy(silver, analysis) as cog, rasterio.open(cog) as ds:
        assert ds.crs.to_epsg() == 4269 and np.array_equal(ds.read(), data)
