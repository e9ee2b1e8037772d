"""SQLite databases that are not GeoPackages (SpatiaLite, GDAL's own SQLite tables), and the
surface types shapely cannot read (TIN, PolyhedralSurface, Triangle): published in real PostGIS.

Before, a SpatiaLite file was opened with the GeoPackage driver ("the file holds no vector
layers", or "gpkg_contents is missing"), and every TIN was dropped ("it has no geometries")."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from psycopg import sql
from pyproj import Transformer
from shapely.geometry import Point, Polygon

from geo_platform.lib import bronze
from geo_platform.lib.content import content_kind, sniff_head
from geo_platform.lib.vector import wkb
from geo_platform.lib.vector.left_out import ATTRIBUTE_TABLE, left_out
from geo_platform.lib.vector.read import open_source
from geo_platform_tests.lib.vector.conftest import publish_file
from geo_platform_tests.lib.vector.test_publish import _db_check

SQUARE = Polygon([(5, 50), (6, 50), (6, 51), (5, 51)])


def _frames() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    areas = gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=[SQUARE, SQUARE.buffer(-0.2)],
                             crs="EPSG:4326")  # fmt: skip
    wells = gpd.GeoDataFrame(
        {"depth": [10.5, 20.0, 30.25]},
        geometry=[Point(500000, 5700000), Point(500100, 5700100), Point(500200, 5700200)],
        crs="EPSG:25832",
    )
    return areas, wells


def _spatialite(path: Path, with_lookup: bool = True) -> Path:
    areas, wells = _frames()
    pyogrio.write_dataframe(areas, path, driver="SQLite", layer="areas",
                            dataset_options={"SPATIALITE": "YES"})  # fmt: skip
    pyogrio.write_dataframe(wells, path, driver="SQLite", layer="wells")
    if with_lookup:  # an attribute table: GDAL's SQLite driver does not list it
        pyogrio.write_dataframe(pd.DataFrame({"code": ["x"]}), path, driver="SQLite",
                                layer="lookup")  # fmt: skip
    return path


def test_sqlite_is_told_from_geopackage_by_its_content(tmp_path: Path) -> None:
    lite = _spatialite(tmp_path / "db.sqlite").read_bytes()[:65536]
    gpkg_path = tmp_path / "x.gpkg"
    _frames()[0].to_file(gpkg_path, driver="GPKG")
    assert sniff_head(lite) == "SQLite" and content_kind(lite)[0] == "vector"
    assert sniff_head(gpkg_path.read_bytes()[:65536]) == "GPKG"
    assert bronze.classify("x/db.sqlite", 10).kind == "vector"


@pytest.mark.parametrize("name", ["survey.sqlite", "survey"])  # named, or recognised by content
def test_a_spatialite_database_publishes_every_spatial_table(
    pg_conn, pg_schema, tmp_path: Path, name: str
) -> None:
    path = _spatialite(tmp_path / name)
    layers = open_source(path, f"v/{name}")
    assert {s.name for s in layers} == {"areas", "wells"}
    assert {s.driver for s in layers} == {"SQLite"}
    tables = {t.layer: t for t in publish_file(pg_conn, path, pg_schema, tmp_path)}
    assert set(tables) == {"areas", "wells"}
    for t in tables.values():
        _db_check(pg_conn, t)
    assert tables["areas"].geometry_type == "MultiPolygon" and tables["areas"].rows_loaded == 2
    wells = tables["wells"]
    assert wells.source_crs == "EPSG:25832" and not wells.crs_assumed and wells.rows_loaded == 3
    query = (
        "SELECT ST_X(ST_GeometryN(geom, 1)), ST_Y(ST_GeometryN(geom, 1)) FROM {}.{} ORDER BY fid"
    )
    x, y = pg_conn.execute(
        sql.SQL(query).format(sql.Identifier(pg_schema), sql.Identifier(wells.table))
    ).fetchone()
    lon, lat = Transformer.from_crs(25832, 4326, always_xy=True).transform(500000, 5700000)
    assert (x, y) == (pytest.approx(lon, abs=1e-9), pytest.approx(lat, abs=1e-9))
    # the attribute table is named as left out, not dropped silently; bookkeeping is not
    assert left_out(path) == {"lookup": ATTRIBUTE_TABLE}


def test_gdal_style_sqlite_without_spatialite_publishes(pg_conn, pg_schema, tmp_path) -> None:
    path = tmp_path / "plain.sqlite"
    pyogrio.write_dataframe(_frames()[0], path, driver="SQLite")
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, table)
    assert table.rows_loaded == 2 and table.driver == "SQLite"
    assert left_out(path) == {}


TIN = "TIN Z (((0 0 1,1 0 2,0 1 3,0 0 1)),((1 0 2,1 1 4,0 1 3,1 0 2)))"
POLYHEDRAL = "POLYHEDRALSURFACE (((10 10,11 10,11 11,10 11,10 10)),((11 10,12 10,12 11,11 10)))"


def _tin_wkb() -> tuple[bytes, shapely.Geometry]:
    """``TIN`` as ISO WKB (shapely writes no TIN: its MultiPolygon with the type codes of a TIN
    Z of Triangle Z members), and the MultiPolygon of the same rings."""
    tin = shapely.from_wkt(TIN.replace("TIN Z", "MULTIPOLYGON Z"))
    value = bytearray(shapely.to_wkb(tin, flavor="iso"))
    value[1:5] = (1016).to_bytes(4, "little")  # TIN Z
    for pos in (9, 9 + 9 + 4 + 4 * 24):  # each member (one ring of 4 XYZ points): Triangle Z
        value[pos + 1 : pos + 5] = (1017).to_bytes(4, "little")
    return bytes(value), tin


def test_surface_wkb_becomes_polygons() -> None:
    value, tin = _tin_wkb()
    out = wkb.linearize([value])[0]
    assert shapely.from_wkb(out).equals(tin) and shapely.has_z(shapely.from_wkb(out))
    assert wkb._surfaces_as_polygons(value[:-8]) is None  # counted unparsable, never misread


def _surfaces_gpkg(path: Path) -> Path:
    pyogrio.raw.write(path, geometry=[_tin_wkb()[0]], field_data=[], fields=[], driver="GPKG",
                      geometry_type="Unknown", crs="EPSG:4326")  # fmt: skip
    return path


def test_tin_and_polyhedral_surfaces_publish_as_multipolygons(pg_conn, pg_schema, tmp_path):
    csv = tmp_path / "surfaces.csv"
    csv.write_text(
        f'id,WKT\n1,"{TIN}"\n2,"{POLYHEDRAL}"\n3,"TRIANGLE ((20 20,21 20,20 21,20 20))"\n'
    )
    (table,) = publish_file(pg_conn, csv, pg_schema, tmp_path)
    _db_check(pg_conn, table)
    assert table.rows_loaded == 3 and table.geometry_type == "MultiPolygonZ"
    query = "SELECT ST_NumGeometries(geom), ST_Area(geom), ST_ZMax(geom) FROM {}.{} ORDER BY fid"
    rows = pg_conn.execute(
        sql.SQL(query).format(sql.Identifier(pg_schema), sql.Identifier(table.table))
    ).fetchall()
    # the TIN's two triangles share an edge: repaired into one square (Z kept); the square and
    # the triangle of the polyhedral surface touch at a corner: two parts
    assert [(n, round(a, 6)) for n, a, _ in rows] == [(1, 1.0), (2, 1.5), (1, 0.5)]
    assert rows[0][2] == 4 and table.repaired >= 1

    gpkg = _surfaces_gpkg(tmp_path / "tin.gpkg")
    (table,) = publish_file(pg_conn, gpkg, pg_schema, tmp_path)
    _db_check(pg_conn, table)
    assert table.rows_loaded == 1 and table.geometry_type == "MultiPolygonZ"
