"""Fixtures for the vector library tests: test data paths and small generated files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point


@pytest.fixture(scope="session")
def vectors(testdata: Path) -> Path:
    """The shared vector files (skipped without them, a failure in CI: see ``testdata``)."""
    return testdata / "vectors"


def two_points(crs: str | None = "EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=[Point(1, 2), Point(3, 4)], crs=crs)


def zip_dir(src: Path, dest: Path, prefix: str = "") -> Path:
    """Zip every file under ``src`` into ``dest`` with member names ``prefix`` + relative path."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                zf.write(f, prefix + str(f.relative_to(src)))
    return dest
