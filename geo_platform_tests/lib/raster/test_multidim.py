"""Multidimensional rasters in the pure library: CF decoding, longitude shifts, reading a
NetCDF/GRIB file as 2-D variables, the variable VRT and the datacube fields."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio

from geo_platform.lib.errors import UnsupportedFormatError
from geo_platform.lib.raster import cf
from geo_platform.lib.raster.cdf_header import read_cdf_variables
from geo_platform.lib.raster.cf import Dimension
from geo_platform.lib.raster.grib import grib_groups
from geo_platform.lib.raster.grid import GridInfo
from geo_platform.lib.raster.multidim import CubeVariable, read_cube, shift_longitudes
from geo_platform.lib.raster.variable_vrt import write_variable_vrt
from geo_platform.lib.stac.datacube import cube_dimensions, cube_variables
from geo_platform_tests.fixtures.netcdf3 import (
    PR_FILL,
    TAS_FILL,
    TAS_SCALE,
    Var,
    climate_cube,
    expected_tas,
    write_netcdf3,
)
from geo_platform_tests.lib.raster import synth

GFS = synth.RASTERS / "non_tiff/gfs.t06z.pgrb2.10p0.f010.grib2"


@pytest.mark.parametrize(
    ("units", "calendar", "value", "expected"),
    [
        ("days since 2020-01-01 00:00:00", "standard", 2.0, datetime(2020, 1, 3, tzinfo=UTC)),
        ("hours since 1900-01-01 00:00:0.0", "gregorian", 6.0, datetime(1900, 1, 1, 6, tzinfo=UTC)),
        ("seconds since 1970-01-01T00:00:00Z", None, 60.0, datetime(1970, 1, 1, 0, 1, tzinfo=UTC)),
        ("minutes since 2000-1-1 0:0:0 +01:00", "proleptic_gregorian", 0.0,
         datetime(1999, 12, 31, 23, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_cf_times_decode(units, calendar, value, expected) -> None:
    decoder = cf.time_decoder(units, calendar)
    assert decoder is not None and cf.decode_time(value, decoder) == expected


@pytest.mark.parametrize(
    ("units", "calendar"),
    [("days since 2000-01-01", "noleap"), ("months since 2000-01-01", None), ("K", None)],
)
def test_times_python_cannot_express_are_not_decoded(units, calendar) -> None:
    assert cf.time_decoder(units, calendar) is None


def test_a_noleap_time_axis_stays_numbers_with_its_unit() -> None:
    tags = {
        "NETCDF_DIM_EXTRA": "{time}",
        "NETCDF_DIM_time_VALUES": "{0,365}",
        "time#units": "days since 2000-01-01",
        "time#calendar": "noleap",
    }
    (dim,) = cf.netcdf_dimensions(tags)
    assert dim == Dimension("time", "other", (0.0, 365.0), unit="days since 2000-01-01")


@pytest.mark.parametrize(
    ("transform", "width", "expected", "roll", "noted"),
    [
        # global 0..360: split at 180, the eastern half first
        ((10.0, 0, 0.0, 0, -10.0, 90.0), 36, (10.0, 0, -180.0, 0, -10.0, 90.0), 18, False),
        # global, pixel-centred at 0 (edges -0.5..359.5): the nearest split
        ((1.0, 0, -0.5, 0, -1.0, 90.0), 360, (1.0, 0, -180.5, 0, -1.0, 90.0), 180, False),
        # wholly east of 180: moved by -360
        ((1.0, 0, 200.0, 0, -1.0, 50.0), 40, (1.0, 0, -160.0, 0, -1.0, 50.0), 0, False),
        # already -180..180, or only half a pixel beyond: unchanged
        ((10.0, 0, -180.0, 0, -10.0, 90.0), 36, (10.0, 0, -180.0, 0, -10.0, 90.0), 0, False),
        # regional, across 180: cannot be one grid in -180..180, kept with a note
        ((1.0, 0, 100.0, 0, -1.0, 50.0), 150, (1.0, 0, 100.0, 0, -1.0, 50.0), 0, True),
    ],
)
def test_longitudes_0_360_are_shifted(transform, width, expected, roll, noted) -> None:
    out, k, note = shift_longitudes(transform, width, geographic=True)
    assert out == expected and k == roll and (note is not None) == noted


def test_projected_grids_are_never_shifted() -> None:
    transform = (10.0, 0, 500_000.0, 0, -10.0, 4_000_000.0)
    assert shift_longitudes(transform, 100, geographic=False) == (transform, 0, None)


def test_netcdf_reads_as_variables_with_cf_metadata(tmp_path: Path) -> None:
    src = climate_cube(tmp_path / "cube.nc", with_bounds=True)
    cube = read_cube(src, "bronze/cube.nc", tmp_path)
    assert cube is not None and cube.driver == "netCDF"
    tas, pr = cube.variables
    assert (tas.name, pr.name) == ("tas", "pr")
    assert cube.ignored == (
        "time_bnds: cell bounds of time, not data",
        "station_height: 1-D over station, not a 2-D raster variable; ignored",
    )
    assert tas.labels == tuple(f"time=2020-01-0{d}T00:00:00Z" for d in (1, 2, 3))
    assert tas.times[0] == datetime(2020, 1, 1, tzinfo=UTC) and len(tas.times) == 3
    assert (tas.unit, tas.nodata, tas.scale, tas.offset) == ("degC", TAS_FILL, TAS_SCALE, 0.0)
    assert (pr.unit, pr.nodata, pr.scale) == ("mm/day", PR_FILL, 1.0)
    assert tas.description == "near-surface air temperature"
    assert tas.crs_assumed and tas.roll == 18 and tas.transform[2] == -180.0


def test_variable_vrt_is_the_stored_data_rolled_to_minus_180(tmp_path: Path) -> None:
    cube = read_cube(climate_cube(tmp_path / "cube.nc"), "cube.nc", tmp_path)
    assert cube is not None
    vrt = write_variable_vrt(cube.variables[0], tmp_path / "tas.vrt")
    with rasterio.open(vrt) as ds:
        assert ds.bounds == (-180.0, -90.0, 180.0, 90.0) and ds.crs.to_epsg() == 4326
        assert ds.nodata == TAS_FILL and ds.scales == (TAS_SCALE,) * 3 and ds.units == ("degC",) * 3
        for step in range(3):
            assert (ds.read(step + 1) == expected_tas(step)).all()
        assert ds.descriptions[2] == "time=2020-01-03T00:00:00Z"
        assert ds.tags(1)["NETCDF_DIM_time"] == "0"  # the source's band metadata is kept


def test_a_file_name_with_subdataset_syntax_is_read_through_a_link(tmp_path: Path) -> None:
    src = climate_cube(tmp_path / 'a:"b".nc')
    work = tmp_path / "work"
    work.mkdir()
    cube = read_cube(src, 'a:"b".nc', work)
    assert cube is not None and [v.name for v in cube.variables] == ["tas", "pr"]
    assert all('a:"b"' not in v.source for v in cube.variables)


def test_other_rasters_are_not_cubes(tmp_path: Path) -> None:
    assert read_cube(synth.RASTERS / "rgb_uint8/RGB.byte.tif", "rgb.tif", tmp_path) is None


def test_classic_header_lists_every_variable(tmp_path: Path) -> None:
    src = climate_cube(tmp_path / "cube.nc")
    names = {v.name: v.dims for v in read_cdf_variables(src) or []}
    assert names["station_height"] == ("station",) and names["tas"] == ("time", "lat", "lon")
    assert read_cdf_variables(synth.RASTERS / "rgb_uint8/RGB.byte.tif") is None
    cut = tmp_path / "cut.nc"
    cut.write_bytes(src.read_bytes()[:60])  # a header that runs past the end of the file
    assert read_cdf_variables(cut) is None


def test_grib_bands_group_by_element_and_level_type() -> None:
    with rasterio.open(GFS) as ds:
        tags = [ds.tags(i) for i in range(1, ds.count + 1)]
        groups = grib_groups(tags, list(ds.descriptions))
    assert [(g.name, g.bands) for g in groups] == [
        ("REFD", (1, 2)), ("REFC", (3,)), ("VIS", (4,)), ("UGRD", (5,)), ("VGRD", (6,))
    ]  # fmt: skip
    refd = groups[0]
    assert [d.name for d in refd.dims] == ["time", "level"]
    assert refd.coords == (("2021-09-18T16:00:00Z", 1.0), ("2021-09-18T16:00:00Z", 2.0))
    assert (refd.unit, refd.description) == ("dB", "Derived radar reflectivity")


def _variable(dims: tuple[Dimension, ...]) -> CubeVariable:
    return CubeVariable(
        name="ta",
        source="x",
        bands=(1,),
        dims=dims,
        coords=((),),
        dtype="float32",
        width=4,
        height=2,
        transform=(1.0, 0, 0, 0, -1.0, 2.0),
        crs_wkt="",
        nodata=float("nan"),
    )


def test_datacube_dimensions_for_irregular_times_levels_and_projected_grids() -> None:
    times = ("2021-01-01T00:00:00Z", "2021-01-02T00:00:00Z", "2021-01-05T00:00:00Z")
    dims = (
        Dimension("time", "temporal", times),
        Dimension("plev", "vertical", (1000.0, 500.0), unit="hPa"),
        Dimension("member", "other", ("a", "b")),
    )
    with rasterio.open(synth.RASTERS / "rgb_uint8/RGB.byte.tif") as ds:
        grid = GridInfo.of(ds)
    out = cube_dimensions(_variable(dims), grid)
    assert "step" not in out["time"]  # irregular
    assert out["plev"] == {
        "type": "spatial", "axis": "z", "extent": [500.0, 1000.0], "values": [1000.0, 500.0],
        "unit": "hPa",
    }  # fmt: skip
    assert out["member"] == {"type": "member", "values": ["a", "b"]}
    assert out["x"]["reference_system"]["id"] == {"authority": "EPSG", "code": 32618}
    variables = cube_variables(_variable(dims))
    assert variables["ta"]["dimensions"] == ["time", "plev", "member", "y", "x"]
    assert variables["ta"]["nodata"] == "nan" and variables["ta"]["data_type"] == "float32"


def test_a_file_with_only_1d_variables_is_refused_with_notes(tmp_path: Path) -> None:
    src = write_netcdf3(
        tmp_path / "series.nc",
        {"time": 4},
        {
            "time": Var(("time",), np.arange(4.0), {"units": "days since 2000-01-01"}),
            "flow": Var(("time",), np.arange(4.0), {"units": "m3/s"}),
        },
        {},
    )
    with pytest.raises(UnsupportedFormatError, match=r"flow: 1-D over time"):
        read_cube(src, "series.nc", tmp_path)


def test_grib_element_on_two_level_types_is_two_variables() -> None:
    def band(level: str, valid: str) -> dict[str, str]:
        return {"GRIB_ELEMENT": "TMP", "GRIB_SHORT_NAME": level, "GRIB_VALID_TIME": valid,
                "GRIB_UNIT": "[C]", "GRIB_COMMENT": "Temperature [C]"}  # fmt: skip

    tags = [band("85000-ISBL", "1700000000"), band("50000-ISBL", "1700000000"),
            band("85000-ISBL", "1700021600"), band("2-HTGL", "1700000000")]  # fmt: skip
    descriptions = ['85000[Pa] ISBL="Isobaric surface"'] * 3 + ['2[m] HTGL="Height above ground"']
    isobaric, height = grib_groups(tags, descriptions)
    assert (isobaric.name, isobaric.bands, height.name) == ("TMP_ISBL", (1, 2, 3), "TMP_HTGL")
    time, level = isobaric.dims
    assert time.values == ("2023-11-14T22:13:20Z", "2023-11-15T04:13:20Z")
    assert (level.values, level.unit, level.description) == (
        (85000.0, 50000.0), "Pa", "Isobaric surface"
    )  # fmt: skip
    assert isobaric.coords[2] == ("2023-11-15T04:13:20Z", 85000.0)
    assert (height.dims[1].unit, isobaric.unit) == ("m", "C")
