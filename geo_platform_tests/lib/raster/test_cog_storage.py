"""Per-source storage rules of the COG tiers (lib/raster/tier_rules.py), on real files."""

from __future__ import annotations

import filecmp
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio

from geo_platform.lib.raster.cog import CogBuildResult, RasterOptions, build_cog_tiers
from geo_platform.lib.raster.tier_rules import (
    RULE_SOURCE_ANALYSIS,
    RULE_SOURCE_ARCHIVE,
    plan_tiers,
    source_layout,
)
from geo_platform.lib.raster.validate import validate_cog
from geo_platform_tests.lib.raster import synth

Built = Callable[[str], CogBuildResult]
JPEG_COG = "cog_valid/cogeo.tif"  # 298 KB, JPEG (quality 75), a valid COG
DEFLATE_COG = "antimeridian/cog_dateline.tif"  # uint16, DEFLATE, a valid COG


def test_a_lossless_cog_source_is_the_archive_tier_byte_for_byte(built_shared: Built) -> None:
    result = built_shared(DEFLATE_COG)
    archive = result.tiers["archive"]
    assert archive.path is not None
    assert filecmp.cmp(synth.RASTERS / DEFLATE_COG, archive.path, shallow=False)
    assert (archive.compression, archive.rule) == ("DEFLATE", RULE_SOURCE_ARCHIVE)
    validate_cog(archive.path)
    # The analysis tier is still built (lossless, overviews recomputed), not copied.
    assert result.tiers["analysis"].rule is None
    assert result.tiers["analysis"].profile["predictor"] == "2"
    storage = result.storage()
    assert storage["source_bytes"] == (synth.RASTERS / DEFLATE_COG).stat().st_size
    assert storage["tiers"]["archive"]["ratio"] == 1.0


def test_a_jpeg_source_s_tiers_are_not_several_times_the_source(built_shared: Built) -> None:
    result = built_shared(JPEG_COG)
    source = (synth.RASTERS / JPEG_COG).stat().st_size
    storage = result.storage()
    assert set(storage["tiers"]) == {"analysis", "visualization", "archive"}
    for name, tier in storage["tiers"].items():
        assert tier["bytes"] <= 1.25 * source, (name, tier)  # lossless tiers were ~7.5x
        assert tier["ratio"] == round(tier["bytes"] / source, 4)
    assert storage["total_ratio"] <= 3.5
    analysis, archive = result.tiers["analysis"], result.tiers["archive"]
    assert analysis.rule == RULE_SOURCE_ANALYSIS and archive.rule == RULE_SOURCE_ARCHIVE
    for tier in (analysis, archive):
        assert tier.path is not None
        validate_cog(tier.path)
        assert filecmp.cmp(synth.RASTERS / JPEG_COG, tier.path, shallow=False)
    with rasterio.open(synth.RASTERS / JPEG_COG) as src, rasterio.open(analysis.path) as out:
        np.testing.assert_array_equal(out.read(), src.read())  # the source's decoded pixels


def test_sources_that_are_not_usable_as_they_are_get_built_tiers(tmp_path: Path) -> None:
    # Not a COG (striped, uncompressed): every tier is built, nothing copied.
    rgb = synth.RASTERS / "rgb_uint8/RGB.byte.tif"
    with rasterio.open(rgb) as ds:
        assert ds.compression is None or not ds.profile.get("tiled")
    result = build_cog_tiers(rgb, tmp_path / "rgb", RasterOptions(), "bronze/rgb.tif")
    assert all(t.rule is None or "source" not in t.rule for t in result.published().values())
    assert result.tiers["archive"].compression == "LZW"
    # A valid lossless COG that is reprojected: its archive is rebuilt (on the source's grid).
    info_opts = RasterOptions(target_crs="EPSG:4326")
    cog = synth.RASTERS / DEFLATE_COG
    out = build_cog_tiers(cog, tmp_path / "reproj", info_opts, "bronze/dateline.tif")
    archive = out.tiers["archive"]
    assert archive.path is not None and archive.rule is None
    assert not filecmp.cmp(cog, archive.path, shallow=False)


@pytest.mark.parametrize(
    ("rel", "valid_cog", "lossy", "codec"),
    [
        (JPEG_COG, True, True, "JPEG"),
        (DEFLATE_COG, True, False, "DEFLATE"),
        ("rgb_uint8/RGB.byte.tif", False, False, None),
    ],
)
def test_source_layout(
    built_shared: Built, rel: str, valid_cog: bool, lossy: bool, codec: str | None
) -> None:
    info = built_shared(rel).info
    layout = source_layout(info)
    assert (layout.valid_cog, layout.lossy, layout.compression) == (valid_cog, lossy, codec)
    plan = plan_tiers(info, RasterOptions(), layout)
    assert plan.archive_is_source == valid_cog
    assert plan.analysis_is_source == (valid_cog and lossy)
    # A chosen analysis codec, or no archive tier requested, turns the copies off.
    chosen = plan_tiers(info, RasterOptions(analysis_compression="ZSTD"), layout)
    assert not chosen.analysis_is_source
    assert not plan_tiers(info, RasterOptions(tiers=("analysis",)), layout).archive_is_source
