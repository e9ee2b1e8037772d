"""A GeoTIFF in EPSG:4326 whose longitudes run 0..360 publishes in -180..180: a global grid
rolled (its half east of 180 placed first), a grid wholly east of 180 moved by -360, every
value, nodata, palette and mask kept (``lib.raster.lon_wrap``), so that a tile server (rio-tiler,
as titiler uses) can serve tiles west of 0. Checked on the local store and on Azurite, with
rio-cogeo, rasterio and rio-tiler."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rio_cogeo.cogeo import cog_validate

from geo_platform.lib import naming
from geo_platform_tests.fixtures.helpers import published_raster
from geo_platform_tests.workflows.test_publish_gcps import store  # noqa: F401  (fixture)

NODATA = -9999.0


def _values(height: int, width: int) -> np.ndarray:
    """float32 values that differ along both axes, a block of nodata near the west edge."""
    rows, cols = np.mgrid[0:height, 0:width]
    data = (rows * 1000 + cols).astype(np.float32)
    data[10:20, 5:15] = NODATA
    return data


def _write(path: Path, data: np.ndarray, transform: Affine, **extra: object) -> Path:
    height, width = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1,
                       dtype=data.dtype, crs="EPSG:4326", transform=transform, tiled=True,
                       blockxsize=128, blockysize=128, **extra) as dst:  # fmt: skip
        dst.write(data, 1)
        dst.set_band_description(1, "temperature")
        dst.set_band_unit(1, "K")
    return path


def _analysis(store, blob: str):  # noqa: F811
    blobs, _, silver = store
    return blobs.local_copy(silver, f"{naming.silver_prefix(blob)}/analysis.tif")


def _tile_valid(cog: Path, lon: float, lat: float, zoom: int) -> float:
    """The fraction of valid pixels in the WebMercatorQuad tile at (lon, lat, zoom), read by
    rio-tiler as titiler does (``TileOutsideBounds`` when the COG's bounds miss it)."""
    morecantile = pytest.importorskip("morecantile")
    reader = pytest.importorskip("rio_tiler.io")
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, zoom)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with reader.Reader(str(cog)) as r:
            return float((r.tile(tile.x, tile.y, tile.z).mask > 0).mean())


@pytest.mark.parametrize("west", [0.0, -0.5])
def test_a_global_0_360_grid_is_rolled_to_minus_180_180(
    store,  # noqa: F811
    pgstac_lookups,
    bronze_folder,
    tmp_path: Path,
    west: float,
) -> None:
    data = _values(180, 360)
    path = _write(tmp_path / f"global{west:g}.tif", data, Affine(1, 0, west, 0, -1, 90),
                  nodata=NODATA)  # fmt: skip
    blob, out = published_raster(store, pgstac_lookups, bronze_folder, path)
    assert out.item["bbox"] == pytest.approx([-180, -90, 180, 90])
    assert "rolled to" in out.item["properties"]["processing:lineage"]
    with _analysis(store, blob) as local:
        assert cog_validate(str(local))[0]
        with rasterio.open(local) as cog:
            assert cog.transform == Affine(1, 0, west - 180, 0, -1, 90)
            assert np.array_equal(cog.read(1), np.roll(data, -180, axis=1))
            assert cog.nodata == NODATA and cog.descriptions == ("temperature",)
            assert cog.units == ("K",)
        # West of 0: TileOutsideBounds before. (-0.5..359.5 becomes -180.5..179.5: its last
        # half pixel east of 179.5 is drawn at -180.5, west of the map's edge.)
        assert _tile_valid(local, -90, 45, 2) == 1.0
        assert _tile_valid(local, 90, 45, 2) >= 0.99


def test_a_global_palette_grid_keeps_its_palette_and_mask(
    store,  # noqa: F811
    pgstac_lookups,
    bronze_folder,
    tmp_path: Path,
) -> None:
    rows, cols = np.mgrid[0:90, 0:180]
    data = ((rows + cols) % 200 + 1).astype(np.uint8)
    mask = np.full(data.shape, 255, np.uint8)
    mask[:, 100:110] = 0  # an internal mask east of 180
    path = tmp_path / "landcover.tif"
    with rasterio.open(path, "w", driver="GTiff", width=180, height=90, count=1, dtype="uint8",
                       crs="EPSG:4326", transform=Affine(2, 0, 0, 0, -2, 90)) as dst:  # fmt: skip
        dst.write(data, 1)
        dst.write_colormap(1, {i: (i, 255 - i, (i * 5) % 256, 255) for i in range(256)})
        dst.write_mask(mask)
    blob, _ = published_raster(store, pgstac_lookups, bronze_folder, path)
    with _analysis(store, blob) as local:
        assert cog_validate(str(local))[0]
        with rasterio.open(local) as cog:
            assert cog.bounds == (-180, -90, 180, 90)
            assert np.array_equal(cog.read(1), np.roll(data, -90, axis=1))
            assert np.array_equal(cog.dataset_mask() > 0, np.roll(mask, -90, axis=1) > 0)
            assert cog.colormap(1)[7] == (7, 248, 35, 255)


def test_a_grid_wholly_east_of_180_is_moved_by_minus_360(
    store,  # noqa: F811
    pgstac_lookups,
    bronze_folder,
    tmp_path: Path,
) -> None:
    data = _values(50, 50)
    path = _write(tmp_path / "hawaii.tif", data, Affine(0.1, 0, 200, 0, -0.1, 20),
                  nodata=NODATA)  # fmt: skip
    blob, out = published_raster(store, pgstac_lookups, bronze_folder, path)
    assert out.item["bbox"] == pytest.approx([-160, 15, -155, 20])
    assert "moved by -360 degrees" in out.item["properties"]["processing:lineage"]
    with _analysis(store, blob) as local:
        assert cog_validate(str(local))[0]
        with rasterio.open(local) as cog:
            assert cog.transform.almost_equals(Affine(0.1, 0, -160, 0, -0.1, 20))
            assert np.array_equal(cog.read(1), data)
        assert _tile_valid(local, -157.5, 17.5, 6) > 0.2  # TileOutsideBounds before


@pytest.mark.parametrize(
    ("west", "east", "published_west"), [(170.0, 190.0, 170.0), (175.0, 200.0, -185.0)]
)
def test_a_grid_across_180_stays_where_most_of_it_lies(
    store,  # noqa: F811
    pgstac_lookups,
    bronze_folder,
    tmp_path: Path,
    west: float,
    east: float,
    published_west: float,
) -> None:
    """Centred at 180 (170..190): kept. Centred east of it (175..200): moved by -360, so
    that the larger part (-180..-160) is drawn (the lineage says so); either way tile servers
    do not draw the part beyond 180 (or -180)."""
    data = _values(100, round((east - west) * 10))
    path = _write(tmp_path / f"across{west:g}.tif", data, Affine(0.1, 0, west, 0, -0.1, 10),
                  nodata=NODATA)  # fmt: skip
    blob, out = published_raster(store, pgstac_lookups, bronze_folder, path)
    east -= 360
    assert out.item["bbox"] == pytest.approx([west, 0, east, 10])  # west > east: across 180
    lineage = out.item["properties"]["processing:lineage"]
    assert ("crosses 180 degrees, mostly east of it" in lineage) == (published_west < 0)
    with _analysis(store, blob) as local:
        assert cog_validate(str(local))[0]
        with rasterio.open(local) as cog:
            assert cog.transform.almost_equals(Affine(0.1, 0, published_west, 0, -0.1, 10))
            assert np.array_equal(cog.read(1), data)
        lon = 172.5 if published_west > 0 else -170.0  # in the larger part
        assert _tile_valid(local, lon, 5, 6) > 0.2


def test_a_south_up_0_360_grid_is_turned_and_rolled(
    store,  # noqa: F811
    pgstac_lookups,
    bronze_folder,
    tmp_path: Path,
) -> None:
    north = _values(90, 180)
    path = _write(tmp_path / "south_up.tif", np.ascontiguousarray(north[::-1]),
                  Affine(2, 0, 0, 0, 2, -90), nodata=NODATA)  # fmt: skip
    blob, out = published_raster(store, pgstac_lookups, bronze_folder, path)
    lineage = out.item["properties"]["processing:lineage"]
    assert "reversed, every value unchanged" in lineage and "rolled to -180..180" in lineage
    with _analysis(store, blob) as local:
        assert cog_validate(str(local))[0]
        with rasterio.open(local) as cog:
            assert cog.transform == Affine(2, 0, -180, 0, -2, 90)
            assert np.array_equal(cog.read(1), np.roll(north, -90, axis=1))
