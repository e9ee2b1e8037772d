"""MosaicJSON over tiled COGs: validity, point lookups, incremental updates, union = source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform, transform_bounds
from rasterio.windows import Window, from_bounds

from geo_platform.lib.errors import ValidationError
from geo_platform.lib.raster.mosaic import (
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
