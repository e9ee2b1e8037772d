"""Bands with different nodata values get one (a GeoTIFF holds one per file): each band's
nodata pixels are rewritten to a value no band holds as data, every other pixel unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geo_platform.lib.errors import UnsupportedFormatError
from geo_platform.lib.raster.band_nodata import one_nodata
from geo_platform.lib.raster.inspect import inspect_raster

OWN = [-1, -2, -3]


def write_bands(path: Path, data: np.ndarray, nodata: list[float | None]) -> Path:
    """An ERDAS Imagine file with one nodata value per band."""
    count, height, width = data.shape
    profile = {"driver": "HFA", "width": width, "height": height, "count": count,
               "dtype": str(data.dtype), "crs": "EPSG:32632",
               "transform": from_origin(500_000, 5_000_000, 10, 10)}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst._set_nodatavals(nodata)  # rasterio has no public per-band setter
    return path


def sample(valid_minus_one: bool = True) -> np.ndarray:
    data = np.random.default_rng(0).integers(0, 100, (3, 60, 50)).astype("int16")
    data[0, :10], data[1, :10], data[2, :5] = -1, -2, -3
    if valid_minus_one:
        data[1, 10:20] = -1  # valid data in band 2: -1 cannot be the common value
    return data


def test_each_band_keeps_its_valid_pixels_and_its_nodata(tmp_path: Path) -> None:
    data = sample()
    src = write_bands(tmp_path / "bands.img", data, OWN)
    made = one_nodata(inspect_raster(src, "x/bands.img"), None, tmp_path / "one.vrt")
    assert made is not None and "one nodata value (-2) for every band" in made.how
    with rasterio.open(made.path) as vrt:
        assert vrt.nodatavals == (-2.0, -2.0, -2.0)
        out = vrt.read()
        for b, own in enumerate(OWN):
            was_valid = data[b] != own
            assert ((vrt.read_masks(b + 1) > 0) == was_valid).all()
            assert (out[b][was_valid] == data[b][was_valid]).all()  # values untouched
            assert (out[b][~was_valid] == -2).all()


def test_agreeing_bands_and_single_bands_are_left_alone(tmp_path: Path) -> None:
    src = write_bands(tmp_path / "same.img", sample(False), [-9, -9, -9])
    assert one_nodata(inspect_raster(src, "x/same.img"), None, tmp_path / "o.vrt") is None


def test_no_free_value_is_refused_with_the_bands_named(tmp_path: Path) -> None:
    data = np.zeros((2, 4, 256), dtype="uint8")
    data[0, 0], data[1, 0] = 0, 1
    data[:, 1:] = np.arange(256, dtype="uint8")  # every byte value is data in both bands
    src = write_bands(tmp_path / "full.img", data, [0, 1])
    with pytest.raises(UnsupportedFormatError, match=r"band 1: 0\.0, band 2: 1\.0"):
        one_nodata(inspect_raster(src, "x/full.img"), None, tmp_path / "o.vrt")
