"""Polygon aggregation onto H3 is exact for polygons that cover a pole or cross the antimeridian.

Natural Earth's countries (Antarctica runs along +-180 and the south pole's latitude; Russia and
Fiji are cut at the antimeridian) are the real case; polar caps, the whole sphere and a band
across the antimeridian have areas known in closed form. References are measured independently:
pyproj on H3's sphere, as ``contrib`` measures the source, or by formula.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely
from h3.api import basic_int as h3i

from geo_platform.lib.h3 import contrib, cover
from geo_platform.lib.h3 import grid as h3grid
from geo_platform.lib.h3.contrib import SPHERE
from geo_platform.lib.h3.sphere import EARTH_RADIUS_M
from geo_platform.store import analytics
from geo_platform_tests.fixtures.helpers import TESTDATA

NATURAL_EARTH = TESTDATA / "vectors" / "shp_zip_with_prj" / "naturalearth_lowres.zip"
R2 = EARTH_RADIUS_M**2


@pytest.fixture(scope="module")
def countries(tmp_path_factory) -> tuple[gpd.GeoDataFrame, Path]:
    gdf = gpd.read_file(NATURAL_EARTH)
    path = tmp_path_factory.mktemp("ne") / "countries.parquet"
    gdf.to_parquet(path, schema_version="1.1.0")
    return gdf, path


def _source_area(geom: shapely.Geometry) -> float:
    """Spherical area of the lon/lat shape: pyproj on H3's sphere, edges densified."""
    return sum(
        abs(SPHERE.geometry_area_perimeter(shapely.segmentize(p, 0.05))[0])
        for p in shapely.get_parts(geom)
    )


def _cover_area(found: cover.Cover) -> float:
    areas = np.array([h3i.cell_area(c, "m^2") for c in found.cells.tolist()])
    return float((areas * found.share).sum())


@pytest.mark.parametrize("res", [0, 1, 2, 3])
def test_natural_earth_area_totals_match_the_source(countries, tmp_path: Path, res: int) -> None:
    gdf, path = countries
    source = sum(_source_area(g) for g in gdf.geometry)
    assert source == pytest.approx(147.2556e12, rel=1e-5)
    t0 = time.perf_counter()
    stats = analytics.aggregate_to_h3(path, res, tmp_path / "cells.parquet")
    seconds = time.perf_counter() - t0
    assert stats.source_polygon_area_m2 == pytest.approx(source, rel=1e-9)
    assert stats.area_m2 == pytest.approx(source, rel=1e-4)  # the issue asks 0.5%
    assert all(ok for ok, _ in stats.checks(area_tolerance=0.005).values())
    print(f"res {res}: {stats.area_m2:.6e} m2 in {stats.cells} cells, source {source:.6e}, "
          f"{seconds:.2f} s")  # fmt: skip

    cells = pq.read_table(tmp_path / "cells.parquet")
    ids = cells.column("h3").to_pylist()
    assert len(set(ids)) == len(ids)
    share = dict(zip(ids, cells.column("area_share").to_pylist(), strict=True))
    assert max(share.values()) < 1 + 1e-5  # countries barely overlap
    south_pole = h3.latlng_to_cell(-90, 0, res)  # Antarctica covers it from resolution 2 on
    assert (
        share[south_pole] == pytest.approx(1.0, abs=1e-6) if res >= 2 else share[south_pole] > 0.5
    )
    geoms = shapely.from_wkb(cells.column("geometry").to_numpy(zero_copy_only=False))
    assert shapely.is_valid(geoms).all()


@pytest.mark.parametrize("res", [0, 2])
def test_every_country_keeps_its_area(countries, res: int) -> None:
    """Per feature: Antarctica (46% lost before), Russia and Fiji across the antimeridian."""
    gdf, _ = countries
    totals = contrib.SourceTotals()
    rows = list(contrib.contributions(gdf.geometry.values, 0, res, totals))
    fid = np.concatenate([b.column("fid").to_numpy() for b in rows])
    area = np.concatenate([b.column("area_m2").to_numpy() for b in rows])
    per_fid = np.bincount(fid, area, minlength=len(gdf))
    expected = np.array([_source_area(g) for g in gdf.geometry])
    rel = np.abs(per_fid / expected - 1)
    worst = gdf.name.iloc[int(rel.argmax())]
    assert rel.max() < 1e-3, f"{worst}: {per_fid[rel.argmax()]:.6e} vs {expected[rel.argmax()]:.6e}"
    for name in ("Antarctica", "Russia", "Fiji"):
        i = int(np.flatnonzero(gdf.name == name)[0])
        assert per_fid[i] == pytest.approx(expected[i], rel=1e-4), name


@pytest.mark.parametrize("res", [0, 1, 2, 3])
def test_polar_caps_have_their_exact_area(res: int) -> None:
    for cap, lat in (
        (shapely.box(-180, 70, 180, 90), 70.0),
        (shapely.box(-180, -90, 180, -75), 75.0),
    ):
        found = cover.polygon_cover(cap, res)
        exact = 2 * math.pi * R2 * (1 - math.sin(math.radians(lat)))
        assert _cover_area(found) == pytest.approx(exact, rel=1e-5)
        pole = h3i.latlng_to_cell(90 if cap.bounds[3] == 90 else -90, 0, res)
        cells = found.cells.tolist()
        polar_share = found.share[cells.index(pole)]  # the res-0 polar cells reach 68.9
        assert polar_share == pytest.approx(1.0, abs=1e-9) if res else polar_share > 0.7
        assert len(set(cells)) == len(cells) and (found.share <= 1).all()


def test_the_whole_sphere_is_every_cell_in_full() -> None:
    found = cover.polygon_cover(shapely.box(-180, -90, 180, 90), 1)
    assert sorted(found.cells.tolist()) == sorted(h3grid.global_cells(1).tolist())
    assert found.share == pytest.approx(np.ones(h3.get_num_cells(1)), abs=1e-6)
    assert _cover_area(found) == pytest.approx(4 * math.pi * R2, rel=1e-6)


@pytest.mark.parametrize("res", [1, 3])
def test_a_band_across_the_antimeridian(res: int) -> None:
    band = shapely.MultiPolygon([shapely.box(170, -20, 180, 20), shapely.box(-180, -20, -170, 20)])
    exact = R2 * math.radians(20) * 2 * math.sin(math.radians(20))
    found = [cover.polygon_cover(p, res) for p in band.geoms]
    assert sum(_cover_area(f) for f in found) == pytest.approx(exact, rel=1e-5)
    # A cell astride 180 on the equator is shared by both halves and adds up to all of it.
    cell = h3i.latlng_to_cell(0, 180, res)
    parts = [f.share[f.cells.tolist().index(cell)] for f in found if cell in f.cells.tolist()]
    assert len(parts) == 2 and sum(parts) == pytest.approx(1.0, abs=1e-6)


def test_boundary_shares_match_geodesic_intersections(countries) -> None:
    """Per cell, not only in total: each share against pyproj's area of the intersection."""
    gdf, _ = countries
    antarctica = max(shapely.get_parts(gdf.geometry[gdf.name == "Antarctica"].iloc[0]),
                     key=shapely.area)  # fmt: skip
    found = cover.polygon_cover(antarctica, 1)
    edge = found.cells[found.share < 1]
    assert len(edge) > 10
    cell_geoms = h3grid.cell_polygons(edge, max_arc_deg=0.05).geoms()
    for c, g in zip(edge.tolist(), cell_geoms, strict=True):
        measured = _source_area(shapely.intersection(g, antarctica))
        share = found.share[found.cells.tolist().index(c)]
        assert share * h3i.cell_area(c, "m^2") == pytest.approx(
            measured, abs=1e-4 * h3i.cell_area(c, "m^2")
        )
