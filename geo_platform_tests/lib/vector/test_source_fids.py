"""A source's own feature ids are kept (``LayerSource.fid_column``): a GeoPackage's ``fid`` as
``source_fid``, a FileGDB's ``OBJECTID`` as ``objectid``, GDAL's SQLite ``ogc_fid``; other tables
and relationships refer to them, and renumbering lost them. Real PostGIS; the table's own
``fid`` stays the row number of the load. Formats without meaningful ids (a Shapefile's record
number) get no extra column."""

from __future__ import annotations

import sqlite3
import zipfile

import geopandas as gpd
import pyogrio
import pytest
from psycopg import sql
from shapely.geometry import Point

from geo_platform_tests.lib.vector.conftest import publish_file
from geo_platform_tests.lib.vector.test_publish import _db_check


def _frame(n: int = 6) -> gpd.GeoDataFrame:
    points = [Point(5 + i / 10, 52) for i in range(n)]
    return gpd.GeoDataFrame({"name": [f"p{i}" for i in range(n)]}, geometry=points, crs=4326)


def _ids(pg_conn, table, column: str) -> list[tuple]:
    query = sql.SQL("SELECT fid, {}, name FROM {}.{} ORDER BY fid").format(
        sql.Identifier(column), sql.Identifier(table.schema), sql.Identifier(table.table)
    )
    return list(pg_conn.execute(query))


def test_geopackage_fids_are_kept_as_source_fid(pg_conn, pg_schema, tmp_path) -> None:
    path = tmp_path / "wells.gpkg"
    pyogrio.write_dataframe(_frame(), path, layer="wells")
    with sqlite3.connect(path) as db:  # gaps, as deletions leave them
        db.execute("DELETE FROM wells WHERE fid IN (1, 4)")
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, table)
    assert _ids(pg_conn, table, "source_fid") == [
        (1, 2, "p1"), (2, 3, "p2"), (3, 5, "p4"), (4, 6, "p5")
    ]  # fmt: skip
    assert "source_fid" in [c.name for c in table.columns]


@pytest.mark.parametrize(("driver", "name", "column"), [
    ("OpenFileGDB", "wells.gdb", "objectid"),
    ("SQLite", "wells.sqlite", "ogc_fid"),
])  # fmt: skip
def test_filegdb_and_sqlite_ids_are_kept(pg_conn, pg_schema, tmp_path, driver, name, column):
    path = tmp_path / name
    pyogrio.write_dataframe(_frame(3), path, layer="wells", driver=driver)
    if driver == "OpenFileGDB":  # delivered zipped
        zipped = tmp_path / "wells.gdb.zip"
        with zipfile.ZipFile(zipped, "w") as archive:
            for f in path.iterdir():
                archive.write(f, f"wells.gdb/{f.name}")
        path = zipped
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, table)
    assert _ids(pg_conn, table, column) == [(1, 1, "p0"), (2, 2, "p1"), (3, 3, "p2")]


def test_a_shapefile_gets_no_id_column(pg_conn, pg_schema, tmp_path) -> None:
    _frame(2).to_file(tmp_path / "wells.shp")
    (table,) = publish_file(pg_conn, tmp_path / "wells.shp", pg_schema, tmp_path)
    assert [c.name for c in table.columns] == ["fid", "name", "geom"]


def test_only_the_id_column_is_renamed(pg_conn, pg_schema, tmp_path) -> None:
    """A FileGDB imported from a Shapefile keeps that Shapefile's ``FID`` as an attribute: it is
    not the source's id column (``OBJECTID`` is) and keeps its own name."""
    frame = _frame(2).assign(FID=[10, 11])
    path = tmp_path / "wells.gdb"
    pyogrio.write_dataframe(frame, path, layer="wells", driver="OpenFileGDB")
    zipped = tmp_path / "wells.gdb.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        for f in path.iterdir():
            archive.write(f, f"wells.gdb/{f.name}")
    (table,) = publish_file(pg_conn, zipped, pg_schema, tmp_path)
    names = [c.name for c in table.columns]
    assert "objectid" in names and "source_fid" not in names
    (source,) = [
        c.original_name for c in table.columns if c.name not in ("fid", "objectid", "name", "geom")
    ]
    assert source == "FID"
