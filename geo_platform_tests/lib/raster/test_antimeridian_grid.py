"""Rasters across the antimeridian warped to a CRS whose edge is there keep their resolution.

GDAL's suggested warp output for 2048 x 1024 pixels of 100 m across 180 (Fiji in EPSG:3832)
warped to EPSG:4326 spanned the whole Earth: 2301 x 6 pixels of 17 km, a valid COG of
nothing. The grid now runs on past 180 at the source's resolution, single COGs and tiles
alike; ``web_optimized`` of such a raster is refused with what to set instead."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geo_platform.lib.errors import CoordinateRangeError
from geo_platform.lib.raster.cog import build_cog_tiers
from geo_platform.lib.raster.inspect import inspect_raster
from geo_platform.lib.raster.mosaic import build_mosaic, sources_from_tiling, tiles_for_point
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.tiling import Reprojection, TilingOptions, tile_raster
from geo_platform.lib.stac.tile_item import build_tile_item
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.types import Provenance

EDGE = 3339584  # EPSG:3832 x of the antimeridian at the equator


def _fiji(path: Path) -> Path:
    y, x = np.mgrid[0:1024, 0:2048]
    data = (1000 + x + y).astype("uint16")  # smooth: resampling keeps it
    with rasterio.open(
        path, "w", driver="GTiff", width=2048, height=1024, count=1, dtype="uint16",
        crs="EPSG:3832", transform=from_origin(EDGE - 102400, -1800000, 100, 100), nodata=0,
        tiled=True, blockxsize=256, blockysize=256,
    ) as dst:  # fmt: skip
        dst.write(data[None])
    return path


def test_lonlat_tier_runs_on_past_180_at_the_source_resolution(tmp_path: Path) -> None:
    src = _fiji(tmp_path / "fiji.tif")
    result = build_cog_tiers(src, tmp_path / "out", RasterOptions(target_crs="EPSG:4326"), "f")
    analysis = result.tiers["analysis"].path
    assert analysis is not None  # and rio-cogeo validated it (validate=True)
    with rasterio.open(analysis) as ds:
        assert ds.crs.to_epsg() == 4326
        assert 2000 < ds.width < 2100 and 950 < ds.height < 1050  # not 2301 x 6
        assert ds.bounds.left == pytest.approx(179.080, abs=1e-3)
        assert ds.bounds.right == pytest.approx(180.920, abs=1e-3)
        assert (ds.read_masks(1) > 0).mean() > 0.99
        value = next(ds.sample([(180.5, -16.5)]))[0]  # east of 180: the source's pixel there
    with rasterio.open(src) as s:
        x, y = rasterio.warp.transform("EPSG:4326", s.crs, [-179.5], [-16.5])
        assert abs(int(value) - int(next(s.sample([(x[0], y[0])]))[0])) <= 3
    west, _, east, _ = result.footprint.bbox
    assert west == pytest.approx(179.080, abs=1e-3) and east == pytest.approx(-179.080, abs=1e-3)
    assert result.archive_grid is not None and result.archive_grid.crs_code == "EPSG:3832"


def test_web_mercator_target_too_and_web_optimized_is_refused(tmp_path: Path) -> None:
    src = _fiji(tmp_path / "fiji.tif")
    opts = RasterOptions(target_crs="EPSG:3857", tiers=("analysis",))
    result = build_cog_tiers(src, tmp_path / "merc", opts, "f")
    with rasterio.open(result.tiers["analysis"].path) as ds:
        assert 2000 < ds.width < 2100 and ds.bounds.right > 20037508.34 > ds.bounds.left
        assert abs(ds.res[0] - 100) < 2
    with pytest.raises(CoordinateRangeError, match=r"fiji\.tif.*antimeridian.*target_crs"):
        build_cog_tiers(src, tmp_path / "web", RasterOptions(web_optimized=True), "fiji.tif")


def test_tiles_of_a_warped_raster_across_180(tmp_path: Path) -> None:
    src = _fiji(tmp_path / "fiji.tif")
    info = inspect_raster(src, "fiji.tif")
    opts = TilingOptions(threshold_pixels=1, tile_size=512, blocksize=256, workers=2)
    result = tile_raster(
        src, tmp_path / "out", "f", opts, info=info,
        reprojection=Reprojection("EPSG:4326", "nearest"),
    )  # fmt: skip
    assert 8 <= len(result.tiles) <= 12  # about the source's 8, none empty, none skipped wrongly
    valid = 0
    for tile in result.tiles:
        with rasterio.open(tile.path) as ds:
            assert ds.res[0] == pytest.approx(0.000892, rel=0.01)
            valid += int((ds.read_masks(1) > 0).sum())
    assert valid > 0.99 * 2063 * 995  # the warped grid, all but its curved edges
    for tile in result.tiles:  # items in -180..180, west > east for the tile across 180
        item = build_tile_item(
            tile, result, collection_id="c", href=str(tile.path),
            provenance=Provenance("p/fiji.tif", "e"), when=datetime(2024, 1, 1, tzinfo=UTC),
            nodata=result.nodata,
        )  # fmt: skip
        validate_stac(item)
        assert all(-180 <= v <= 180 for v in item["bbox"][::2])
    mosaic = build_mosaic(sources_from_tiling(result, lambda t: str(t.path)))
    assert tiles_for_point(mosaic, 179.5, -16.5) and tiles_for_point(mosaic, -179.5, -16.5)
    assert tiles_for_point(mosaic, 0.0, -16.5) == []
    with pytest.raises(CoordinateRangeError, match=r"antimeridian"):
        tile_raster(
            src, tmp_path / "web", "f", opts, info=info,
            reprojection=Reprojection("EPSG:3857", "nearest", web_aligned=True),
        )  # fmt: skip
