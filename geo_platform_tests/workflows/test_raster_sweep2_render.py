"""A UInt64 nodata of 2**64-1 (raster sweep 2), which rasterio reports as None although GDAL
masks it: the STAC band carries it exactly and the visualization tier and thumbnail mask its
pixels. Local store and pgstac; the published tiers are read back with rasterio. (Palette
transparency: ``lib/raster/test_render_palette.py``.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from PIL import Image
from rasterio.transform import from_origin

from geo_platform.lib import naming
from geo_platform.lib.raster.grid import band_nodatavals
from geo_platform.store.blobs.local import LocalBlobStore
from geo_platform_tests.fixtures.helpers import published_raster

GRID = {"crs": "EPSG:32633", "transform": from_origin(400_000, 5_500_000, 30, 30)}
U64_MAX = 2**64 - 1


def _silver(blob_store: LocalBlobStore, blob: str, name: str) -> Path:
    return Path(blob_store.root) / "silver" / naming.silver_prefix(blob) / name


def _uint64_tif(path: Path, tmp_path: Path) -> np.ndarray:
    """60 x 60 UInt64 with a 10 x 10 block of nodata 2**64-1 (which rasterio cannot write as
    nodata: GDAL sets it through a VRT)."""
    y, x = np.mgrid[0:60, 0:60]
    data = ((x * 3 + y * 5) % 200).astype("uint64") * np.uint64(10**15)
    data[:10, :10] = np.iinfo("uint64").max
    plain = tmp_path / "plain.tif"
    profile = {"driver": "GTiff", "width": 60, "height": 60, "count": 1, "dtype": "uint64"}
    with rasterio.open(plain, "w", **profile, **GRID) as dst:
        dst.write(data, 1)
    vrt = tmp_path / "u64.vrt"
    vrt.write_text(
        '<VRTDataset rasterXSize="60" rasterYSize="60">'
        f"<SRS>{rasterio.crs.CRS.from_string(GRID['crs']).to_wkt()}</SRS>"
        f"<GeoTransform>{', '.join(map(repr, GRID['transform'].to_gdal()))}</GeoTransform>"
        f'<VRTRasterBand dataType="UInt64" band="1"><NoDataValue>{U64_MAX}</NoDataValue>'
        f"<SimpleSource><SourceFilename>{plain}</SourceFilename><SourceBand>1</SourceBand>"
        "</SimpleSource></VRTRasterBand></VRTDataset>"
    )
    rasterio.shutil.copy(vrt, path, driver="GTiff")
    with rasterio.open(path) as ds:
        assert ds.nodata is None  # rasterio's view, the reason for ``band_nodatavals``
        assert band_nodatavals(ds) == (U64_MAX,)
    return data


def test_a_uint64_nodata_of_2_64_minus_1_is_described_and_masked(
    blob_store, pgstac_lookups, bronze_folder, tmp_path
) -> None:
    data = _uint64_tif(tmp_path / "u64.tif", tmp_path)
    blob, out = published_raster((blob_store, "bronze", "silver"), pgstac_lookups,
                                 bronze_folder, tmp_path / "u64.tif")  # fmt: skip

    band = out.item["assets"]["analysis"]["bands"][0]
    assert band["data_type"] == "uint64"
    assert band["nodata"] == U64_MAX and isinstance(band["nodata"], int)  # exact, not 2**64
    with rasterio.open(_silver(blob_store, blob, "analysis.tif")) as ds:
        assert np.array_equal(ds.read(1), data)
    with rasterio.open(_silver(blob_store, blob, "visualization.tif")) as vis:
        mask = vis.dataset_mask()
    assert (mask[:10, :10] == 0).all()
    assert (mask[data != np.iinfo("uint64").max] == 255).all()
    thumb = np.asarray(Image.open(_silver(blob_store, blob, "thumbnail.png")))
    assert thumb.shape == (60, 60, 2)  # grey and alpha, never larger than the raster
    assert (thumb[..., 1][:10, :10] == 0).all()
    assert (thumb[..., 1][data != np.iinfo("uint64").max] == 255).all()
