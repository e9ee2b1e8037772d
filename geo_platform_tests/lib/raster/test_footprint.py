"""Antimeridian- and pole-safe footprints, and tag parsing helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.transform import from_origin
from shapely.geometry import shape

from geo_platform.lib.raster.cog import build_cog_tiers
from geo_platform.lib.raster.footprint import footprint_4326, raster_outline
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.tags import find_datetime, parse_datetime, sensor_metadata


def test_north_pole_raster_gets_a_polar_cap() -> None:
    transform = Affine(2000, 0, -1_000_000, 0, -2000, 1_000_000)
    fp = footprint_4326(raster_outline(1000, 1000), transform, CRS.from_epsg(3413))
    geom = shape(fp.geometry)
    assert fp.bbox[0] == -180 and fp.bbox[2] == 180 and fp.bbox[3] == 90
    assert 76 < fp.bbox[1] < 78 and geom.is_valid


def test_south_pole_raster() -> None:
    transform = Affine(3000, 0, -1_500_000, 0, -3000, 1_500_000)
    fp = footprint_4326(raster_outline(1000, 1000), transform, CRS.from_epsg(3031))
    assert fp.bbox[1] == -90 and fp.bbox[0] == -180 and fp.bbox[2] == 180
    assert shape(fp.geometry).is_valid


def test_grid_stored_0_to_360_is_global() -> None:
    fp = footprint_4326(raster_outline(360, 180), Affine(1, 0, 0, 0, -1, 90), CRS.from_epsg(4326))
    assert fp.bbox == (-180.0, -90.0, 180.0, 90.0)


def test_geographic_grid_across_180_is_split() -> None:
    fp = footprint_4326(raster_outline(20, 10), Affine(1, 0, 170, 0, -1, 10), CRS.from_epsg(4326))
    assert fp.bbox == (170.0, 0.0, -170.0, 10.0) and fp.crosses_antimeridian
    geom = shape(fp.geometry)
    assert geom.geom_type == "MultiPolygon" and geom.is_valid
    assert sorted(round(p.bounds[0]) for p in geom.geoms) == [-180, 170]


def test_straight_edges_are_not_overdensified() -> None:
    fp = footprint_4326(raster_outline(10, 10), Affine(1, 0, 5, 0, -1, 50), CRS.from_epsg(4326))
    assert fp.geometry["type"] == "Polygon" and len(fp.geometry["coordinates"][0]) == 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021:06:01 10:20:30", datetime(2021, 6, 1, 10, 20, 30, tzinfo=UTC)),
        ("2021-06-01T10:20:30Z", datetime(2021, 6, 1, 10, 20, 30, tzinfo=UTC)),
        ("2021-06-01", datetime(2021, 6, 1, tzinfo=UTC)),
        ("1631980800 sec UTC", datetime(2021, 9, 18, 16, tzinfo=UTC)),
        ("0000:00:00 00:00:00", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_parse_datetime(text: str, expected: datetime | None) -> None:
    assert parse_datetime(text) == expected


def test_acquisition_time_beats_tiff_datetime() -> None:
    tags = {
        "TIFFTAG_DATETIME": "2022:01:01 00:00:00",
        "EXIF_DateTimeOriginal": "2020:05:05 05:05:05",
    }
    when, tag = find_datetime(tags)
    assert tag == "EXIF_DateTimeOriginal" and when == datetime(2020, 5, 5, 5, 5, 5, tzinfo=UTC)
    assert find_datetime({}, {"GRIB_VALID_TIME": "1631980800"})[1] == "GRIB_VALID_TIME"


def test_sensor_metadata() -> None:
    tags = {"EXIF_Model": "DJI FC6310", "EXIF_Make": "DJI", "TIFFTAG_SOFTWARE": "v01.08"}
    assert sensor_metadata(tags) == {
        "instrument": "DJI FC6310",
        "make": "DJI",
        "software": "v01.08",
    }


def test_valid_pixels_round_the_pole_cover_every_longitude(tmp_path: Path) -> None:
    """A disc of valid pixels round the south pole (EPSG:3031): its outline goes all the way
    round, and float noise left the bbox at west -5.742283277804063 > east -5.74228327780412
    (a sliver missing) instead of -180..180."""
    y, x = np.mgrid[0:400, 0:400]
    data = np.where((x - 200) ** 2 + (y - 200) ** 2 < 180**2, 100, -9999).astype("int16")
    src = tmp_path / "antarctica.tif"
    with rasterio.open(
        src, "w", driver="GTiff", width=400, height=400, count=1, dtype="int16",
        crs="EPSG:3031", transform=from_origin(-2000000, 2000000, 10000, 10000), nodata=-9999,
    ) as dst:  # fmt: skip
        dst.write(data[None])
    opts = RasterOptions(tiers=("analysis",))
    fp = build_cog_tiers(src, tmp_path / "out", opts, "antarctica.tif").footprint
    assert fp.bbox[:3] == (-180.0, -90.0, 180.0) and -74 < fp.bbox[3] < -73
    assert shape(fp.geometry).is_valid
