"""Rasters found by fuzzing: odd but legitimate files publish, hostile ones get a clear error."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from rasterio.crs import CRS
from rasterio.transform import from_origin

from geo_platform.lib.errors import (
    CoordinateRangeError,
    NotGeoreferencedError,
    UnreadableFileError,
    UnsupportedFormatError,
)
from geo_platform.lib.raster.cog import build_cog_tiers
from geo_platform.lib.raster.inspect import inspect_raster
from geo_platform.lib.raster.multidim import read_cube
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.tags import parse_datetime
from geo_platform.lib.raster.validate import validate_cog
from geo_platform.lib.stac.raster_item import build_raster_item
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.types import Provenance
from geo_platform_tests.fixtures.netcdf3 import climate_cube
from geo_platform_tests.lib.raster.synth import damage_block

PROV = Provenance(source_blob="bronze/x.tif", source_etag="e")


def _tif(path: Path, data: np.ndarray, **kw: Any) -> Path:
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": str(data.dtype),
        "crs": "EPSG:32633",
        "transform": from_origin(500000, 5000000, 10, 10),
    }
    profile.update(kw)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    return path


def _item(path: Path, out: Path, **options: Any) -> dict[str, Any]:
    result = build_cog_tiers(path, out, RasterOptions(**options), f"bronze/{path.name}")
    hrefs = {k: f"https://x/{k}.tif" for k in result.published()}
    item = build_raster_item(
        result, item_id="x", collection_id="c", hrefs=hrefs, provenance=PROV
    ).to_dict()
    validate_stac(item)
    json.dumps(item, allow_nan=False)  # pgstac stores JSON: no NaN or infinity
    return item


def test_macos_zip_noise_is_ignored(tmp_path: Path) -> None:
    src = _tif(tmp_path / "a.tif", np.ones((1, 8, 8), "uint8"))
    archive = tmp_path / "mac.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(src, "a.tif")
        z.writestr("__MACOSX/._a.tif", b"\x00\x05\x16\x07")
        z.writestr(".DS_Store", b"\x00")
    info = inspect_raster(archive, "bronze/mac.zip")
    assert info.gdal_path.endswith("mac.zip/a.tif") and info.width == 8


def test_a_prj_inside_the_zip_and_an_upper_case_prj_are_used(tmp_path: Path) -> None:
    wkt = CRS.from_epsg(32633).to_wkt()
    src = _tif(tmp_path / "n.tif", np.ones((1, 8, 8), "uint8"), crs=None)
    archive = tmp_path / "prj.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(src, "r.tif")
        z.writestr("r.prj", wkt)
    info = inspect_raster(archive, "bronze/prj.zip")
    assert (info.crs_code, info.crs_source) == ("EPSG:32633", "prj_sidecar")
    upper = _tif(tmp_path / "UP.TIF", np.ones((1, 8, 8), "uint8"), crs=None)
    (tmp_path / "UP.PRJ").write_text(wkt)
    assert inspect_raster(upper, "bronze/UP.TIF").crs_code == "EPSG:32633"


def test_vrt_files_are_refused_before_anything_is_read(tmp_path: Path) -> None:
    """A VRT could publish any file the worker can read (here /etc/passwd as pixels)."""
    vrt = tmp_path / "p.tif"  # the extension does not matter: GDAL sniffs the content
    vrt.write_text(
        '<VRTDataset rasterXSize="40" rasterYSize="1"><SRS>EPSG:32633</SRS>'
        "<GeoTransform>500000,10,0,5000000,0,-10</GeoTransform>"
        '<VRTRasterBand dataType="Byte" band="1" subClass="VRTRawRasterBand">'
        '<SourceFilename relativetoVRT="0">/etc/passwd</SourceFilename><ImageOffset>0'
        "</ImageOffset><PixelOffset>1</PixelOffset><LineOffset>40</LineOffset>"
        "</VRTRasterBand></VRTDataset>"
    )
    with pytest.raises(UnsupportedFormatError, match="VRT file refers to other files") as err:
        build_cog_tiers(vrt, tmp_path / "out", RasterOptions(), "bronze/p.tif")
    assert "bronze/p.tif" in str(err.value)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.tif"))


def test_datetimes_with_offsets_become_utc_and_bad_epochs_are_ignored(tmp_path: Path) -> None:
    assert parse_datetime("2020-01-01T10:00:00+05:00").isoformat() == "2020-01-01T05:00:00+00:00"
    assert parse_datetime("-99999999999") is None
    src = _tif(tmp_path / "tz.tif", np.ones((1, 8, 8), "uint8"))
    with rasterio.open(src, "r+") as ds:
        ds.update_tags(ACQUISITIONDATETIME="2020-01-01T10:00:00+05:00")
    item = _item(src, tmp_path / "out")
    assert item["properties"]["datetime"] == "2020-01-01T05:00:00Z"


def test_a_geographic_raster_outside_the_earth_is_refused(tmp_path: Path) -> None:
    src = _tif(
        tmp_path / "beyond.tif",
        np.ones((1, 10, 10), "uint8"),
        crs="EPSG:4326",
        transform=from_origin(500000, 5000000, 10, 10),  # metres labelled as degrees
    )
    with pytest.raises(CoordinateRangeError, match="look projected"):
        inspect_raster(src, "bronze/beyond.tif")


def test_rows_beyond_a_pole_are_refused(tmp_path: Path) -> None:
    """EPSG:4326 rows from latitude 100 to -100: before, the bbox was clamped to +-90 and the
    impossible grid published."""
    src = _tif(
        tmp_path / "over.tif",
        np.full((1, 200, 100), 5, "uint8"),
        crs="EPSG:4326",
        transform=from_origin(0, 100, 1, 1),
    )
    with pytest.raises(
        CoordinateRangeError,
        match=r"bronze/over.tif: rows reach latitude 100, beyond the pole at 90 "
        r"\(bounds 0, -100, 100, 100 .*geotransform or the CRS is wrong",
    ):
        inspect_raster(src, "bronze/over.tif")
    south = _tif(
        tmp_path / "south.tif",
        np.ones((1, 20, 10), "uint8"),
        crs="EPSG:4326",
        transform=from_origin(0, -80, 1, 1),  # rows down to -100
    )
    with pytest.raises(CoordinateRangeError, match=r"rows reach latitude -100, beyond .* -90"):
        inspect_raster(south, "bronze/south.tif")


@pytest.mark.parametrize(
    ("west", "north", "size", "shape"),
    [
        (-180, 90, 1.0, (180, 360)),  # global, edges on the poles
        (0, 90, 1.0, (180, 360)),  # global over 0..360: longitudes are not checked
        (-180.5, 90.5, 1.0, (181, 361)),  # pixel centres on the poles: edges half a pixel out
        (-180, 90.0000001, 0.25, (720, 1440)),  # an edge rounded a hair past the pole
        (170, 90, 0.5, (20, 40)),  # across the antimeridian, up to the pole
    ],
)
def test_rows_on_or_half_a_pixel_past_a_pole_are_fine(
    tmp_path: Path, west: float, north: float, size: float, shape: tuple[int, int]
) -> None:
    src = _tif(
        tmp_path / "g.tif",
        np.ones((1, *shape), "uint8"),
        crs="EPSG:4326",
        transform=from_origin(west, north, size, size),
    )
    info = inspect_raster(src, "bronze/g.tif")
    assert -90 <= info.bbox_4326[1] <= info.bbox_4326[3] <= 90


def test_rows_more_than_half_a_pixel_past_a_pole_are_refused(tmp_path: Path) -> None:
    src = _tif(
        tmp_path / "g.tif",
        np.ones((1, 181, 360), "uint8"),
        crs="EPSG:4326",
        transform=from_origin(-180, 90.6, 1, 1),
    )
    with pytest.raises(CoordinateRangeError, match=r"rows reach latitude 90\.6"):
        inspect_raster(src, "bronze/g.tif")


def _corrupt_block(path: Path, data: np.ndarray, **kw: Any) -> Path:
    """A tiled, deflated GeoTIFF whose block at column 0, row 1 is garbage (its header
    intact: the file opens), as a transfer that damaged bytes leaves it."""
    kw = {"tiled": True, "blockxsize": 64, "blockysize": 64, "compress": "deflate", **kw}
    _tif(path, data, **kw)
    damage_block(path, 0, 1)
    return path


def test_a_corrupt_block_found_at_inspection_names_the_band_and_block(tmp_path: Path) -> None:
    """With a nodata value, inspection reads the blocks (is any pixel valid?) and meets the
    corrupt one first; before, "RasterioIOError: Read failed. See previous exception"."""
    data = (np.arange(256 * 256) % 200 + 1).astype("int16").reshape(1, 256, 256)
    src = _corrupt_block(tmp_path / "dem.tif", data, nodata=-9999)
    with pytest.raises(UnreadableFileError) as err:
        inspect_raster(src, "bronze/dem.tif")
    text = str(err.value)
    assert text.startswith("bronze/dem.tif: band 1, block 0 across and 1 down cannot be decoded")
    assert "the file is corrupt" in text and "upload it again" in text
    assert "IReadBlock failed at X offset 0, Y offset 1" in text  # GDAL's own words
    assert "Decoding error" in text and str(tmp_path) not in text


def test_a_corrupt_block_of_a_lossy_cog_kept_as_its_analysis_tier(tmp_path: Path) -> None:
    """A JPEG COG becomes the analysis tier as delivered (no re-encoding, ``tier_rules``): its
    full-resolution blocks are first decoded by the visualization build, which names them."""
    data = (np.arange(3 * 512 * 512) % 251).astype("uint8").reshape(3, 512, 512)
    plain = _tif(tmp_path / "plain.tif", data, photometric="RGB")
    src = tmp_path / "photo.tif"
    rasterio.shutil.copy(plain, src, driver="COG", compress="JPEG", blocksize=256)
    damage_block(src, 1, 1)
    out = tmp_path / "out"
    with pytest.raises(UnreadableFileError, match=r"bronze/photo.tif: band 1, block 1 across"):
        build_cog_tiers(src, out, RasterOptions(), "bronze/photo.tif")
    assert list(out.iterdir()) == []


def test_complex_int16_publishes(tmp_path: Path) -> None:
    base = _tif(tmp_path / "i.tif", (np.arange(64).reshape(1, 8, 8) - 20).astype("int16"))
    src = tmp_path / "cint16.tif"
    subprocess.run(["gdal_translate", "-q", "-ot", "CInt16", str(base), str(src)], check=True)
    item = _item(src, tmp_path / "out")
    assert item["assets"]["analysis"]["bands"][0]["data_type"] == "cint16"


def test_one_bit_rasters_publish_losslessly(tmp_path: Path) -> None:
    data = (np.arange(64 * 80).reshape(1, 64, 80) % 3 == 0).astype("uint8")
    src = _tif(tmp_path / "nbits1.tif", data, nbits=1)
    result = build_cog_tiers(src, tmp_path / "out", RasterOptions(), "bronze/nbits1.tif")
    analysis = result.tiers["analysis"].path
    assert analysis is not None
    validate_cog(analysis)
    with rasterio.open(analysis) as ds:
        assert np.array_equal(ds.read(), data)


def test_statistics_overflowing_to_infinity_are_left_out(tmp_path: Path) -> None:
    data = np.full((1, 64, 80), 100.0)
    data[0, :10] = -1.7976931348623157e308  # a fill value near the float64 limit, no nodata
    item = _item(_tif(tmp_path / "dblmax.tif", data), tmp_path / "out")
    stats = item["assets"]["analysis"]["bands"][0]["statistics"]
    assert "mean" not in stats and "stddev" not in stats
    assert stats["maximum"] == 100.0


@pytest.mark.parametrize("shape", [(1, 600, 1), (1, 3, 5000)])
def test_rasters_a_few_pixels_across_publish_valid_cogs(tmp_path: Path, shape: tuple) -> None:
    src = _tif(tmp_path / "thin.tif", np.ones(shape, "uint8"))
    result = build_cog_tiers(src, tmp_path / "out", RasterOptions(), "bronze/thin.tif")
    assert set(result.tiers) == {"analysis", "visualization", "archive"}
    for tier in result.tiers.values():
        assert tier.path is not None and tier.path.is_file(), (tier.tier, tier.skipped_reason)
        validate_cog(tier.path)
        with rasterio.open(tier.path) as ds:
            assert (ds.count, ds.height, ds.width) == shape, tier.tier
            assert ds.overviews(1) == [], tier.tier  # too thin for overviews


@pytest.mark.parametrize(("dtype", "fill"), [("float32", "nan"), ("int16", -32768)])
def test_reprojection_padding_of_data_without_nodata_is_not_data(
    tmp_path: Path, dtype: str, fill: float | str
) -> None:
    """GDAL pads a warped grid; without nodata that padding must not count as pixels (a float
    alpha band is not read as a mask by GDAL, so the platform gives the output a nodata)."""
    src = _tif(tmp_path / f"{dtype}.tif", np.full((1, 64, 80), 100, dtype))
    result = build_cog_tiers(
        src, tmp_path / "out", RasterOptions(web_optimized=True), f"bronze/{src.name}"
    )
    stats = result.band_stats[0]
    assert stats.minimum == stats.maximum == 100.0 and stats.valid_percent < 50
    with rasterio.open(result.tiers["analysis"].path) as ds:
        assert ds.count == 1
        assert ds.nodata is not None
        if fill == "nan":
            assert np.isnan(ds.nodata)
        else:
            assert ds.nodata == fill
    w, s, e, n = result.footprint.bbox
    sw, ss, se, sn = result.info.bbox_4326
    assert abs(w - sw) < 1e-3 and abs(e - se) < 1e-3 and abs(s - ss) < 1e-3 and abs(n - sn) < 1e-3


def test_an_option_gdal_cannot_apply_is_not_reported_as_corruption(tmp_path: Path) -> None:
    src = _tif(
        tmp_path / "tiny.tif",
        np.ones((1, 8, 8), "uint8"),
        crs="EPSG:4326",
        transform=from_origin(10, 45, 1e-12, 1e-12),  # no web mercator zoom level is this fine
    )
    with pytest.raises(UnsupportedFormatError, match="appropriate zoom level") as err:
        build_cog_tiers(src, tmp_path / "o", RasterOptions(web_optimized=True), "bronze/tiny.tif")
    assert "corrupt" not in str(err.value) and "bronze/tiny.tif" in str(err.value)


def test_metadata_that_is_not_utf8_does_not_stop_a_publish(tmp_path: Path) -> None:
    """A JPEG2000 whose GMLJP2 box holds a byte that is not UTF-8: rasterio refuses the whole
    metadata domain (UnicodeDecodeError); the raster publishes without it."""
    src = _tif(tmp_path / "s.tif", np.arange(64, dtype="uint8").reshape(1, 8, 8))
    jp2 = tmp_path / "ortho.jp2"
    rasterio.shutil.copy(src, jp2, driver="JP2OpenJPEG", QUALITY=100, REVERSIBLE=True)
    data = jp2.read_bytes()
    at = data.index(b"FeatureCollection")
    jp2.write_bytes(data[:at] + b"\x98" + data[at + 1 :])  # same length: boxes stay valid
    with rasterio.open(jp2) as ds, pytest.raises(UnicodeDecodeError):
        ds.tags(ns="xml:gml.root-instance")
    info = inspect_raster(jp2, "bronze/ortho.jp2", max_bytes=2**30, max_pixels=2**30)
    assert "xml:gml.root-instance" not in info.extra_metadata and info.crs.to_epsg() == 32633
    item = _item(jp2, tmp_path / "out")
    assert item["properties"]["proj:code"] == "EPSG:32633"


@pytest.mark.parametrize("cog", [False, True], ids=["tiff", "cog"])
def test_a_truncated_tiff_is_refused_as_such(tmp_path: Path, cog: bool) -> None:
    """An interrupted upload: GDAL opens the file, and a truncated COG keeps its structure (its
    tiles were the tail); before, a byte copy of it became the archive tier and the publish
    failed later with "Read failed. See previous exception for details."."""
    data = (np.arange(3 * 256 * 256) % 251).astype("uint8").reshape(3, 256, 256)
    src = _tif(tmp_path / "full.tif", data, tiled=True, compress="deflate")
    if cog:
        rasterio.shutil.copy(src, tmp_path / "full_cog.tif", driver="COG", compress="deflate")
        src = tmp_path / "full_cog.tif"
    whole = src.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    with pytest.raises(UnreadableFileError, match=r"bronze/cut\.tif.*TIFF is truncated.*upload"):
        inspect_raster(cut, "bronze/cut.tif", max_bytes=2**30, max_pixels=2**30)
    inspect_raster(src, "bronze/full.tif", max_bytes=2**30, max_pixels=2**30)  # whole: fine


def test_a_truncated_netcdf_is_refused_as_such(tmp_path: Path) -> None:
    whole = climate_cube(tmp_path / "cube.nc").read_bytes()
    cut = tmp_path / "cut.nc"
    cut.write_bytes(whole[: len(whole) - 100])
    with pytest.raises(UnreadableFileError, match=r"bronze/cut\.nc.*netCDF file is truncated"):
        read_cube(cut, "bronze/cut.nc", tmp_path)
    assert read_cube(tmp_path / "cube.nc", "bronze/cube.nc", tmp_path) is not None


def test_a_drone_photo_is_refused_with_where_its_camera_was(tmp_path: Path) -> None:
    """A JPEG with EXIF GPS tags only: no geotransform, so it cannot be published, and the
    error says why its GPS position does not place it."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (52.0, 5.0, 10.0), 3: "E", 4: (4.0, 20.0, 30.0), 6: 120.5}
    photo = tmp_path / "DJI_0001.JPG"
    Image.fromarray(np.zeros((40, 60, 3), "uint8")).save(photo, exif=exif)
    with pytest.raises(NotGeoreferencedError, match=r"DJI_0001.*52\.0861N 4\.3417E.*orthorectify"):
        inspect_raster(photo, "bronze/DJI_0001.JPG", max_bytes=2**30, max_pixels=2**30)
    plain = tmp_path / "plain.jpg"
    Image.fromarray(np.zeros((40, 60, 3), "uint8")).save(plain)
    with pytest.raises(NotGeoreferencedError) as err:
        inspect_raster(plain, "bronze/plain.jpg", max_bytes=2**30, max_pixels=2**30)
    assert "EXIF" not in str(err.value)
