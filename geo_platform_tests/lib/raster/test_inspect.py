"""inspect_raster on every shared test raster and on synthesized bad inputs."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from geo_platform.lib.errors import (
    EmptyDatasetError,
    EmptyFileError,
    InputError,
    InvalidCRSError,
    MissingCRSError,
    NotGeoreferencedError,
    TooLargeError,
    UnreadableFileError,
    UnsupportedFormatError,
)
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.raster.inspect import inspect_raster
from geo_platform.lib.raster.opening import SeveralRastersError
from geo_platform.lib.raster.zip_mosaic import mosaic_vrt
from geo_platform_tests.fixtures.helpers import TESTDATA
from geo_platform_tests.lib.raster import synth

# Every file in shared/testdata/rasters and what the platform must do with it (None = publish).
EXPECTED: dict[str, type[InputError] | None] = {
    "antimeridian/cog_dateline.tif": None,
    "cog_valid/cogeo.tif": None,
    "corrupt/RGB.byte.truncated-50pct.tif": UnreadableFileError,
    "dem_float32/dem-hills.tiff": None,
    "misc/sample_bigtiff.tif": NotGeoreferencedError,
    "multiband_uint16/RGBA.uint16.tif": None,
    "multiband_uint16/all-nodata.tif": EmptyDatasetError,
    "no_crs/hopper.tif": NotGeoreferencedError,
    "non_tiff/dem_azimuth50_pa.img": None,
    "non_tiff/gfs.t06z.pgrb2.10p0.f010.grib2": None,
    "non_tiff/nemo.jp2": NotGeoreferencedError,
    "palette/storml_tcc.tif": None,
    "rgb_uint8/RGB.byte.tif": None,
    "rotated/rotated.tif": MissingCRSError,
    "unusual_crs/goes.tif": None,
    "unusual_crs/test_esri_wkt.tif": None,
}
PUBLISHABLE = sorted(k for k, v in EXPECTED.items() if v is None)


def test_every_shared_raster_has_an_expectation() -> None:
    on_disk = {
        p.relative_to(synth.RASTERS).as_posix() for p in synth.RASTERS.rglob("*") if p.is_file()
    }
    assert on_disk == set(EXPECTED), "classify new test rasters in EXPECTED"


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_shared_raster_outcome(rel: str) -> None:
    expected = EXPECTED[rel]
    name = f"bronze/{rel}"
    if expected is None:
        info = inspect_raster(synth.RASTERS / rel, name)
        assert info.name == name
        assert info.width > 0 and info.height > 0 and info.count == len(info.dtypes)
        minx, miny, maxx, maxy = info.bbox_4326
        assert -180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny < maxy <= 90
        assert info.footprint_4326["type"] in ("Polygon", "MultiPolygon")
        return
    with pytest.raises(expected) as err:
        inspect_raster(synth.RASTERS / rel, name)
    assert str(err.value).startswith(name + ": "), "errors must name the bronze file"
    assert err.value.path == name


def test_details_of_known_rasters() -> None:
    rgb = inspect_raster(synth.RASTERS / "rgb_uint8/RGB.byte.tif", "rgb")
    assert (rgb.crs_code, rgb.epsg, rgb.nodata, rgb.mask_kind) == (
        "EPSG:32618",
        32618,
        0.0,
        "nodata",
    )
    assert rgb.colorinterp == ("red", "green", "blue") and not rgb.is_categorical

    palette = inspect_raster(synth.RASTERS / "palette/storml_tcc.tif", "pal")
    assert palette.has_palette and palette.is_categorical

    esri = inspect_raster(synth.RASTERS / "unusual_crs/test_esri_wkt.tif", "esri")
    assert esri.crs_code == "ESRI:102039" and esri.epsg is None

    dem = inspect_raster(synth.RASTERS / "dem_float32/dem-hills.tiff", "dem")
    assert dem.crs_code is None and "GEOGCRS" in dem.crs_wkt2 and dem.nodata == -999999.0

    rgba = inspect_raster(synth.RASTERS / "multiband_uint16/RGBA.uint16.tif", "rgba")
    assert (rgba.alpha_band, rgba.mask_kind) == (4, "alpha")

    grib = inspect_raster(synth.RASTERS / "non_tiff/gfs.t06z.pgrb2.10p0.f010.grib2", "grib")
    assert grib.driver == "GRIB" and grib.count == 6
    assert grib.datetime is not None and grib.datetime.isoformat() == "2021-09-18T16:00:00+00:00"
    assert grib.datetime_tag == "GRIB_VALID_TIME"
    assert grib.bbox_4326 == (-180.0, -89.875, 180.0, 90.0)

    img = inspect_raster(synth.RASTERS / "non_tiff/dem_azimuth50_pa.img", "img")
    assert img.driver == "HFA" and img.descriptions == ("hshade17",)


def test_antimeridian_bbox_and_multipolygon() -> None:
    info = inspect_raster(synth.RASTERS / "antimeridian/cog_dateline.tif", "dateline")
    minx, _, maxx, _ = info.bbox_4326
    assert minx > maxx, "bbox must cross the antimeridian per the STAC spec"
    assert (maxx + 360 - minx) < 10, "must not span the globe"
    assert info.footprint_4326["type"] == "MultiPolygon"


def test_geostationary_full_disk_keeps_the_earth_part() -> None:
    info = inspect_raster(synth.RASTERS / "unusual_crs/goes.tif", "goes")
    minx, miny, maxx, maxy = info.bbox_4326
    assert -160 < minx < -150 and 0 < maxx < 10 and -80 < miny < -70 and 70 < maxy < 80


def test_zero_byte_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFileError, match=r"empty.tif: the file is empty"):
        inspect_raster(empty, "empty.tif")


@pytest.mark.parametrize(
    "content", [b"hello, not a raster\n", b'{"type": "FeatureCollection", "features": []}']
)
def test_not_a_raster(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "thing.tif"
    path.write_bytes(content)
    with pytest.raises(UnsupportedFormatError, match=r"thing.tif: not a raster format"):
        inspect_raster(path, "thing.tif")


def test_vector_geopackage_with_subdatasets_is_unsupported() -> None:
    gpkg = TESTDATA / "vectors/gpkg_multilayer/ynp_features.gpkg"
    with pytest.raises(UnsupportedFormatError, match="subdatasets"):
        inspect_raster(gpkg, "ynp.gpkg")


def test_gcps_only_is_not_georeferenced(tmp_path: Path) -> None:
    with pytest.raises(NotGeoreferencedError, match="GCPs only"):
        inspect_raster(synth.gcp_only(tmp_path / "gcps.tif"), "gcps.tif")


def test_too_large(tmp_path: Path) -> None:
    with pytest.raises(TooLargeError, match=r"huge.tif: 200000x200000x1 uint8 is 37.3 GiB"):
        inspect_raster(synth.huge_sparse_tif(tmp_path / "huge.tif"), "huge.tif")
    small = synth.write_tif(tmp_path / "small.tif", synth.gradient(1, 100, 100))
    with pytest.raises(TooLargeError):
        inspect_raster(small, "small.tif", max_bytes=9_999)
    with pytest.raises(TooLargeError):
        inspect_raster(small, "small.tif", max_pixels=9_999)


def test_all_nodata_synthesized(tmp_path: Path) -> None:
    zeros = synth.write_tif(tmp_path / "z.tif", np.zeros((2, 300, 200), "uint16"), nodata=0)
    with pytest.raises(EmptyDatasetError, match="every pixel is nodata"):
        inspect_raster(zeros, "z.tif")
    nans = synth.write_tif(
        tmp_path / "n.tif", np.full((1, 50, 50), np.nan, "float32"), nodata=np.nan
    )
    with pytest.raises(EmptyDatasetError):
        inspect_raster(nans, "n.tif")
    one = np.zeros((1, 300, 200), "uint16")
    one[0, 299, 199] = 7  # a single valid pixel is enough
    assert (
        inspect_raster(synth.write_tif(tmp_path / "one.tif", one, nodata=0), "one.tif").count == 1
    )


def test_engineering_crs_is_rejected(tmp_path: Path) -> None:
    local = 'LOCAL_CS["site grid",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]'
    path = synth.write_tif(tmp_path / "local.tif", synth.gradient(1, 10, 10), crs=local)
    with pytest.raises(InvalidCRSError, match=r"local.tif: its CRS .* is a local engineering CRS"):
        inspect_raster(path, "local.tif")


def test_jpeg_with_world_file_and_prj(tmp_path: Path) -> None:
    info = inspect_raster(synth.jpeg_with_world_file(tmp_path / "a"), "photo.jpg")
    assert info.driver == "JPEG" and info.crs_source == "prj_sidecar"
    assert info.transform == (10.0, 0.0, 500000.0, 0.0, -10.0, 5000010.0)
    assert 14 < info.bbox_4326[0] < 15.1 and 45 < info.bbox_4326[1] < 45.2


def test_jpeg_world_file_without_crs(tmp_path: Path) -> None:
    jpg = synth.jpeg_with_world_file(tmp_path / "b", prj=None)
    with pytest.raises(MissingCRSError, match="no CRS"):
        inspect_raster(jpg, "photo.jpg")
    assumed = inspect_raster(jpg, "photo.jpg", assume_crs="EPSG:32633")
    assert (assumed.crs_source, assumed.crs_code) == ("assumed", "EPSG:32633")
    garbage = synth.jpeg_with_world_file(tmp_path / "c", prj="garbage")
    with pytest.raises(InvalidCRSError, match="prj_sidecar"):
        inspect_raster(garbage, "photo.jpg")


def test_zipped_srtm_tile(tmp_path: Path) -> None:
    info = inspect_raster(synth.srtm_zip(tmp_path), "dem/N45E006.SRTMGL3.hgt.zip")
    assert info.driver == "SRTMHGT" and info.gdal_path.startswith("/vsizip/")
    assert (info.width, info.height, info.dtype, info.nodata) == (1201, 1201, "int16", -32768.0)
    assert [round(v, 3) for v in info.bbox_4326] == [6.0, 45.0, 7.0, 46.0]


def test_zip_with_two_rasters_is_refused(tmp_path: Path) -> None:
    import zipfile

    tif = synth.write_tif(tmp_path / "a.tif", synth.gradient(1, 8, 8))
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(tif, "a.tif")
        zf.write(tif, "b.tif")
    with pytest.raises(SeveralRastersError, match=r"holds 2 rasters \(a.tif, b.tif\)") as err:
        inspect_raster(archive, "two.zip")  # the raster pipeline mosaics tiles (zip_mosaic)
    assert err.value.members == ["a.tif", "b.tif"]
    with pytest.raises(UnsupportedFormatError, match=r"'a.tif' and 'b.tif' cover the same"):
        mosaic_vrt(archive, "two.zip", err.value.members, tmp_path / "m.vrt")


def test_metadata_datetime_and_sensor(tmp_path: Path) -> None:
    path = synth.write_tif(tmp_path / "m.tif", synth.gradient(1, 20, 20))
    import rasterio

    with rasterio.open(path, "r+") as ds:
        ds.update_tags(
            TIFFTAG_DATETIME="2021:06:01 10:20:30", TIFFTAG_SOFTWARE="Sensor Suite 2", SENSOR="OLI"
        )
        ds.update_tags(ns="CUSTOM", answer="42")
    info = inspect_raster(path, "m.tif")
    assert info.datetime is not None and info.datetime.isoformat() == "2021-06-01T10:20:30+00:00"
    assert info.datetime_tag == "TIFFTAG_DATETIME"
    assert info.sensor == {"instrument": "OLI", "software": "Sensor Suite 2"}
    assert info.extra_metadata["CUSTOM"] == {"answer": "42"}


def test_rotated_with_assumed_crs_is_accepted() -> None:
    info = inspect_raster(synth.RASTERS / "rotated/rotated.tif", "rot", assume_crs="EPSG:32633")
    assert info.transform[1] != 0 and info.footprint_4326["type"] == "Polygon"


def test_a_local_engineering_crs_is_refused_unless_a_real_one_is_given(tmp_path: Path) -> None:
    """A LOCAL_CS (a site grid, CAD coordinates) is not on the Earth: PROJ cannot transform it,
    so it is named as such; ``assume_crs`` says which real CRS its numbers are in."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from geo_platform.lib.raster.cog import RasterOptions, build_cog_tiers

    path = tmp_path / "site.tif"
    local = CRS.from_wkt('LOCAL_CS["site grid",UNIT["metre",1]]')
    profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 1, "dtype": "uint8",
               "crs": local, "transform": from_origin(150000, 460000, 1, 1)}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((1, 64, 64), 9, "uint8"))
    with pytest.raises(InvalidCRSError, match=r"site\.tif.*'site grid'.*local engineering CRS"):
        inspect_raster(path, "r/site.tif")
    info = inspect_raster(path, "r/site.tif", assume_crs="EPSG:28992")
    assert (info.crs_source, info.crs_code) == ("assumed", "EPSG:28992")
    assert 5.3 < info.bbox_4326[0] < 5.4  # Amersfoort, where RD New's 150000/460000 lies
    result = build_cog_tiers(path, tmp_path / "out", RasterOptions(assume_crs="EPSG:28992"),
                             "r/site.tif")  # fmt: skip
    with rasterio.open(result.tiers["analysis"].path) as cog:
        assert cog.crs.to_epsg() == 28992


@pytest.mark.parametrize(("name", "sdk"), [("ortho.ecw", "ECW SDK"), ("ortho.sid", "MrSID SDK")])
def test_proprietary_formats_are_named_with_what_to_do(tmp_path: Path, name, sdk) -> None:
    """ECW and MrSID need SDKs the platform's GDAL lacks: the error names the format and the
    way out (export as GeoTIFF or JPEG2000), loose or zipped, instead of "GDAL recognises no
    raster format"."""
    loose = tmp_path / name
    loose.write_bytes(b"msid" + bytes(range(256)) * 4)
    zipped = tmp_path / "delivery.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(loose, f"sheets/{name}")
    for path, blob in ((loose, f"in/{name}"), (zipped, "in/delivery.zip")):
        with pytest.raises(InputError, match=f"proprietary {sdk}.*GeoTIFF or JPEG2000"):
            inspect_raster(path, blob)  # the silver stage
        with pytest.raises(InputError, match=f"proprietary {sdk}.*GeoTIFF or JPEG2000"):
            inventory_file(path, blob, "raster")  # the bronze stage


def test_too_few_gcps_and_degenerate_geotransforms_are_named(tmp_path: Path) -> None:
    """Two GCPs cannot be georectified (GDAL's polynomial takes three): the publish failed
    with GDAL's "CPLE_AppDefinedError: Failed to compute GCP transform". A geotransform of
    pixels of no area (an ``.aux.xml`` saying so) cannot place anything. Both are refused
    with what to fix."""
    import rasterio
    from PIL import Image
    from rasterio.control import GroundControlPoint

    from geo_platform.lib.raster.rectify import rectify

    two = synth.write_tif(tmp_path / "two.tif", synth.gradient(1, 20, 30), crs=None,
                          transform=rasterio.Affine.identity())  # fmt: skip
    points = [GroundControlPoint(0, 0, 500000, 5000000), GroundControlPoint(20, 30, 500300, 0)]
    with rasterio.open(two, "r+") as ds:
        ds.gcps = (points, rasterio.CRS.from_epsg(32633))
    assert rectify(two, tmp_path / "out.tif", max_bytes=10**9) is None
    with pytest.raises(NotGeoreferencedError, match=r"only 2 GCP.*at least 3"):
        inspect_raster(two, "in/two.tif")
    flat = tmp_path / "flat.png"
    Image.fromarray(synth.gradient(1, 20, 30)[0].astype("uint8")).save(flat)
    pam = "<PAMDataset><SRS>EPSG:4326</SRS><GeoTransform>4, 0, 0, 52, 0, 0</GeoTransform>"
    (tmp_path / "flat.png.aux.xml").write_text(pam + "</PAMDataset>")
    with pytest.raises(NotGeoreferencedError, match=r"geotransform is degenerate.*no area"):
        inspect_raster(flat, "in/flat.png")
