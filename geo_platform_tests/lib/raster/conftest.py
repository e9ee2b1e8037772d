"""Fixtures for the raster tests: each shared test raster is built into COG tiers once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from geo_platform.lib.raster.cog import CogBuildResult, RasterOptions, build_cog_tiers
from geo_platform_tests.lib.raster import synth


@pytest.fixture(scope="session")
def built_shared(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], CogBuildResult]:
    """``built_shared(rel)`` -> the CogBuildResult of shared raster ``rel`` (cached)."""
    cache: dict[str, CogBuildResult] = {}
    root = tmp_path_factory.mktemp("cogs")

    def build(rel: str) -> CogBuildResult:
        if rel not in cache:
            out: Path = root / rel.replace("/", "__")
            cache[rel] = build_cog_tiers(synth.RASTERS / rel, out, RasterOptions(), f"bronze/{rel}")
        return cache[rel]

    return build
