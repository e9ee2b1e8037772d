"""The visualization tier of a tiled raster: one stretch for all tiles, JPEG COGs, thumbnail,
skipping with a reason, resumable runs, and tile items with the new assets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.windows import Window

from geo_platform.lib.raster.mosaic import (
    build_mosaic,
    sources_from_tiling,
    tiles_for_point,
    validate_mosaic,
)
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.tiling import TilingOptions, TilingResult, tile_raster
from geo_platform.lib.raster.tiling.visual import (
    VISUAL_MANIFEST,
    VisualResult,
    build_visual_tier,
    visual_filename,
)
from geo_platform.lib.raster.validate import validate_cog
from geo_platform.lib.stac.tile_item import TileAssets, build_tile_item
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.types import Provenance
from geo_platform_tests.lib.raster.synth import gradient, write_tif
from geo_platform_tests.lib.raster.test_tiling import write_source

OPTS = TilingOptions(tile_size=512, blocksize=256, workers=2)


def tiled(
    src: Path, out: Path, raster: RasterOptions | None = None
) -> tuple[TilingResult, VisualResult]:
    result = tile_raster(src, out, "img", OPTS, source_fingerprint="v1")
    return result, build_visual_tier(result, raster, OPTS, name=src.name)


@pytest.fixture
def dem(tmp_path: Path) -> Path:
    """uint16, 2048 x 1800, nodata 0 in the top-left corner: 16 tiles of 512 (edges clipped)."""
    return write_source(tmp_path / "dem.tif")


@pytest.fixture
def ramp(tmp_path: Path) -> Path:
    """uint16 rising from west to east and north to south (100 .. ~6000), nodata 0 in a corner:
    every tile has a different value range, so a per-tile stretch would show at the seams."""
    yy, xx = np.mgrid[0:1800, 0:2048]
    data = (100 + 2 * xx + yy + (xx * 7 + yy * 3) % 5).astype("uint16")
    data[:100, :150] = 0
    profile = {"nodata": 0, "tiled": True, "blockxsize": 256, "blockysize": 256}
    return write_tif(tmp_path / "ramp.tif", data[None], **profile)


@pytest.fixture
def rgb(tmp_path: Path) -> Path:
    return write_tif(
        tmp_path / "rgb.tif",
        gradient(3, 1100, 1300),
        photometric="RGB",
        tiled=True,
        blockxsize=256,
        blockysize=256,
    )


def check_visual_cogs(result: TilingResult, visual: VisualResult, bands: int) -> None:
    assert [t.spec.tile_id for t in visual.tiles] == [t.spec.tile_id for t in result.tiles]
    for tile, vis in zip(result.tiles, visual.tiles, strict=True):
        assert vis.path == result.manifest.parent / visual_filename(tile.spec.tile_id)
        validate_cog(vis.path)
        with rasterio.open(vis.path) as ds, rasterio.open(tile.path) as src:
            assert (ds.count, ds.dtypes[0]) == (bands, "uint8")
            codec = "YCbCr JPEG" if bands == 3 else "JPEG"  # RGB is stored as YCbCr
            assert ds.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == codec
            assert (ds.width, ds.height, ds.transform) == (src.width, src.height, src.transform)
            assert len(ds.overviews(1)) == len(src.overviews(1))


def test_uint16_tiles_share_one_stretch_and_mask(ramp: Path, tmp_path: Path) -> None:
    result, visual = tiled(ramp, tmp_path / "out")
    assert visual.skipped_reason is None and visual.plan is not None
    assert visual.rule and "single band: linear stretch" in visual.rule
    assert visual.band_names == ("gray",) and len(visual.built) == 16
    check_visual_cogs(result, visual, bands=1)
    # The global stretch is close to the full-resolution 2nd-98th percentiles...
    (band,) = visual.plan.bands
    assert band.scale is not None and band.offset is not None
    with rasterio.open(ramp) as src:
        full = src.read(1)
    low, high = np.percentile(full[full != 0], (2, 98))
    assert band.scale == pytest.approx(255 / (high - low), rel=0.05)
    # ...and every tile applies it (a per-tile stretch would be far off in most tiles).
    with rasterio.open(ramp) as src:
        for vis in visual.tiles:
            c, r, w, h = vis.spec.window
            source = src.read(1, window=Window(c, r, w, h)).astype("float64")
            expected = np.clip(source * band.scale + band.offset, 0, 255)
            with rasterio.open(vis.path) as ds:
                got, mask = ds.read(1).astype("float64"), ds.dataset_mask()
            valid = source != 0
            assert np.array_equal(mask > 0, valid)  # nodata -> internal mask, exact
            assert np.abs(got - expected)[valid].mean() < 2.0, vis.spec.tile_id


def test_seam_same_value_same_colour_in_neighbouring_tiles(ramp: Path, tmp_path: Path) -> None:
    _, visual = tiled(ramp, tmp_path / "out")
    by_id = {t.spec.tile_id: t for t in visual.tiles}
    left, right = by_id["img_r001_c000"], by_id["img_r001_c001"]
    with rasterio.open(left.path) as a, rasterio.open(right.path) as b:
        edge_a = a.read(1)[:, -1].astype(int)  # last column of the left tile
        edge_b = b.read(1)[:, 0].astype(int)  # first column of the right tile
    # Neighbouring source columns differ by 2 of ~6000 units, so their colours must match.
    assert np.abs(edge_a - edge_b).mean() < 2


def test_rgb_tiles_pass_through_and_thumbnail(rgb: Path, tmp_path: Path) -> None:
    result, visual = tiled(rgb, tmp_path / "out")
    assert visual.rule == "8-bit RGB passed through"
    assert visual.band_names == ("red", "green", "blue")
    assert len(result.tiles) == len(visual.tiles) == 9
    check_visual_cogs(result, visual, bands=3)
    with rasterio.open(rgb) as src:
        for vis in visual.tiles:
            c, r, w, h = vis.spec.window
            source = src.read(window=Window(c, r, w, h)).astype(int)
            with rasterio.open(vis.path) as ds:
                assert ds.colorinterp[0].name == "red"
                assert np.abs(ds.read().astype(int) - source).mean() < 3.0
    assert visual.thumbnail is not None
    with Image.open(visual.thumbnail) as img:
        assert (img.format, img.mode, img.size) == ("PNG", "RGBA", (256, 217))


def test_grey_thumbnail_size_and_visual_mosaic(dem: Path, tmp_path: Path) -> None:
    result, visual = tiled(dem, tmp_path / "out", RasterOptions(thumbnail_size=300))
    assert visual.thumbnail == tmp_path / "out" / "thumbnail.png"
    with Image.open(visual.thumbnail) as img:
        assert (img.format, img.mode, img.size) == ("PNG", "LA", (300, 264))
        alpha = np.asarray(img)[..., 1]
    assert alpha[0, 0] == 0 and alpha[-1, -1] == 255  # nodata corner is transparent
    paths = {t.spec.tile_id: str(t.path) for t in visual.tiles}
    mosaic = build_mosaic(sources_from_tiling(result, lambda t: paths[t.spec.tile_id]))
    validate_mosaic(mosaic)
    listed = {p for assets in mosaic["tiles"].values() for p in assets}
    assert listed == set(paths.values())
    with rasterio.open(paths["img_r002_c001"]) as ds:
        lon, lat = rasterio.warp.transform(ds.crs, "EPSG:4326", *[[v] for v in ds.xy(256, 256)])
    assert paths["img_r002_c001"] in tiles_for_point(mosaic, lon[0], lat[0])


def test_many_bands_skip_with_reason_but_keep_a_thumbnail(tmp_path: Path) -> None:
    src = write_tif(tmp_path / "six.tif", gradient(6, 600, 700), tiled=True)
    result, visual = tiled(src, tmp_path / "out")
    assert len(result.tiles) == 4
    assert visual.tiles == () and visual.plan is None
    assert visual.skipped_reason and "6 bands without a red/green/blue" in visual.skipped_reason
    assert list((tmp_path / "out" / "visual").iterdir()) == []
    manifest = json.loads((tmp_path / "out" / VISUAL_MANIFEST).read_text())
    assert manifest["skipped"] == visual.skipped_reason and manifest["tiles"] == {}
    assert visual.thumbnail is not None  # band 1 preview
    with Image.open(visual.thumbnail) as img:
        assert img.size == (256, 219)


def test_not_requested_removes_earlier_visual_tiles(dem: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    tiled(dem, out)
    _, visual = tiled(dem, out, RasterOptions(tiers=("analysis", "archive")))
    assert visual.skipped_reason == "not requested" and visual.tiles == ()
    assert list((out / "visual").glob("*.tif")) == []
    assert visual.thumbnail is not None


def test_rerun_reuses_visual_tiles_and_rebuilds_only_what_changed(
    dem: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    _, first = tiled(dem, out)
    _, again = tiled(dem, out)
    assert again.built == [] and len(again.reused) == 16
    assert [t.checksum for t in again.tiles] == [t.checksum for t in first.tiles]
    (out / visual_filename("img_r000_c001")).unlink()
    damaged = out / visual_filename("img_r002_c003")
    data = bytearray(damaged.read_bytes())
    data[-10] ^= 0xFF
    damaged.write_bytes(bytes(data))
    (out / "visual" / "img_r009_c009.tif").write_bytes(b"stray")
    repaired = tiled(dem, out)[1]
    assert sorted(repaired.built) == ["img_r000_c001", "img_r002_c003"]
    assert not (out / "visual" / "img_r009_c009.tif").exists()
    requality = tiled(dem, out, RasterOptions(jpeg_quality=60))[1]
    assert len(requality.built) == 16  # other JPEG settings: every tile is rebuilt


def test_tile_items_have_visual_thumbnail_and_mosaic_assets(rgb: Path, tmp_path: Path) -> None:
    result, visual = tiled(rgb, tmp_path / "out")
    tile, vis = result.tiles[4], visual.tiles[4]
    extras = TileAssets(
        visual=vis,
        visual_href=f"https://example.org/{visual_filename(tile.spec.tile_id)}",
        visual_bands=visual.band_names,
        visual_rule=visual.rule,
        thumbnail_href="https://example.org/thumbnail.png",
        mosaics={
            "mosaic": "https://example.org/mosaic.json",
            "mosaic-visual": "https://example.org/mosaic-visual.json",
        },
    )
    item = build_tile_item(
        tile,
        result,
        collection_id="c",
        href=f"https://example.org/{tile.spec.filename}",
        provenance=Provenance(source_blob="rgb.tif", source_etag="v1"),
        when=datetime(2024, 5, 1, tzinfo=UTC),
        extras=extras,
    )
    assets = item["assets"]
    viz = assets["visualization"]
    assert viz["type"] == "image/tiff; application=geotiff; profile=cloud-optimized"
    assert viz["roles"] == ["visual"]
    assert (viz["file:size"], viz["file:checksum"]) == (vis.size_bytes, vis.checksum)
    assert [b["name"] for b in viz["bands"]] == ["red", "green", "blue"]
    assert assets["thumbnail"]["roles"] == ["thumbnail"]
    assert assets["thumbnail"]["type"] == "image/png"
    assert assets["mosaic-visual"]["href"].endswith("mosaic-visual.json")
    assert "8-bit RGB passed through" in item["properties"]["processing:lineage"]
    validate_stac(item)
