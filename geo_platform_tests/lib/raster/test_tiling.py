"""Tiling a large raster into a grid of COGs: exact coverage, stable ids, resumable runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from geo_platform.lib.errors import ConfigError
from geo_platform.lib.raster.inspect import inspect_raster
from geo_platform.lib.raster.tiling import (
    TilingError,
    TilingOptions,
    needs_tiling,
    plan_tiles,
    tile_raster,
    tile_step,
)
from geo_platform.lib.raster.tiling import build as tiling_build
from geo_platform.lib.raster.validate import validate_cog


def write_source(path: Path, width: int = 2048, height: int = 1800, block: int = 256) -> Path:
    """A tiled uint16 DEM-like raster with nodata in a corner (not a multiple of the tile size)."""
    y, x = np.mgrid[0:height, 0:width]
    data = (1000 + 500 * np.sin(x / 97.0) * np.cos(y / 53.0) + (x * 7 + y * 3) % 11).astype(
        "uint16"
    )
    data[:100, :150] = 0
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="uint16",
        crs="EPSG:32633",
        transform=from_origin(500000, 6000000, 10, 10),
        nodata=0,
        tiled=True,
        blockxsize=block,
        blockysize=block,
        compress="deflate",
    ) as dst:
        dst.write(data[None])
    return path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_source(tmp_path / "big.tif")


def test_grid_is_aligned_and_covers_the_raster_exactly() -> None:
    opts = TilingOptions(tile_size=512)
    assert tile_step((256, 256), 2048, opts) == 512
    assert tile_step((384, 384), 2048, opts) == 1536  # lcm with the source block
    assert tile_step((1, 2048), 2048, opts) == 512  # striped source: width ignored
    specs = plan_tiles(2048, 1800, 512, "img")
    assert len(specs) == 4 * 4
    assert specs[-1].tile_id == "img_r003_c003"
    assert specs[-1].window == (1536, 1536, 512, 264)
    covered = np.zeros((1800, 2048), dtype="uint8")
    for s in specs:
        covered[s.row_off : s.row_off + s.height, s.col_off : s.col_off + s.width] += 1
    assert (covered == 1).all()


def test_options_validate_and_threshold(source: Path) -> None:
    with pytest.raises(ConfigError):
        TilingOptions(tile_size=500)
    with pytest.raises(ConfigError):
        TilingOptions.from_mapping({"tile_sise": 512})
    info = inspect_raster(source, "big.tif")
    assert needs_tiling(info, TilingOptions(threshold_pixels=2048 * 1800 - 1))
    assert not needs_tiling(info, TilingOptions())


def test_tiles_are_lossless_valid_cogs_with_lineage(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = tile_raster(source, out, "big", TilingOptions(tile_size=512, workers=2))
    assert len(result.tiles) == 16 and len(result.built) == 16
    with rasterio.open(source) as src:
        for tile in result.tiles:
            validate_cog(tile.path)
            c, r, w, h = tile.spec.window
            with rasterio.open(tile.path) as ds:
                assert (ds.width, ds.height) == (w, h)
                assert ds.crs == src.crs and ds.nodata == 0
                assert ds.transform == src.window_transform(Window(c, r, w, h))
                assert np.array_equal(ds.read(1), src.read(1, window=Window(c, r, w, h)))
                assert ds.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
    manifest = json.loads(result.manifest.read_text())
    assert manifest["tiles"]["big_r003_c002"]["window"] == [1024, 1536, 512, 264]


def test_ids_stable_and_rerun_reuses_everything(source: Path, tmp_path: Path) -> None:
    opts = TilingOptions(tile_size=512, workers=1)
    first = tile_raster(source, tmp_path / "a", "big", opts, source_fingerprint="etag1")
    again = tile_raster(source, tmp_path / "a", "big", opts, source_fingerprint="etag1")
    elsewhere = tile_raster(source, tmp_path / "b", "big", opts, source_fingerprint="etag1")
    ids = [t.spec.tile_id for t in first.tiles]
    assert ids == [t.spec.tile_id for t in again.tiles] == [t.spec.tile_id for t in elsewhere.tiles]
    assert again.built == [] and len(again.reused) == 16
    assert [t.checksum for t in first.tiles] == [t.checksum for t in elsewhere.tiles]
    changed = tile_raster(source, tmp_path / "a", "big", opts, source_fingerprint="etag2")
    assert len(changed.built) == 16  # a new source version rebuilds everything


def test_rerun_after_a_failed_tile_builds_only_the_missing_one(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tiling_build.build_tile

    def flaky(spec, out_dir, job):
        if spec.tile_id == "big_r001_c002":
            raise OSError("disk hiccup")
        return real(spec, out_dir, job)

    monkeypatch.setattr(tiling_build, "build_tile", flaky)
    out = tmp_path / "out"
    opts = TilingOptions(tile_size=512, workers=1)
    with pytest.raises(TilingError) as err:
        tile_raster(source, out, "big", opts)
    assert set(err.value.failed) == {"big_r001_c002"}
    assert "disk hiccup" in err.value.message
    assert len(list((out / "tiles").glob("*.tif"))) == 15
    monkeypatch.setattr(tiling_build, "build_tile", real)
    rerun = tile_raster(source, out, "big", opts)
    assert rerun.built == ["big_r001_c002"] and len(rerun.reused) == 15


def test_deleted_or_corrupted_tile_is_rebuilt_with_a_pool(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    opts = TilingOptions(tile_size=512, workers=2)
    tile_raster(source, out, "big", opts)
    (out / "tiles" / "big_r000_c001.tif").unlink()
    damaged = out / "tiles" / "big_r002_c003.tif"
    data = bytearray(damaged.read_bytes())
    data[-10] ^= 0xFF
    damaged.write_bytes(bytes(data))
    rerun = tile_raster(source, out, "big", opts)
    assert sorted(rerun.built) == ["big_r000_c001", "big_r002_c003"]
    assert len(rerun.reused) == 14
