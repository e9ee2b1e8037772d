"""MosaicJSON over tiled COGs: validity, point lookups, incremental updates, union = source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform, transform_bounds
from rasterio.windows import Window, from_bounds

from geo_platform.lib.errors import ValidationError
from geo_platform.lib.raster.mosaic import (
    WEB_MERCATOR,
    build_mosaic,
    sources_from_paths,
    sources_from_tiling,
    tiles_for_bbox,
    tiles_for_point,
    update_mosaic,
    validate_mosaic,
)
from geo_platform.lib.raster.tiling import TilingOptions, TilingResult, tile_raster
from geo_platform_tests.lib.raster.test_tiling import write_source


@pytest.fixture(scope="module")
def tiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TilingResult]:
    tmp = tmp_path_factory.mktemp("mosaic")
    src = write_source(tmp / "big.tif")
    return src, tile_raster(src, tmp / "out", "big", TilingOptions(tile_size=512, workers=2))


def _mosaic(result: TilingResult) -> dict:
    return build_mosaic(sources_from_tiling(result, lambda t: str(t.path)), name="big")


def test_mosaic_validates_and_lists_every_tile(tiled) -> None:
    _src, result = tiled
    mosaic = _mosaic(result)
    model = validate_mosaic(mosaic)
    assert mosaic["mosaicjson"] == "0.0.3" and model.name == "big"
    listed = {a for assets in mosaic["tiles"].values() for a in assets}
    assert listed == {str(t.path) for t in result.tiles}
    # computed from the grid == read from the files
    from_files = build_mosaic(sources_from_paths([t.path for t in result.tiles]))
    assert from_files["tiles"] == mosaic["tiles"]
    with pytest.raises(ValidationError):
        validate_mosaic({**mosaic, "tiles": {}})
    with pytest.raises(ValidationError):
        validate_mosaic({**mosaic, "minzoom": 40})


def test_points_resolve_to_the_tile_that_contains_them(tiled) -> None:
    _src, result = tiled
    mosaic = _mosaic(result)
    rng = np.random.default_rng(3)
    for tile in rng.choice(result.tiles, size=8, replace=False):
        with rasterio.open(tile.path) as ds:
            x, y = ds.xy(ds.height // 2, ds.width // 2)
            (lon,), (lat,) = transform(ds.crs, "EPSG:4326", [x], [y])
        assert str(tile.path) in tiles_for_point(mosaic, lon, lat)
    assert tiles_for_point(mosaic, 100.0, -40.0) == []


def _read_via_mosaic(mosaic: dict, crs, bounds) -> np.ndarray:
    """Assemble a native-grid window from the COGs the mosaic lists for it."""
    lonlat = transform_bounds(crs, "EPSG:4326", *bounds)
    out = None
    for href in tiles_for_bbox(mosaic, lonlat):
        with rasterio.open(href) as ds:
            win = from_bounds(*bounds, ds.transform).round_offsets().round_lengths()
            data = ds.read(1, window=win, boundless=True, fill_value=0)
            valid = ds.read_masks(1, window=win, boundless=True) > 0
            out = data * valid if out is None else np.where(valid, data, out)
    assert out is not None
    return out


def test_union_of_tiles_equals_source_for_random_windows(tiled) -> None:
    src, result = tiled
    mosaic = _mosaic(result)
    rng = np.random.default_rng(7)
    with rasterio.open(src) as ds:
        for _ in range(12):
            w, h = (int(v) for v in rng.integers(50, 900, size=2))
            c, r = int(rng.integers(0, ds.width - w)), int(rng.integers(0, ds.height - h))
            window = Window(c, r, w, h)
            bounds = rasterio.windows.bounds(window, ds.transform)
            expected = ds.read(1, window=window)
            assert np.array_equal(_read_via_mosaic(mosaic, ds.crs, bounds), expected)


def test_incremental_update_adds_replaces_and_removes(tiled) -> None:
    _src, result = tiled
    sources = sources_from_tiling(result, lambda t: str(t.path))
    base = build_mosaic(sources[:8])
    updated = update_mosaic(base, sources[8:])
    full = build_mosaic(sources, minzoom=base["minzoom"], maxzoom=base["maxzoom"])
    assert {k: sorted(v) for k, v in updated["tiles"].items()} == {
        k: sorted(v) for k, v in full["tiles"].items()
    }
    assert updated["version"] == "1.0.1"
    again = update_mosaic(updated, sources[:1])  # a replaced file is listed once, first
    for assets in again["tiles"].values():
        assert len(assets) == len(set(assets))
    gone = update_mosaic(updated, [], removed=[sources[0].href])
    assert sources[0].href not in {a for v in gone["tiles"].values() for a in v}


def test_tiles_across_the_antimeridian_are_listed_only_where_they_are(tmp_path: Path) -> None:
    """A tiled raster straddling 180 (Fiji in Pacific-centred Mercator): each tile's lon/lat
    bounds have west > east, which cogeo-mosaic drew as a box round the rest of the Earth
    (the tile listed at lon 0, the centre over Africa)."""
    src = tmp_path / "fiji.tif"
    data = np.full((1, 1024, 2048), 7, "uint16")
    with rasterio.open(
        src, "w", driver="GTiff", width=2048, height=1024, count=1, dtype="uint16",
        crs="EPSG:3832", transform=from_origin(3339584 - 102400, -1800000, 100, 100),
        tiled=True, blockxsize=256, blockysize=256,
    ) as dst:  # fmt: skip
        dst.write(data)
    result = tile_raster(src, tmp_path / "out", "fiji", TilingOptions(tile_size=512, workers=2))
    mosaic = build_mosaic(sources_from_tiling(result, lambda t: str(t.path)))
    validate_mosaic(mosaic)
    listed = {a for assets in mosaic["tiles"].values() for a in assets}
    assert listed == {str(t.path) for t in result.tiles}
    assert tiles_for_point(mosaic, 0.0, -16.6) == []
    assert tiles_for_point(mosaic, 179.9, -16.6) and tiles_for_point(mosaic, -179.9, -16.6)
    west, south, east, north = mosaic["bounds"]
    assert (west, east) == (-180.0, 180.0) and -17.7 < south < north < -16.0
    assert abs(mosaic["center"][0]) > 179.0  # over the data
    assert mosaic["minzoom"] == mosaic["quadkey_zoom"] == 10  # the tiles' own, not zoom 0-2
    for quadkey in mosaic["tiles"]:  # not a band of quadkeys round the Earth
        box = WEB_MERCATOR.bounds(WEB_MERCATOR.quadkey_to_tile(quadkey))
        assert box.left >= 178.9 or box.right <= -178.9
    for assets in mosaic["tiles"].values():
        assert len(assets) == len(set(assets))
