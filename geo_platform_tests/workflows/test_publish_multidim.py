"""``publish_raster`` on multidimensional files: one valid COG and datacube item per variable.

Files: a CF NetCDF synthesized with the classic-format writer (two variables over three days,
longitudes 0..360, a 1-D variable), a NetCDF-4 (HDF5) file written by GDAL and named ``.h5``,
and the real GFS GRIB2 file from the shared corpus.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import psycopg
import pytest
import rasterio
from rasterio.io import MemoryFile
from rasterio.shutil import copy as rio_copy
from rasterio.transform import Affine
from rio_cogeo.cogeo import cog_validate

from geo_platform.lib import naming
from geo_platform.lib.errors import UnsupportedFormatError
from geo_platform.lib.stac.datacube import DATACUBE_EXT
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.store import pgstac
from geo_platform.store.blobs.local import LocalBlobStore
from geo_platform.store.catalog import publish_sources
from geo_platform.workflows.publish_multidim import CubePublished
from geo_platform.workflows.publish_raster import RasterSettings, publish_raster
from geo_platform_tests.fixtures.helpers import TESTDATA
from geo_platform_tests.fixtures.netcdf3 import (
    PR_FILL,
    TAS_FILL,
    TAS_SCALE,
    Var,
    climate_cube,
    expected_tas,
    write_netcdf3,
)

GFS = TESTDATA / "rasters/non_tiff/gfs.t06z.pgrb2.10p0.f010.grib2"
DAYS = ["2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z", "2020-01-03T00:00:00Z"]


def _silver_path(store: LocalBlobStore, blob: str, rel: str) -> Path:
    return Path(store.root) / "silver" / naming.silver_prefix(blob) / rel


def _stored_item(store: LocalBlobStore, blob: str, item_id: str) -> dict:
    return json.loads(_silver_path(store, blob, f"stac/{item_id}.json").read_text())


def _publish(store: LocalBlobStore, lookups, blob: str, source: Path) -> CubePublished:
    store.upload_file("bronze", blob, source)
    out = publish_raster(store, lookups, RasterSettings(), blob, run_id="run-md")
    assert isinstance(out, CubePublished)
    return out


def test_netcdf_variables_become_cogs_and_datacube_items(
    blob_store, pgstac_lookups, bronze_folder, tmp_path
) -> None:
    blob = f"{bronze_folder}/climate/model run.nc"
    out = _publish(blob_store, pgstac_lookups, blob, climate_cube(tmp_path / "cube.nc"))
    ids = {v: naming.item_id(blob, f"-{v}") for v in ("tas", "pr")}
    assert out.item_ids == (ids["tas"], ids["pr"]) and out.driver == "netCDF"
    assert ids["tas"].startswith("model-run.nc-tas")  # file's item id + variable, sanitized
    # The 1-D variable is set aside with a note, in the result and in every item.
    assert any(n.startswith("station_height: 1-D") for n in out.ignored), out.ignored
    assert out.metadata["ignored_variables"] == list(out.ignored)
    assert all(ok for ok, _ in out.checks.values()), out.checks
    assert set(out.checks) == {
        "cog_valid", "stac_item_valid", "raster_plausible", "collection_consistent"
    }  # fmt: skip
    for var, item_id in ids.items():
        analysis = _silver_path(blob_store, blob, f"{item_id}/analysis.tif")
        ok, errors, _ = cog_validate(str(analysis))
        assert ok, errors
        with rasterio.open(analysis) as cog:
            left, bottom, right, top = cog.bounds
            assert (left, bottom, right, top) == (-180.0, -90.0, 180.0, 90.0)
            assert cog.count == 3 and cog.descriptions == tuple(f"time={d}" for d in DAYS)
            if var == "tas":  # lossless: the stored integers, rolled to -180..180
                assert cog.dtypes[0] == "int16"
                for step in range(3):
                    assert (cog.read(step + 1) == expected_tas(step)).all()
        item = _stored_item(blob_store, blob, item_id)
        validate_stac(item)
        assert DATACUBE_EXT in item["stac_extensions"]
        props = item["properties"]
        assert props["geo_platform:variable"] == var and props["geo_platform:crs_assumed"]
        assert props["start_datetime"] == DAYS[0] and props["end_datetime"] == DAYS[-1]
        assert props["datetime"] == DAYS[0]
        assert props["geo_platform:ignored_variables"] == list(out.ignored)
        assert min(item["bbox"][0], item["bbox"][2]) >= -180.0
        assert max(item["bbox"][0], item["bbox"][2]) <= 180.0
        dims = props["cube:dimensions"]
        assert dims["time"] == {
            "type": "temporal", "extent": [DAYS[0], DAYS[-1]], "step": "P1D", "values": DAYS
        }  # fmt: skip
        assert dims["x"]["extent"] == [-180.0, 180.0] and dims["x"]["axis"] == "x"
        assert dims["y"]["extent"] == [-90.0, 90.0] and dims["y"]["step"] == 10.0
        assert props["cube:variables"][var]["dimensions"] == ["time", "y", "x"]
        bands = item["assets"]["analysis"]["bands"]
        assert [b["name"] for b in bands] == [f"time={d}" for d in DAYS]
        if var == "tas":
            assert props["cube:variables"]["tas"]["unit"] == "degC"
            for band in bands:
                assert band["unit"] == "degC" and band["nodata"] == TAS_FILL
                assert band["raster:scale"] == pytest.approx(TAS_SCALE)
                assert "raster:offset" not in band  # add_offset 0
        else:
            assert {b["nodata"] for b in bands} == {PR_FILL} and bands[0]["unit"] == "mm/day"
            assert "raster:scale" not in bands[0]
    assert (
        out.variables[0].item["properties"]["cube:variables"]["tas"]["description"]
        == "near-surface air temperature"
    )


def test_cube_items_upsert_into_pgstac(
    blob_store, pgstac_lookups, bronze_folder, tmp_path, pg_dsn, drop_collection
) -> None:
    blob = f"{bronze_folder}/climate/run.nc"
    drop_collection(naming.collection_id(blob))
    out = _publish(blob_store, pgstac_lookups, blob, climate_cube(tmp_path / "cube.nc"))
    items = [_stored_item(blob_store, blob, i) for i in out.item_ids]
    with psycopg.connect(pg_dsn) as conn:
        published = publish_sources(conn, {blob: items}, "raster", validated=True)
        conn.commit()
        assert {i["id"] for i in published[blob].items} == set(out.item_ids)
        pgstac.prepare(conn)
        row = conn.execute(
            "SELECT content->'properties'->'cube:dimensions'->'time'->'values' FROM items "
            "WHERE id = %s",
            (out.item_ids[0],),
        ).fetchone()
    assert row is not None and row[0] == DAYS


def test_grib_messages_become_variables_with_levels(
    blob_store, pgstac_lookups, bronze_folder
) -> None:
    blob = f"{bronze_folder}/nwp/gfs.grib2"
    out = _publish(blob_store, pgstac_lookups, blob, GFS)
    names = [v.variable for v in out.variables]
    assert names == ["REFD", "REFC", "VIS", "UGRD", "VGRD"]
    refd = out.variables[0]
    assert refd.item_id == naming.item_id(blob, "-REFD") == "gfs.grib2-refd"
    analysis = _silver_path(blob_store, blob, f"{refd.item_id}/analysis.tif")
    assert cog_validate(str(analysis))[0]
    with rasterio.open(analysis) as cog, rasterio.open(GFS) as src:
        assert cog.count == 2 and (cog.read() == src.read([1, 2])).all()
    for v in out.variables:
        item = _stored_item(blob_store, blob, v.item_id)
        validate_stac(item)
        dims = item["properties"]["cube:dimensions"]
        assert dims["time"]["values"] == ["2021-09-18T16:00:00Z"]
        assert dims["level"]["type"] == "spatial" and dims["level"]["axis"] == "z"
    refd_dims = refd.item["properties"]["cube:dimensions"]
    assert refd_dims["level"]["values"] == [1.0, 2.0]
    assert refd_dims["level"]["description"] == "Hybrid level"
    units = {v.variable: v.item["assets"]["analysis"]["bands"][0]["unit"] for v in out.variables}
    assert units == {"REFD": "dB", "REFC": "dB", "VIS": "m", "UGRD": "m/s", "VGRD": "m/s"}
    assert refd.item["properties"]["cube:variables"]["REFD"]["dimensions"] == [
        "time", "level", "y", "x"
    ]  # fmt: skip


def _netcdf4(path: Path) -> Path:
    """A NetCDF-4 (HDF5) file written by GDAL's netCDF driver: ``sst`` over 2 time steps on a
    0..360 grid with a WGS 84 grid mapping."""
    data = np.arange(2 * 18 * 36, dtype="float32").reshape(2, 18, 36)
    with MemoryFile() as mem:
        profile = {"driver": "GTiff", "width": 36, "height": 18, "count": 2, "dtype": "float32"}
        with mem.open(
            **profile, crs="EPSG:4326", transform=Affine(10, 0, 0, 0, -10, 90), nodata=-999.0
        ) as ds:
            ds.write(data)
            ds.update_tags(
                NETCDF_DIM_EXTRA="{time}",
                NETCDF_DIM_time_DEF="{2,6}",
                NETCDF_DIM_time_VALUES="{0,6}",
                **{"time#units": "hours since 2024-07-01 00:00:00", "time#calendar": "gregorian"},
            )
            for b in (1, 2):
                ds.update_tags(b, NETCDF_VARNAME="sst", NETCDF_DIM_time=str((b - 1) * 6))
            ds.units = ("K", "K")
        rio_copy(mem.name, str(path), driver="netCDF", FORMAT="NC4")
    assert path.read_bytes()[:4] == b"\x89HDF"
    return path


def test_netcdf4_in_an_hdf5_file_named_h5(
    blob_store, pgstac_lookups, bronze_folder, tmp_path
) -> None:
    """GDAL's HDF5 driver would take a ``.h5`` name and see no georeferencing; the file is read
    through the netCDF driver instead."""
    blob = f"{bronze_folder}/ocean/sst.h5"
    out = _publish(blob_store, pgstac_lookups, blob, _netcdf4(tmp_path / "sst.nc"))
    (sst,) = out.variables
    assert sst.variable == "sst" and sst.item_id == "sst.h5-sst"
    props = sst.item["properties"]
    assert props["geo_platform:crs_assumed"] is False  # from the file's grid mapping
    assert props["cube:dimensions"]["time"]["values"] == [
        "2024-07-01T00:00:00Z", "2024-07-01T06:00:00Z"
    ]  # fmt: skip
    assert props["cube:dimensions"]["time"]["step"] == "PT6H"
    with rasterio.open(_silver_path(blob_store, blob, f"{sst.item_id}/analysis.tif")) as cog:
        assert cog.bounds == (-180.0, -90.0, 180.0, 90.0) and cog.nodata == -999.0
        first = cog.read(1)
    assert first[0, 0] == 18.0 and first[0, 17] == 35.0 and first[0, 18] == 0.0  # rolled


def test_file_without_any_2d_variable_is_refused_with_its_notes(
    blob_store, pgstac_lookups, bronze_folder, tmp_path
) -> None:
    src = write_netcdf3(
        tmp_path / "stations.nc",
        {"station": 3},
        {
            "station": Var(("station",), np.array([1.0, 2.0, 3.0])),
            "height": Var(("station",), np.array([10.0, 20.0, 30.0]), {"units": "m"}),
        },
        {},
    )
    blob = f"{bronze_folder}/obs/stations.nc"
    blob_store.upload_file("bronze", blob, src)
    with pytest.raises(UnsupportedFormatError, match="height: 1-D over station"):
        publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    assert list(blob_store.list_blobs("silver")) == []


def _rotated_pole_file(path: Path, ellipsoid: bool) -> tuple[Path, np.ndarray]:
    """A EURO-CORDEX-like grid: ``tas(time, rlat, rlon)`` on a rotated pole (north pole at
    39.25N 162W), 0.44 degree cells. Regional climate models give the pole only; GDAL then
    reads no CRS at all (it wants an ellipsoid), PROJ reads it on WGS 84."""
    rlon = -28.375 + 0.44 * np.arange(60)
    rlat = -23.375 + 0.44 * np.arange(50)
    tas = (np.arange(2 * 50 * 60, dtype="float32").reshape(2, 50, 60) % 97) + 250
    pole: dict = {
        "grid_mapping_name": "rotated_latitude_longitude",
        "grid_north_pole_latitude": 39.25,
        "grid_north_pole_longitude": -162.0,
    }
    if ellipsoid:
        pole.update(semi_major_axis=6378137.0, inverse_flattening=298.257223563)
    time = {"units": "days since 2000-01-01", "standard_name": "time", "calendar": "standard"}
    degrees = {"units": "degrees"}
    variables = {
        "time": Var(("time",), np.array([0.0, 1.0]), time),
        "rlat": Var(("rlat",), rlat, {"standard_name": "grid_latitude", **degrees, "axis": "Y"}),
        "rlon": Var(("rlon",), rlon, {"standard_name": "grid_longitude", **degrees, "axis": "X"}),
        "rotated_pole": Var((), np.zeros((), dtype="int32"), pole),
        "tas": Var(("time", "rlat", "rlon"), tas, {"units": "K", "grid_mapping": "rotated_pole"}),
    }
    dims = {"time": 2, "rlat": 50, "rlon": 60}
    return write_netcdf3(path, dims, variables, {"Conventions": "CF-1.6"}), tas


@pytest.mark.parametrize("ellipsoid", [False, True], ids=["pole-only", "with-ellipsoid"])
def test_a_rotated_pole_grid_publishes_on_lonlat(
    blob_store, pgstac_lookups, bronze_folder, tmp_path, ellipsoid
) -> None:
    """No GeoTIFF can carry a rotated pole (GDAL keeps it in a ``.aux.xml`` a COG loses): the
    grid is warped onto EPSG:4326 by nearest neighbour and the lineage says so."""
    path, tas = _rotated_pole_file(tmp_path / "cordex.nc", ellipsoid)
    blob = f"{bronze_folder}/cordex/tas_EUR-44.nc"
    out = _publish(blob_store, pgstac_lookups, blob, path)
    (item_id,) = out.item_ids
    analysis = _silver_path(blob_store, blob, f"{item_id}/analysis.tif")
    assert cog_validate(str(analysis))[0]
    with rasterio.open(analysis) as cog:
        assert cog.crs.to_epsg() == 4326 and cog.count == 2
        left, bottom, right, top = cog.bounds  # western Europe and the Atlantic
        assert -25 < left < -15 and 20 < bottom < 25 and 10 < right < 20 and 45 < top < 55, (
            cog.bounds
        )
        values = cog.read(1)
        assert set(np.unique(values[values != cog.nodata])) <= set(np.unique(tas[0]))
    item = _stored_item(blob_store, blob, item_id)
    validate_stac(item)
    props = item["properties"]
    assert props["proj:code"] == "EPSG:4326" and "nearest neighbour" in props["processing:lineage"]
    assert "rotated pole" in props["processing:lineage"]
