"""Tiling a large raster into a target CRS: tiles cut from a warped VRT match one whole-raster
reprojection, padding is nodata, empty tiles are skipped, items carry the target projection."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
import shapely.geometry
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.warp import reproject
from rasterio.warp import transform as warp_transform
from shapely.geometry import Point

from geo_platform.lib.raster.inspect import inspect_raster
from geo_platform.lib.raster.mosaic import build_mosaic, sources_from_tiling, tiles_for_point
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.tiling import Reprojection, TilingOptions, TilingResult, tile_raster
from geo_platform.lib.raster.tiling.visual import build_visual_tier
from geo_platform.lib.raster.validate import validate_cog
from geo_platform.lib.stac.tile_item import build_tile_item
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.types import Provenance

OPTS = TilingOptions(threshold_pixels=1, tile_size=128, blocksize=64, workers=2)


def write_utm(
    path: Path, dtype: str = "uint16", nodata: float | None = 0, corner: bool = True
) -> Path:
    """A 1000 x 900 UTM 33N raster (30 m pixels, tiled 256) with a nodata corner, far from
    the central meridian at 71N, so the warped grid is rotated by about 8 degrees."""
    height, width = 900, 1000
    y, x = np.mgrid[0:height, 0:width]
    data = (1 + (x * 7 + y * 13) % 250).astype(dtype)
    if nodata is not None and corner:
        data[:120, :200] = nodata
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype=dtype,
        crs="EPSG:32633",
        transform=from_origin(170000, 7900000, 30, 30),
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="deflate",
    )
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data[None])
    return path


def exact_nearest(src: Path, result: TilingResult, nodata: float) -> np.ndarray:
    """Nearest neighbour by hand: each target pixel centre transformed exactly (PROJ) into the
    source, the source pixel it falls in taken, nodata outside."""
    height, width = result.source_shape
    rows, cols = np.mgrid[0:height, 0:width]
    xs, ys = Affine(*result.transform) * (cols.ravel() + 0.5, rows.ravel() + 0.5)
    to_src = pyproj.Transformer.from_crs(
        pyproj.CRS.from_wkt(result.crs_wkt), "EPSG:32633", always_xy=True
    )
    with rasterio.open(src) as ds:
        data, transform = ds.read(1), ds.transform
    sc, sr = ~transform * to_src.transform(xs, ys)
    sc, sr = np.floor(sc).astype(int), np.floor(sr).astype(int)
    inside = (sc >= 0) & (sr >= 0) & (sc < data.shape[1]) & (sr < data.shape[0])
    out = np.full(xs.shape, nodata, dtype=result.dtype)
    out[inside] = data[sr[inside], sc[inside]]
    return out.reshape(height, width)


def whole_reprojection(src: Path, result: TilingResult, nodata: float) -> np.ndarray:
    """One ``rasterio.warp.reproject`` of the whole source onto the tiles' grid (nearest)."""
    height, width = result.source_shape
    out = np.full((height, width), nodata, dtype=result.dtype)
    with rasterio.open(src) as ds:
        reproject(
            rasterio.band(ds, 1),
            out,
            dst_transform=Affine(*result.transform),
            dst_crs=CRS.from_wkt(result.crs_wkt),
            dst_nodata=nodata,
            resampling=Resampling.nearest,
        )
    return out


@pytest.mark.parametrize("target", ["EPSG:4326", "EPSG:3857"])
def test_tiles_in_target_crs_match_one_reprojection(tmp_path: Path, target: str) -> None:
    src = write_utm(tmp_path / "utm.tif")
    info = inspect_raster(src, "utm.tif")
    reproj = Reprojection.from_options(RasterOptions(target_crs=target, resampling="nearest"), info)
    assert reproj == Reprojection(target, "nearest")
    result = tile_raster(src, tmp_path / "out", "utm", OPTS, info=info, reprojection=reproj)
    assert result.target_crs == target and result.skipped  # the rotated grid has empty corners
    assert CRS.from_wkt(result.crs_wkt) == CRS.from_user_input(target)
    expected = exact_nearest(src, result, 0)
    warped = whole_reprojection(src, result, 0)  # GDAL's approximate transformer (0.125 px)
    seen = np.zeros(expected.shape, dtype=bool)
    equal = same_as_whole = total = 0
    for tile in result.tiles:
        validate_cog(tile.path)
        c, r, w, h = tile.spec.window
        with rasterio.open(tile.path) as ds:
            assert ds.crs == CRS.from_user_input(target) and ds.nodata == 0
            assert ds.transform.almost_equals(Affine(*result.transform) * Affine.translation(c, r))
            data = ds.read(1)
            assert data.any(), f"{tile.spec.tile_id} is entirely nodata"
        want = expected[r : r + h, c : c + w]
        equal += int((data == want).sum())
        same_as_whole = same_as_whole + int((data == warped[r : r + h, c : c + w]).sum())
        total += data.size
        seen[r : r + h, c : c + w] = True
    # GDAL's approximate transformer (0.125 px): nearest picks differ from an exact transform
    # only for pixel centres that close to a source pixel edge
    assert equal / total > 0.97
    assert same_as_whole / total > 0.97  # and tiles agree with one whole-raster warp
    assert (warped == expected).mean() > 0.97
    assert not expected[~seen].any()  # skipped tiles hold no data
    assert (expected == 0).sum() > expected.size * 0.05  # padding exists and reads as nodata

    mosaic = build_mosaic(sources_from_tiling(result, lambda t: str(t.path)), name="utm")
    rng = np.random.default_rng(7)
    rows, cols = np.nonzero(expected)
    picks = rng.choice(len(rows), 40, replace=False)
    xs, ys = Affine(*result.transform) * (cols[picks] + 0.5, rows[picks] + 0.5)
    lons, lats = warp_transform(CRS.from_user_input(target), "EPSG:4326", xs, ys)
    matches = 0
    for lon, lat, x, y, row, col in zip(lons, lats, xs, ys, rows[picks], cols[picks], strict=True):
        hrefs = tiles_for_point(mosaic, lon, lat)
        values = []
        for href in hrefs:
            with rasterio.open(href) as ds:
                if ds.bounds.left <= x < ds.bounds.right and ds.bounds.bottom < y <= ds.bounds.top:
                    values.append(next(ds.sample([(x, y)]))[0])
        assert values, (lon, lat)
        matches += int(values[0] == expected[row, col])
    assert matches >= 37


def test_items_carry_target_projection_and_valid_footprint(tmp_path: Path) -> None:
    src = write_utm(tmp_path / "utm.tif", corner=False)
    info = inspect_raster(src, "utm.tif")
    reproj = Reprojection.from_options(RasterOptions(target_crs="EPSG:3857"), info)
    result = tile_raster(src, tmp_path / "out", "utm", OPTS, info=info, reprojection=reproj)
    for tile in result.tiles:
        item = build_tile_item(
            tile,
            result,
            collection_id="c",
            href=str(tile.path),
            provenance=Provenance("big/utm.tif", "e"),
            when=datetime(2024, 1, 1, tzinfo=UTC),
            nodata=result.nodata,
        )
        validate_stac(item)
        props = item["properties"]
        assert props["proj:code"] == "EPSG:3857"
        with rasterio.open(tile.path) as ds:
            assert props["proj:shape"] == [ds.height, ds.width]
            assert np.allclose(props["proj:transform"], list(ds.transform)[:6])
        assert "EPSG:3857" in props["processing:lineage"]
        west, south, east, north = item["bbox"]
        assert 5 < west < east < 8 and 70 < south < north < 72
    # edge tiles of the rotated grid: the footprint leaves out their padding corner
    checked = 0
    for tile in result.tiles:
        with rasterio.open(tile.path) as ds:
            if ds.dataset_mask()[0, 0]:
                continue
            x, y = ds.transform * (0.5, 0.5)
            lon, lat = warp_transform(ds.crs, "EPSG:4326", [x], [y])
        item = build_tile_item(
            tile,
            result,
            collection_id="c",
            href="x",
            provenance=Provenance("b", "e"),
            when=datetime(2024, 1, 1, tzinfo=UTC),
        )
        assert not shapely.geometry.shape(item["geometry"]).contains(Point(lon[0], lat[0]))
        checked += 1
    assert checked


def test_rerun_reuses_and_new_crs_rebuilds(tmp_path: Path) -> None:
    src = write_utm(tmp_path / "utm.tif")
    info = inspect_raster(src, "utm.tif")
    out = tmp_path / "out"
    r4326 = Reprojection("EPSG:4326", "nearest")
    first = tile_raster(src, out, "utm", OPTS, info=info, reprojection=r4326)
    again = tile_raster(src, out, "utm", OPTS, info=info, reprojection=r4326)
    assert again.built == [] and len(again.reused) == len(first.tiles)
    assert [t.spec.tile_id for t in again.tiles] == [t.spec.tile_id for t in first.tiles]
    assert [t.checksum for t in again.tiles] == [t.checksum for t in first.tiles]
    manifest = json.loads(first.manifest.read_text())
    assert manifest["grid"]["crs"] == "EPSG:4326"
    changed = tile_raster(
        src, out, "utm", OPTS, info=info, reprojection=Reprojection("EPSG:3857", "nearest")
    )
    assert changed.reused == [] and len(changed.built) == len(changed.tiles)
    native = tile_raster(src, out, "utm", OPTS, info=info)
    assert native.reused == [] and native.target_crs is None
    with rasterio.open(native.tiles[0].path) as ds:
        assert ds.crs == CRS.from_epsg(32633)


@pytest.mark.parametrize("dtype", ["uint8", "float32", "int32"])
def test_padding_is_not_data_without_source_nodata(tmp_path: Path, dtype: str) -> None:
    """No nodata in the source: alpha for 8/16-bit unsigned, else ``fill_nodata``."""
    src = write_utm(tmp_path / "utm.tif", dtype=dtype, nodata=None)
    info = inspect_raster(src, "utm.tif")
    reproj = Reprojection.from_options(
        RasterOptions(target_crs="EPSG:4326", resampling="nearest"), info
    )
    result = tile_raster(src, tmp_path / "out", "utm", OPTS, info=info, reprojection=reproj)
    corner = next(t for t in result.tiles if t.spec.row == 0 and t.spec.col == 0)
    with rasterio.open(corner.path) as ds:
        validate_cog(corner.path)
        mask = ds.dataset_mask()
        assert mask[0, 0] == 0 and mask.any()  # rotated grid: the corner is padding
        if dtype == "uint8":
            assert ds.count == 2 and result.count == 2  # alpha band
        else:
            assert ds.nodata is not None and result.nodata is not None
    visual = build_visual_tier(result, RasterOptions(), OPTS, name="utm")
    assert len(visual.tiles) == len(result.tiles)
    for tile in visual.tiles:
        validate_cog(tile.path)


def test_web_optimized_snaps_to_the_web_mercator_matrix(tmp_path: Path) -> None:
    src = write_utm(tmp_path / "utm.tif")
    info = inspect_raster(src, "utm.tif")
    reproj = Reprojection.from_options(RasterOptions(web_optimized=True), info)
    assert reproj is not None and reproj.crs == "EPSG:3857" and reproj.web_aligned
    result = tile_raster(src, tmp_path / "out", "utm", OPTS, info=info, reprojection=reproj)
    t = Affine(*result.transform)
    half = 20037508.342789244
    zoom = np.log2(2 * half / 256 / t.a)
    assert abs(zoom - round(zoom)) < 1e-9
    tile_m = 256 * t.a
    assert abs(((t.c + half) / tile_m) - round((t.c + half) / tile_m)) < 1e-6
    assert abs(((half - t.f) / tile_m) - round((half - t.f) / tile_m)) < 1e-6
    for tile in result.tiles:
        validate_cog(tile.path)


def test_same_crs_is_not_a_reprojection(tmp_path: Path) -> None:
    info = inspect_raster(write_utm(tmp_path / "utm.tif"), "utm.tif")
    assert Reprojection.from_options(RasterOptions(target_crs="EPSG:32633"), info) is None
    assert Reprojection.from_options(None, info) is None
    assert Reprojection.from_options(RasterOptions(), info) is None
