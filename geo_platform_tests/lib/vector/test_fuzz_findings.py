"""Regressions found by fuzzing the vector pipeline: real files, published into real PostGIS."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import psycopg
import pytest
from psycopg import sql
from shapely.geometry import Point, Polygon

from geo_platform.lib import naming
from geo_platform.lib.errors import (
    CoordinateRangeError,
    EmptyDatasetError,
    InvalidCRSError,
    TooLargeError,
    is_retryable,
)
from geo_platform.lib.vector.options import VectorOptions
from geo_platform_tests.lib.vector.conftest import publish_file
from geo_platform_tests.lib.vector.test_publish import ASSUME, _db_check


def _geojson(path: Path, features: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> Path:
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "properties": props, "geometry": geom}
                    for props, geom in features
                ],
            }
        )
    )
    return path


def _point(x: float, y: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [x, y]}


def _rows(conn: psycopg.Connection[Any], schema: str, table: str, cols: list[str]) -> list[Any]:
    query = sql.SQL("SELECT {} FROM {}.{} ORDER BY fid").format(
        sql.SQL(", ").join(map(sql.Identifier, cols)),
        sql.Identifier(schema),
        sql.Identifier(table),
    )
    return conn.execute(query).fetchall()


def _table_count(conn: psycopg.Connection[Any], schema: str) -> int:
    row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (schema,)).fetchone()
    assert row is not None
    return int(row[0])


# 1 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("column", ["geometry", "geom", "the_geom", "shape", "WKT"])
def test_csv_wkt_column_named_like_a_geometry(pg_conn, pg_schema, tmp_path, column):
    path = tmp_path / "g.csv"
    path.write_text(f'id,{column}\n1,"POINT (1 2)"\n2,"POINT (3 4)"\n')
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path, ASSUME)
    _db_check(pg_conn, t)
    assert t.rows_loaded == 2 and t.bbox == (1.0, 2.0, 3.0, 4.0)
    assert [c.name for c in t.columns] == ["fid", "id", "geom"]


def test_csv_written_by_geopandas_publishes(pg_conn, pg_schema, tmp_path):
    path = tmp_path / "gdf.csv"
    gpd.GeoDataFrame(
        {"name": ["a", "b"]}, geometry=[Point(1, 2), Point(3, 4)], crs="EPSG:4326"
    ).to_csv(path, index=False)
    assert path.read_text().splitlines()[0] == "name,geometry"
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path, ASSUME)
    _db_check(pg_conn, t)
    rows = _rows(pg_conn, pg_schema, t.table, ["name"])
    assert rows == [("a",), ("b",)]
    geoms = pg_conn.execute(
        sql.SQL("SELECT ST_AsText(geom) FROM {}.{} ORDER BY fid").format(
            sql.Identifier(pg_schema), sql.Identifier(t.table)
        )
    ).fetchall()
    assert geoms == [("MULTIPOINT((1 2))",), ("MULTIPOINT((3 4))",)]


# 2 -------------------------------------------------------------------------------------------
SYSTEM_COLUMNS = ["xmin", "xmax", "cmin", "cmax", "ctid", "tableoid"]


def test_unique_pg_identifiers_avoid_system_columns():
    out = naming.unique_pg_identifiers([*SYSTEM_COLUMNS, "XMin", "xmin_", "ctid2"])
    assert out[:6] == [f"{n}_" for n in SYSTEM_COLUMNS]
    assert out[6] == "xmin__2" and out[7].startswith("xmin_") and out[8] == "ctid2"
    assert len(set(out)) == len(out)


def test_system_column_names_as_attributes(pg_conn, pg_schema, tmp_path):
    props = {name: i for i, name in enumerate(SYSTEM_COLUMNS)}
    path = _geojson(tmp_path / "sys.geojson", [(props, _point(1, 1))])
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, t)
    attrs = t.columns[1:-1]
    assert [c.name for c in attrs] == [f"{n}_" for n in SYSTEM_COLUMNS]
    assert [c.original_name for c in attrs] == SYSTEM_COLUMNS
    assert _rows(pg_conn, pg_schema, t.table, [c.name for c in attrs]) == [tuple(range(6))]


# 3 -------------------------------------------------------------------------------------------
def test_property_named_like_the_reader_geometry_column(pg_conn, pg_schema, tmp_path):
    path = _geojson(
        tmp_path / "w.geojson",
        [({"wkb_geometry": "x", "n": 1}, _point(1, 1)), ({"wkb_geometry": "y", "n": 2}, None)],
    )
    (t,) = publish_file(
        pg_conn, path, pg_schema, tmp_path, VectorOptions(keep_null_geometries=True)
    )
    _db_check(pg_conn, t)
    assert [(c.name, c.original_name) for c in t.columns[1:-1]] == [
        ("wkb_geometry", "wkb_geometry"),
        ("n", "n"),
    ]
    assert _rows(pg_conn, pg_schema, t.table, ["wkb_geometry", "n"]) == [("x", 1), ("y", 2)]


# 4 -------------------------------------------------------------------------------------------
def test_projected_geojson_without_crs_is_refused(pg_conn, pg_schema, tmp_path):
    path = _geojson(tmp_path / "utm.geojson", [({"a": 1}, _point(500000, 5000000))])
    with pytest.raises(CoordinateRangeError, match=r"utm\.geojson.*look projected.*'crs' member"):
        publish_file(pg_conn, path, pg_schema, tmp_path)
    poly = {"type": "Polygon", "coordinates": [[[0, 0], [500000, 0], [0, 100], [0, 0]]]}
    path = _geojson(tmp_path / "poly.geojson", [({"a": 1}, poly)])
    with pytest.raises(CoordinateRangeError, match=r"poly\.geojson.*look projected"):
        publish_file(pg_conn, path, pg_schema, tmp_path)
    assert _table_count(pg_conn, pg_schema) == 0


def test_swapped_lat_lon_in_geojson_is_refused(pg_conn, pg_schema, tmp_path):
    path = _geojson(tmp_path / "swap.geojson", [({"a": 1}, _point(35.6, 139.7))])
    with pytest.raises(CoordinateRangeError, match=r"swap\.geojson.*look swapped"):
        publish_file(pg_conn, path, pg_schema, tmp_path)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_assumed_geographic_crs_is_range_checked(pg_conn, pg_schema, tmp_path):
    gpd.GeoDataFrame({"a": [1]}, geometry=[Point(500000, 5000000)], crs=None).to_file(
        tmp_path / "noprj.shp"
    )
    with pytest.raises(CoordinateRangeError, match=r"noprj\.shp.*projected.*assume_crs"):
        publish_file(
            pg_conn, tmp_path / "noprj.shp", pg_schema, tmp_path, ASSUME, blob="d/noprj.shp"
        )
    # ... while the right CRS publishes it
    (t,) = publish_file(
        pg_conn,
        tmp_path / "noprj.shp",
        pg_schema,
        tmp_path,
        VectorOptions(assume_crs="EPSG:32633"),
        blob="d/noprj.shp",
    )
    assert t.bbox is not None and 14 < t.bbox[0] < 16


def test_other_geographic_formats_are_range_checked(pg_conn, pg_schema, tmp_path):
    gpkg = tmp_path / "nad83.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[Point(-100, 95)], crs="EPSG:4269").to_file(gpkg)
    with pytest.raises(CoordinateRangeError, match=r"nad83\.gpkg.*EPSG:4269"):
        publish_file(pg_conn, gpkg, pg_schema, tmp_path)
    fgb = tmp_path / "wide.fgb"  # a longitude past 180 in a declared lon/lat CRS: wrapped
    gpd.GeoDataFrame(
        {"a": [1]}, geometry=[Polygon([(0, 0), (200, 0), (200, 10)])], crs="EPSG:4326"
    ).to_file(fgb)
    (t,) = publish_file(pg_conn, fgb, pg_schema, tmp_path)
    assert (t.rows_loaded, t.wrapped) == (1, 1)
    assert t.bbox == (0, 0, -160, 10)  # 0..180 and -180..-160: across the antimeridian


def test_rounding_overshoot_and_real_edges_publish(pg_conn, pg_schema, tmp_path):
    path = _geojson(
        tmp_path / "edges.geojson",
        [
            ({"a": 1}, _point(180.0000001, 90.0000001)),
            ({"a": 2}, _point(-180.0, -90.0)),
            ({"a": 3}, _point(179.99999, 0)),
        ],
    )
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, t)
    assert t.rows_loaded == 3


# 5 -------------------------------------------------------------------------------------------
def test_property_mixing_objects_and_plain_strings(pg_conn, pg_schema, tmp_path):
    values: list[Any] = [{"k": 1}, "plain", "NaN", ["x"], "{not json", None, "12"]
    path = _geojson(tmp_path / "m.geojson", [({"o": v}, _point(1, 1)) for v in values])
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, t)
    assert {c.name: c.pg_type for c in t.columns}["o"] == "jsonb"
    got = [r[0] for r in _rows(pg_conn, pg_schema, t.table, ["o"])]
    # "12" is indistinguishable from the number 12 once GDAL has read it (JSON text)
    assert got == [{"k": 1}, "plain", "NaN", ["x"], "{not json", None, 12]


# 6 -------------------------------------------------------------------------------------------
def test_layers_sharing_a_name_in_one_zip(pg_conn, pg_schema, tmp_path):
    gpd.GeoDataFrame({"a": [1]}, geometry=[Point(10, 50)], crs=4326).to_file(
        tmp_path / "pts.gpkg", layer="pts"
    )
    zpath = tmp_path / "two.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.write(tmp_path / "pts.gpkg", "pts.gpkg")
        z.writestr(
            "pts.geojson",
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [
                        {"type": "Feature", "properties": {"a": 2}, "geometry": _point(5, 5)}
                    ],
                }
            ),
        )
        z.writestr("other.geojson", '{"type":"FeatureCollection","features":[]}')
    runs = []
    for _ in range(2):
        tables = publish_file(pg_conn, zpath, pg_schema, tmp_path, blob="d/two.zip")
        runs.append(sorted((t.layer, t.table) for t in tables))
    assert runs[0] == runs[1]  # stable across runs
    names = {t.layer: t.table for t in tables}
    assert set(names) == {"pts.gpkg", "pts.geojson"} and len(set(names.values())) == 2
    assert _table_count(pg_conn, pg_schema) == 2
    assert _rows(pg_conn, pg_schema, names["pts.gpkg"], ["a"]) == [(1,)]
    assert _rows(pg_conn, pg_schema, names["pts.geojson"], ["a"]) == [(2,)]


# 7 -------------------------------------------------------------------------------------------
def test_csv_with_a_repeated_header(pg_conn, pg_schema, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("lat,lon,a,a,A\n50,10,1,2,x\n51,11,3,4,y\n")
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, t)
    attrs = t.columns[1:-1]
    assert [c.name for c in attrs] == ["lat", "lon", "a", "a_2", "a_3"]
    assert [c.original_name for c in attrs] == ["lat", "lon", "a", "a", "A"]
    rows = _rows(pg_conn, pg_schema, t.table, ["a", "a_2", "a_3"])
    assert rows == [(1, 2, "x"), (3, 4, "y")]


# 8 -------------------------------------------------------------------------------------------
def test_too_many_columns_is_permanent(pg_conn, pg_schema, tmp_path):
    props = {f"c{i}": i for i in range(1700)}
    path = _geojson(tmp_path / "wide.geojson", [(props, _point(1, 1))])
    with pytest.raises(TooLargeError, match=r"wide\.geojson.*1700 attribute.*1600") as exc:
        publish_file(pg_conn, path, pg_schema, tmp_path)
    assert not is_retryable(exc.value)
    assert _table_count(pg_conn, pg_schema) == 0


def test_postgres_limits_are_permanent_errors(pg_conn, pg_schema, tmp_path):
    # 1598 double columns fit the column limit but not PostgreSQL's 8 KB row (SQLSTATE 54000)
    props = {f"c{i}": i + 0.5 for i in range(1598)}
    path = _geojson(tmp_path / "fat.geojson", [(props, _point(1, 1))])
    with pytest.raises(TooLargeError, match=r"fat\.geojson.*PostgreSQL limit") as exc:
        publish_file(pg_conn, path, pg_schema, tmp_path)
    assert not is_retryable(exc.value)
    assert _table_count(pg_conn, pg_schema) == 0


# 9 (EWKT is read since: test_csv_crs) ---------------------------------------------------
@pytest.mark.parametrize("text", ["name,lat,lon\n", "name,lat,lon\r\n\r\n", "id,wkt\n"])
def test_csv_header_only(pg_conn, pg_schema, tmp_path, text):
    path = tmp_path / "h.csv"
    path.write_text(text)
    with pytest.raises(EmptyDatasetError, match=r"h\.csv.*no rows"):
        publish_file(pg_conn, path, pg_schema, tmp_path, ASSUME)


def test_one_feature_split_at_the_antimeridian_keeps_a_crossing_extent(
    pg_conn, pg_schema, tmp_path
):
    """Fiji as RFC 7946 writes it: one MultiPolygon whose parts touch +180 and -180. Its row
    bounds span the globe; the extent counts its parts, so the bbox crosses the antimeridian
    instead of claiming every longitude."""
    fiji = {"type": "MultiPolygon", "coordinates": [
        [[[177, -19], [180, -19], [180, -16], [177, -16], [177, -19]]],
        [[[-180, -19], [-178, -19], [-178, -16], [-180, -16], [-180, -19]]],
    ]}  # fmt: skip
    nz = {"type": "Polygon", "coordinates": [[[172, -44], [173, -44], [173, -43], [172, -44]]]}
    path = _geojson(tmp_path / "pacific.geojson", [({"n": "fiji"}, fiji), ({"n": "nz"}, nz)])
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, t)
    assert t.bbox == (172.0, -44.0, -178.0, -16.0)
    assert t.footprint is not None and t.footprint["type"] == "MultiPolygon"
    assert _rows(pg_conn, pg_schema, t.table, ["n"]) == [("fiji",), ("nz",)]


def test_a_local_engineering_crs_is_named_and_can_be_placed(pg_conn, pg_schema, tmp_path):
    """A CAD export: a shapefile whose .prj is a LOCAL_CS. PROJ cannot transform it (before,
    its ProjError escaped as a system error); with assume_crs the site grid is placed."""
    folder = tmp_path / "cad"
    folder.mkdir()
    gpd.GeoDataFrame({"a": [1]}, geometry=[Point(155000, 463000)]).to_file(folder / "site.shp")
    (folder / "site.prj").write_text('LOCAL_CS["site grid",UNIT["metre",1]]')
    path = tmp_path / "site.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for part in folder.iterdir():
            zf.write(part, part.name)
    with pytest.raises(InvalidCRSError, match=r"site\.zip.*'site grid'.*local engineering CRS"):
        publish_file(pg_conn, path, pg_schema, tmp_path)
    assert _table_count(pg_conn, pg_schema) == 0
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path, VectorOptions(assume_crs="EPSG:28992"))
    _db_check(pg_conn, t)
    assert (t.source_crs, t.crs_assumed) == ("EPSG:28992", True)
    assert t.bbox is not None and 5.3 < t.bbox[0] < 5.5  # Amersfoort
