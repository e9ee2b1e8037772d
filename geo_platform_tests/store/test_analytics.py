"""DuckDB analytics: H3 aggregation totals match the source; query output; the catalog file."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import duckdb
import geopandas as gpd
import h3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from geo_platform.lib.errors import (
    InputError,
    InvalidCRSError,
    TooLargeError,
    UnreadableFileError,
)
from geo_platform.lib.h3.contrib import SPHERE
from geo_platform.lib.vector.geoparquet import GeoParquetWriter, read_geo_metadata
from geo_platform.store import analytics
from geo_platform_tests.fixtures.helpers import TESTDATA

YNP = TESTDATA / "vectors" / "gpkg_multilayer" / "ynp_features.gpkg"


@pytest.fixture(scope="module")
def ynp(tmp_path_factory) -> dict[str, Path]:
    """The three layers of a real GeoPackage as lon/lat GeoParquet (as geopandas writes it)."""
    out = tmp_path_factory.mktemp("ynp")
    paths = {}
    for layer in ("points_of_interest", "roads", "ynp_bnd"):
        path = out / f"{layer}.parquet"
        gpd.read_file(YNP, layer=layer).to_crs(4326).to_parquet(path, schema_version="1.1.0")
        paths[layer] = path
    return paths


def _silver_points(path: Path, lng: np.ndarray, lat: np.ndarray) -> Path:
    """Points written like the vector stage does (one-point MultiPoint WKB + bbox covering)."""
    geoms = shapely.multipoints(shapely.points(lng, lat), indices=np.arange(len(lng)))
    attrs = pa.schema([("id", pa.int64())])
    writer = GeoParquetWriter(path, attrs, "MultiPoint")
    batch = pa.record_batch([pa.array(np.arange(len(lng)))], schema=attrs)
    writer.write(batch, pa.array(shapely.to_wkb(geoms, flavor="iso")), shapely.bounds(geoms))
    writer.close()
    return path


def _read(path: Path) -> pa.Table:
    return pq.read_table(path)


def test_point_counts_per_cell_match_h3(ynp, tmp_path: Path) -> None:
    out = tmp_path / "pois_h3.parquet"
    stats = analytics.aggregate_to_h3(ynp["points_of_interest"], 8, out)
    src = gpd.read_parquet(ynp["points_of_interest"])
    expected = Counter(h3.latlng_to_cell(p.y, p.x, 8) for p in src.geometry)
    cells = _read(out)
    got = dict(zip(cells.column("h3").to_pylist(), cells.column("point_count").to_pylist(),
                   strict=True))  # fmt: skip
    assert got == dict(expected)
    assert stats.points == stats.source_points == len(src) == stats.rows
    assert stats.kinds == ("points",) and stats.cells == len(expected)
    assert all(ok for ok, _ in stats.checks().values())
    assert cells.column("feature_count").to_pylist() == cells.column("point_count").to_pylist()


def test_output_is_geoparquet_with_valid_cell_polygons(ynp, tmp_path: Path) -> None:
    out = tmp_path / "pois_h3.parquet"
    analytics.aggregate_to_h3(ynp["points_of_interest"], 7, out)
    geo = read_geo_metadata(out)
    assert geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
    assert geo["columns"]["geometry"]["geometry_types"] == ["MultiPolygon"]
    t = _read(out)
    geoms = shapely.from_wkb(t.column("geometry").to_numpy(zero_copy_only=False))
    assert shapely.is_valid(geoms).all()
    ids = t.column("h3").to_pylist()
    assert len(set(ids)) == len(ids) and set(t.column("resolution").to_pylist()) == {7}
    for cell, g in zip(ids[:20], geoms[:20], strict=True):
        lat, lng = h3.cell_to_latlng(cell)
        assert g.contains(shapely.Point(lng, lat))
    read_back = gpd.read_parquet(out)  # a GeoParquet reader accepts it
    assert read_back.crs.to_epsg() == 4326 and len(read_back) == t.num_rows


def test_line_lengths_add_up_to_the_great_circle_length(ynp, tmp_path: Path) -> None:
    out = tmp_path / "roads_h3.parquet"
    stats = analytics.aggregate_to_h3(ynp["roads"], 8, out)
    src = gpd.read_parquet(ynp["roads"])
    reference = sum(SPHERE.geometry_length(g) for g in src.geometry)
    assert stats.source_line_length_m == pytest.approx(reference, rel=1e-6)
    assert stats.line_length_m == pytest.approx(reference, rel=1e-6)
    t = _read(out)
    assert sum(t.column("line_length_m").to_pylist()) == pytest.approx(reference, rel=1e-6)
    # Every cell credited with length lies on a road.
    cells = shapely.from_wkb(t.column("geometry").to_numpy(zero_copy_only=False))
    roads = shapely.union_all(src.geometry.values).buffer(1e-4)
    assert shapely.intersects(cells, roads).all()
    assert stats.kinds == ("lines",) and stats.points == 0


def test_polygon_area_adds_up_to_the_spherical_area(ynp, tmp_path: Path) -> None:
    out = tmp_path / "bnd_h3.parquet"
    stats = analytics.aggregate_to_h3(ynp["ynp_bnd"], 7, out)
    src = gpd.read_parquet(ynp["ynp_bnd"])
    # Spherical area of the lon/lat shape (edges straight in lon/lat, densified).
    reference = sum(
        abs(SPHERE.geometry_area_perimeter(shapely.segmentize(g, 0.01))[0]) for g in src.geometry
    )
    assert stats.source_polygon_area_m2 == pytest.approx(reference, rel=1e-5)
    assert stats.area_m2 == pytest.approx(reference, rel=0.005)
    t = _read(out)
    share = np.array(t.column("area_share").to_pylist())
    assert ((share > 0) & (share <= 1 + 1e-9)).all()
    full = np.isclose(share, 1.0)
    assert full.sum() > 0.8 * len(share)  # the park is large compared to resolution-7 cells
    area = np.array(t.column("area_m2").to_pylist())
    cell_area = np.array([h3.cell_area(c, "m^2") for c in t.column("h3").to_pylist()])
    assert np.allclose(area, share * cell_area)


def test_polygon_totals_do_not_depend_on_ring_orientation_or_validity(tmp_path: Path) -> None:
    """A hole drawn in its shell's direction is still a hole; a bow-tie counts both lobes."""
    shell, hole = [(0, 0), (10, 0), (10, 10), (0, 10)], [(2, 2), (8, 2), (8, 8), (2, 8)]
    same_way = shapely.Polygon(shell, [hole])  # valid, but not OGC-oriented
    bowtie = shapely.Polygon([(20, 0), (30, 10), (30, 0), (20, 10)])
    gpd.GeoDataFrame(geometry=[same_way, bowtie], crs=4326).to_parquet(tmp_path / "odd.parquet")
    stats = analytics.aggregate_to_h3(tmp_path / "odd.parquet", 4, tmp_path / "o.parquet")
    expected = sum(
        abs(SPHERE.geometry_area_perimeter(shapely.segmentize(g, 0.01))[0])
        for g in (shapely.orient_polygons(same_way), *shapely.get_parts(shapely.make_valid(bowtie)))
    )
    assert stats.source_polygon_area_m2 == pytest.approx(expected, rel=1e-5)
    assert stats.area_m2 == pytest.approx(expected, rel=1e-4)
    assert all(ok for ok, _ in stats.checks().values())


def test_silver_format_points_and_mixed_geometries(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    lng, lat = rng.uniform(-180, 180, 5000), rng.uniform(-85, 85, 5000)
    path = _silver_points(tmp_path / "pts.parquet", lng, lat)
    stats = analytics.aggregate_to_h3(path, 3, tmp_path / "pts_h3.parquet")
    assert stats.points == stats.rows == 5000
    counts = Counter(h3.latlng_to_cell(a, b, 3) for a, b in zip(lat, lng, strict=True))
    assert stats.cells == len(counts)

    mixed = gpd.GeoDataFrame(
        geometry=[
            shapely.Point(10, 10),
            shapely.MultiPoint([(10, 10), (11, 11)]),
            shapely.GeometryCollection([shapely.Point(1, 1), shapely.LineString([(0, 0), (1, 0)])]),
            None,
            shapely.Polygon(),
            shapely.box(20, 20, 20.5, 20.5),
        ],
        crs=4326,
    )
    mixed.to_parquet(tmp_path / "mixed.parquet")
    stats = analytics.aggregate_to_h3(tmp_path / "mixed.parquet", 5, tmp_path / "mixed_h3.parquet")
    assert stats.rows == 6 and stats.empty_rows == 2
    assert stats.points == stats.source_points == 4
    assert stats.kinds == ("lines", "points", "polygons")
    assert stats.line_length_m == pytest.approx(SPHERE.line_length([0, 1], [0, 0]), rel=1e-9)
    assert all(ok for ok, _ in stats.checks().values())


def test_non_lonlat_or_non_geo_parquet_is_refused(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(500000, 5000000)], crs=32633)
    gdf.to_parquet(tmp_path / "utm.parquet")
    with pytest.raises(InvalidCRSError, match="EPSG:32633"):
        analytics.aggregate_to_h3(tmp_path / "utm.parquet", 8, tmp_path / "o.parquet")
    pq.write_table(pa.table({"a": [1]}), tmp_path / "plain.parquet")
    with pytest.raises(InputError, match="GeoParquet"):
        analytics.aggregate_to_h3(tmp_path / "plain.parquet", 8, tmp_path / "o.parquet")
    assert not (tmp_path / "o.parquet").exists()


def test_broken_geometry_mid_stream_raises_the_platform_error(tmp_path: Path) -> None:
    """An error while DuckDB reads the contribution stream surfaces as itself, not wrapped."""
    geo = {"version": "1.1.0", "primary_column": "geometry",
           "columns": {"geometry": {"encoding": "WKB", "geometry_types": []}}}  # fmt: skip
    table = pa.table({"geometry": pa.array([b"\x01\x02\x00"], pa.binary())})
    table = table.replace_schema_metadata({"geo": json.dumps(geo)})
    pq.write_table(table, tmp_path / "broken.parquet")
    with pytest.raises(UnreadableFileError, match="invalid WKB"):
        analytics.aggregate_to_h3(tmp_path / "broken.parquet", 8, tmp_path / "o.parquet")


def test_polygons_too_large_for_the_resolution_are_refused(tmp_path: Path) -> None:
    gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 40, 40)], crs=4326).to_parquet(
        tmp_path / "big.parquet"
    )
    with pytest.raises(TooLargeError, match="coarser resolution"):
        analytics.aggregate_to_h3(tmp_path / "big.parquet", 9, tmp_path / "o.parquet")
    stats = analytics.aggregate_to_h3(tmp_path / "big.parquet", 3, tmp_path / "o.parquet")
    assert stats.area_m2 == pytest.approx(stats.source_polygon_area_m2, rel=0.01)


# --- query ------------------------------------------------------------------------------------
def test_query_formats(ynp, tmp_path: Path) -> None:
    views = {"pois": ynp["points_of_interest"], "roads": ynp["roads"]}
    sql = "SELECT count(*) AS n FROM pois"
    table = analytics.query(sql, views, "table")
    assert "n" in table.splitlines()[0] and "1399" in table and "(1 row)" in table
    rows = list(csv.DictReader(io.StringIO(analytics.query(sql, views, "csv"))))
    assert rows == [{"n": "1399"}]
    assert json.loads(analytics.query(sql, views, "json")) == [{"n": 1399}]

    geo_sql = "SELECT * FROM roads ORDER BY 1 LIMIT 3"
    as_json = json.loads(analytics.query(geo_sql, views, "json"))
    assert len(as_json) == 3 and as_json[0]["geometry"].startswith("LINESTRING")
    out = tmp_path / "res" / "roads.parquet"
    msg = analytics.query("SELECT * FROM roads", views, "parquet", output=out)
    assert "2021 rows" in msg
    assert pq.read_table(out).num_rows == 2021
    assert read_geo_metadata(out)["columns"]["geometry"]["geometry_types"] == ["LineString"]
    csv_out = tmp_path / "n.csv"
    analytics.query(sql, views, "csv", output=csv_out)
    assert csv_out.read_text().splitlines() == ['"n"', "1399"]


def test_query_errors(ynp) -> None:
    views = {"pois": ynp["points_of_interest"]}
    with pytest.raises(InputError, match="query failed"):
        analytics.query("SELECT * FROM nope", views)
    with pytest.raises(InputError, match="format"):
        analytics.query("SELECT 1", views, "xml")
    with pytest.raises(InputError, match="output"):
        analytics.query("SELECT 1", views, "parquet")


def test_table_output_is_truncated_to_max_rows(ynp) -> None:
    text = analytics.query("SELECT * FROM pois", {"pois": ynp["points_of_interest"]},
                           max_rows=5)  # fmt: skip
    assert "(1399 rows, first 5 shown)" in text
    assert len(text.splitlines()) == 2 + 5 + 1


# --- catalog ----------------------------------------------------------------------------------
def _views(db: Path) -> dict[str, str]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
    return dict(rows)


def test_sync_catalog_creates_replaces_and_drops_views(ynp, tmp_path: Path) -> None:
    db = tmp_path / "analytics" / "catalog.duckdb"
    first = analytics.sync_catalog(db, {"pois": ynp["points_of_interest"], "roads": ynp["roads"]})
    assert first.created == ["pois", "roads"] and not first.dropped
    assert set(_views(db)) == {"pois", "roads"}
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM pois").fetchone() == (1399,)

    second = analytics.sync_catalog(db, {"pois": ynp["points_of_interest"], "bnd": ynp["ynp_bnd"]})
    assert second.created == ["bnd"] and second.unchanged == ["pois"]
    assert second.dropped == ["roads"] and second.replaced == []
    assert set(_views(db)) == {"pois", "bnd"}

    third = analytics.sync_catalog(db, {"pois": ynp["roads"]})
    assert third.replaced == ["pois"] and third.dropped == ["bnd"]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM pois").fetchone() == (2021,)
    assert not list(db.parent.glob(".*.tmp*"))


def test_sync_catalog_failure_keeps_the_old_file(ynp, tmp_path: Path) -> None:
    db = tmp_path / "catalog.duckdb"
    analytics.sync_catalog(db, {"pois": ynp["points_of_interest"]})
    with pytest.raises(duckdb.Error):
        analytics.sync_catalog(db, {"gone": tmp_path / "missing.parquet"})
    assert set(_views(db)) == {"pois"}
    assert not list(tmp_path.glob(".*.tmp*"))
