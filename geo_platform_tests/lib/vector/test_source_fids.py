"""A source's own feature ids are kept (``LayerSource.fid_column``): a GeoPackage's ``fid`` as
``source_fid``, a FileGDB's ``OBJECTID`` as ``objectid``, GDAL's SQLite ``ogc_fid``, a GeoJSON's
integer feature ids as ``id`` (where GDAL did not alter them, ``geojson_ids``); other tables
and relationships refer to them, and renumbering lost them. Real PostGIS; the table's own
``fid`` stays the row number of the load. Formats without meaningful ids (a Shapefile's record
number) get no extra column."""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from pathlib import Path

import geopandas as gpd
import pyarrow.parquet as pq
import pyogrio
import pytest
from psycopg import sql
from shapely.geometry import Point

from geo_platform.lib.vector.geojson_ids import scanned_ids
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


def _features(ids: list, path: Path) -> Path:
    """Points p0, p1... with these feature-level ``id`` members (None: no id member); a
    ``.geojsonl`` path gets one feature per line (GeoJSONSeq)."""
    features = []
    for i, fid in enumerate(ids):
        feature = {"type": "Feature", "properties": {"name": f"p{i}"},
                   "geometry": {"type": "Point", "coordinates": [5 + i / 10, 52]}}  # fmt: skip
        if fid is not None:
            feature["id"] = fid
        features.append(feature)
    if path.suffix == ".geojsonl":
        path.write_text("".join(json.dumps(f) + "\n" for f in features))
    else:
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


@pytest.mark.parametrize("name", ["stops.geojson", "stops.geojsonl"])
def test_geojson_integer_ids_are_kept_as_id(pg_conn, pg_schema, tmp_path, name) -> None:
    """GDAL reads integer ids as FIDs, which are not attributes: they used to be lost."""
    path = _features([100, 107, 2**40, 0], tmp_path / name)
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, table)
    assert _ids(pg_conn, table, "id") == [
        (1, 100, "p0"), (2, 107, "p1"), (3, 2**40, "p2"), (4, 0, "p3")
    ]  # fmt: skip
    assert ("id", "bigint") in [(c.name, c.pg_type) for c in table.columns]
    assert table.geoparquet_path is not None
    parquet = pq.read_table(table.geoparquet_path)
    assert parquet.column("id").to_pylist() == [100, 107, 2**40, 0]


def test_geojson_ids_gdal_altered_are_null_not_invented(pg_conn, pg_schema, tmp_path) -> None:
    """A duplicated id (GDAL renumbers the second) and a feature without an id whose properties
    hold a nested ``"id"`` (GDAL invents its FID; the scan counts one id per feature) load as
    null ids: never a value that is not the feature's own id."""
    path = _features([100, 100, None, 121], tmp_path / "stops.geojson")
    data = json.loads(path.read_text())
    data["features"][2]["properties"]["owner"] = {"id": 77}
    path.write_text(json.dumps(data))
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    assert _ids(pg_conn, table, "id") == [
        (1, 100, "p0"), (2, None, "p1"), (3, None, "p2"), (4, 121, "p3")
    ]  # fmt: skip


def test_geojson_without_one_integer_id_per_feature_gets_no_id_column(
    pg_conn, pg_schema, tmp_path
) -> None:
    """Ids on some features only cannot be matched to rows: no column (GDAL's FIDs are not
    published). String ids are GDAL's own ``id`` attribute, as before."""
    path = _features([100, None, 114], tmp_path / "some.geojson")
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    assert [c.name for c in table.columns] == ["fid", "name", "geom"]
    path = _features(["way/1", "way/2"], tmp_path / "ways.geojson")
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    assert _ids(pg_conn, table, "id") == [(1, "way/1", "p0"), (2, "way/2", "p1")]


def test_scanned_ids_skip_escaped_text_and_oversized_numbers() -> None:
    text = (b'{"id": 5, "note": "say \\"id\\": 6", "b": {"id" : -7}, "c": {"id": 1.5},'
            b' "d": {"id": 12345678901234567890}, "e": {"id":"8"}, "f": {"id":\n 9}}')  # fmt: skip
    for chunk in (1 << 24, 7, 3):  # chunk edges anywhere: an id is never cut in two
        ids = scanned_ids(io.BytesIO(text), chunk)
        assert ids is not None and ids.tolist() == [5, -7, 9]
    assert scanned_ids(io.BytesIO(b'{"type": "FeatureCollection", "features": []}')) is None


def test_zipped_geojson_ids_are_kept(pg_conn, pg_schema, tmp_path) -> None:
    """A GeoJSON in a zip is read by GDAL in place (``/vsizip/``): its ids are scanned as the
    member streams out of the zip."""
    path = _features([100, 107, 114], tmp_path / "stops.geojson")
    zipped = tmp_path / "stops.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(path, "export/stops.geojson")
    (table,) = publish_file(pg_conn, zipped, pg_schema, tmp_path)
    assert _ids(pg_conn, table, "id") == [(1, 100, "p0"), (2, 107, "p1"), (3, 114, "p2")]


def test_esri_json_objectid_is_kept_once(pg_conn, pg_schema, tmp_path) -> None:
    """GDAL names Esri JSON's OBJECTID as the FID column and keeps it as a field too: it was
    loaded twice (``objectid``, ``objectid_2``)."""
    esri = {
        "geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326},
        "fields": [{"name": "OBJECTID", "type": "esriFieldTypeOID"},
                   {"name": "name", "type": "esriFieldTypeString"}],
        "features": [{"attributes": {"OBJECTID": 500 + i, "name": f"p{i}"},
                      "geometry": {"x": 5 + i / 10, "y": 52}} for i in range(3)],
    }  # fmt: skip
    path = tmp_path / "wells.json"
    path.write_text(json.dumps(esri))
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    assert [c.name for c in table.columns] == ["fid", "objectid", "name", "geom"]
    assert _ids(pg_conn, table, "objectid") == [(1, 500, "p0"), (2, 501, "p1"), (3, 502, "p2")]
