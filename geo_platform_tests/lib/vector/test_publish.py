"""Publishing real files end to end; outcomes checked in PostGIS itself and in GeoParquet."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import psycopg
import pyarrow.parquet as pq
import pytest
from psycopg import sql
from shapely.geometry import Point, Polygon

from geo_platform.lib import naming
from geo_platform.lib.errors import (
    CoordinateRangeError,
    DecodingError,
    EmptyDatasetError,
    FormatMismatchError,
    InvalidCRSError,
    MissingCRSError,
    NoGeometryError,
)
from geo_platform.lib.vector.geoparquet import parquet_row_count, read_geo_metadata
from geo_platform.lib.vector.options import VectorOptions
from geo_platform.lib.vector.records import LoadedTable
from geo_platform.store import postgis
from geo_platform.store import quality as store_quality
from geo_platform.store.vector_load import EmptyLayerWarning, publish_vector_file
from geo_platform.store.vector_outputs import create_spatial_index
from geo_platform_tests.lib.vector.conftest import (
    loaded_digests,
    publish_file,
    two_points,
    zip_dir,
)

ASSUME = VectorOptions(assume_crs="EPSG:4326")

# file -> (options, {layer: (table kind, rows loaded, geometry type)}) or the expected error
EXPECTED: dict[str, Any] = {
    "csv_latlon/airports.csv": (None, {"airports": [("points", 3376, "MultiPoint")]}),
    "csv_wkt/curves_line.csv": (ASSUME, {"curves_line": [("lines", 9, "MultiLineString")]}),
    "empty_layer/domains.gpkg": EmptyDatasetError,
    "empty_layer/empty.kml": EmptyDatasetError,
    "geojson_invalid/switzerlandKinked.geojson": (
        None,
        {"switzerlandKinked": [("polygons", 1, "MultiPolygon")]},
    ),
    "gpkg_multilayer/ynp_features.gpkg": (
        None,
        {
            "ynp_bnd": [("polygons", 1, "MultiPolygon")],
            "roads": [("lines", 2021, "MultiLineString")],
            "points_of_interest": [("points", 1399, "MultiPoint")],
        },
    ),
    "kml/addresses.kml": (
        None,
        {" Location history from 2015-08-01 to 2015-08-08 ": [("lines", 2, "MultiLineString")]},
    ),
    "kml/styles.kml": (
        None,
        {"Project 2": [("points", 1, "MultiPointZ"), ("polygons", 1, "MultiPolygonZ")]},
    ),
    "kmz/addresses.kmz": (
        None,
        {" Location history from 2015-08-01 to 2015-08-08 ": [("lines", 2, "MultiLineString")]},
    ),
    "misc/badzip.zip": FormatMismatchError,
    "misc/open_shelter_Nanao-shi_2024-01-15.fgb": (
        None,
        {"open_shelter_Nanao-shi": [("points", 28, "MultiPoint")]},
    ),
    "misc/trio.geojson": (
        None,
        {
            "trio": [
                ("points", 1, "MultiPoint"),
                ("lines", 1, "MultiLineString"),
                ("polygons", 1, "MultiPolygon"),
            ]
        },
    ),
    "non_ascii/utf.zip": (None, {"utf": [("points", 2, "MultiPoint")]}),
    "null_geometry/null_geom.geojson": (None, {"null_geom": [("lines", 1, "MultiLineString")]}),
    "projected/ynp_fires_1984_2022.gpkg": (
        None,
        {"mtbs_perims": [("polygons", 61, "MultiPolygon")]},
    ),
    "shp_zip_no_prj/counties.zip": (ASSUME, {"counties": [("polygons", 14, "MultiPolygon")]}),
    "shp_zip_with_prj/naturalearth_lowres.zip": (
        None,
        {"naturalearth_lowres": [("polygons", 177, "MultiPolygon")]},
    ),
}


def _db_check(conn: psycopg.Connection[Any], table: LoadedTable) -> dict[str, Any]:
    stats = store_quality.table_stats(conn, table.schema, table.table)
    assert stats["rows"] == table.rows_loaded
    assert stats["invalid"] == 0
    assert stats["srids"] in ([4326], [])
    assert stats["declared_srid"] == 4326
    has_z = table.geometry_type.endswith("Z")
    assert stats["declared_type"] == table.geometry_type.removesuffix("Z").upper()
    assert stats["coord_dimension"] == (3 if has_z else 2)
    assert len(stats["geometry_types"]) <= 1
    assert table.rows_loaded == (
        table.rows_read - table.dropped_null - table.dropped_empty - table.invalid_dropped
    )
    assert table.geoparquet_path is not None
    assert parquet_row_count(table.geoparquet_path) == table.rows_loaded
    return stats


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_every_testdata_file(pg_conn, pg_schema, tmp_path, vectors: Path, rel: str):
    expected = EXPECTED[rel]
    if isinstance(expected, type):
        with pytest.raises(expected) as err:
            publish_file(pg_conn, vectors / rel, pg_schema, tmp_path)
        assert rel.split("/")[-1] in str(err.value)
        assert postgis.staging_tables(pg_conn, pg_schema) == []
        return
    options, layers = expected
    tables = publish_file(pg_conn, vectors / rel, pg_schema, tmp_path, options)
    got: dict[str, list[tuple[str, int, str]]] = {}
    for t in tables:
        got.setdefault(t.layer, []).append((t.kind, t.rows_loaded, t.geometry_type))
        _db_check(pg_conn, t)
    assert got == layers
    assert len({t.table for t in tables}) == len(tables)
    assert postgis.staging_tables(pg_conn, pg_schema) == []


def test_counts_and_repairs_of_real_files(pg_conn, pg_schema, tmp_path, vectors: Path):
    (swiss,) = publish_file(
        pg_conn, vectors / "geojson_invalid/switzerlandKinked.geojson", pg_schema, tmp_path
    )
    assert swiss.repaired == 1 and swiss.rows_loaded == 1
    (kml,) = publish_file(pg_conn, vectors / "kml/addresses.kml", pg_schema, tmp_path)
    assert (kml.rows_read, kml.dropped_empty, kml.invalid_dropped) == (15, 8, 5)
    (counties,) = publish_file(
        pg_conn, vectors / "shp_zip_no_prj/counties.zip", pg_schema, tmp_path, ASSUME
    )
    assert counties.repaired == 9 and counties.crs_assumed and counties.source_crs == "EPSG:4326"
    (nulls,) = publish_file(
        pg_conn, vectors / "null_geometry/null_geom.geojson", pg_schema, tmp_path
    )
    assert nulls.dropped_null == 1
    (kept,) = publish_file(
        pg_conn,
        vectors / "null_geometry/null_geom.geojson",
        pg_schema,
        tmp_path,
        VectorOptions(keep_null_geometries=True),
    )
    stats = _db_check(pg_conn, kept)
    assert (stats["rows"], stats["non_null_geometries"]) == (2, 1)


def test_missing_crs_fails_by_default(pg_conn, pg_schema, tmp_path, vectors: Path):
    with pytest.raises(MissingCRSError, match=r"assume_crs"):
        publish_file(pg_conn, vectors / "shp_zip_no_prj/counties.zip", pg_schema, tmp_path)
    assert postgis.staging_tables(pg_conn, pg_schema) == []
    # A CSV's WKT column follows the lat/lon rule: lon/lat-range coordinates -> EPSG:4326,
    # recorded as assumed (see geo_platform_tests/lib/vector/test_csv_crs.py).
    (t,) = publish_file(pg_conn, vectors / "csv_wkt/curves_line.csv", pg_schema, tmp_path)
    assert t.source_crs == "EPSG:4326" and t.crs_assumed


@pytest.mark.parametrize("prj", ["", "this is not a CRS"], ids=["empty", "garbage"])
@pytest.mark.parametrize("zipped", [False, True], ids=["loose", "zipped"])
def test_a_broken_prj_is_named(pg_conn, pg_schema, tmp_path, prj: str, zipped: bool):
    """A Shapefile's ``.prj`` that is empty or no CRS: the error says so, not "no CRS"."""
    folder = tmp_path / "src"
    folder.mkdir()
    two_points().to_file(folder / "sites.shp")
    (folder / "sites.prj").write_text(prj)
    path = folder / "sites.shp"
    if zipped:
        path = zip_dir(folder, tmp_path / "sites.zip")
    what = "is empty" if not prj else "is not a CRS PROJ can read"
    with pytest.raises(InvalidCRSError, match=rf"sites\.(shp|zip).*\.prj sidecar {what}"):
        publish_file(pg_conn, path, pg_schema, tmp_path)
    assert postgis.staging_tables(pg_conn, pg_schema) == []
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path, VectorOptions(assume_crs="EPSG:4326"))
    assert t.rows_loaded == 2


def test_reprojection_and_bbox(pg_conn, pg_schema, tmp_path, vectors: Path):
    (fgb,) = publish_file(
        pg_conn, vectors / "misc/open_shelter_Nanao-shi_2024-01-15.fgb", pg_schema, tmp_path
    )
    assert fgb.source_crs == "EPSG:6675"
    west, south, east, north = fgb.bbox or (0, 0, 0, 0)
    assert 136.7 < west < east < 137.1 and 36.9 < south < north < 37.2
    (world,) = publish_file(
        pg_conn, vectors / "shp_zip_with_prj/naturalearth_lowres.zip", pg_schema, tmp_path
    )
    assert world.bbox == pytest.approx((-180.0, -90.0, 180.0, 83.64513))
    row = pg_conn.execute(
        sql.SQL("SELECT ST_XMin(geom), ST_XMax(geom) FROM {}.{} WHERE name = 'Fiji'").format(
            sql.Identifier(pg_schema), sql.Identifier(world.table)
        )
    ).fetchone()
    assert row is not None and row[0] == pytest.approx(-180.0) and row[1] == pytest.approx(180.0)


def test_unicode_attributes_survive(pg_conn, pg_schema, tmp_path, vectors: Path):
    (utf,) = publish_file(pg_conn, vectors / "non_ascii/utf.zip", pg_schema, tmp_path)
    values = pg_conn.execute(
        sql.SQL("SELECT field FROM {}.{} ORDER BY fid").format(
            sql.Identifier(pg_schema), sql.Identifier(utf.table)
        )
    ).fetchall()
    assert any("Hněvošický háj" in v[0] for v in values)
    assert any(any(ord(ch) > 0xFFFF for ch in v[0]) for v in values)  # the emoji


def test_geoparquet_copy(pg_conn, pg_schema, tmp_path, vectors: Path):
    (fires,) = publish_file(
        pg_conn, vectors / "projected/ynp_fires_1984_2022.gpkg", pg_schema, tmp_path
    )
    assert fires.geoparquet_path is not None
    table = pq.read_table(fires.geoparquet_path)
    geo = read_geo_metadata(fires.geoparquet_path)
    assert geo is not None and geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
    column = geo["columns"]["geometry"]
    assert column["encoding"] == "WKB" and column["geometry_types"] == ["MultiPolygon"]
    assert column["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    assert column["crs"]["id"] == {"authority": "EPSG", "code": 4326}
    assert column["bbox"] == pytest.approx(list(fires.bbox or ()))
    assert table.num_rows == 61 and table.schema.field("ig_date").type == "date32[day]"
    back = gpd.read_parquet(fires.geoparquet_path)
    assert back.crs.to_epsg() == 4326 and back.geometry.is_valid.all()
    assert set(table.column_names) >= {"event_id", "ig_date", "geometry", "bbox"}
    assert not list(fires.geoparquet_path.parent.glob(".*.tmp"))


def test_layer_choice_and_names(pg_conn, pg_schema, tmp_path, vectors: Path):
    path = vectors / "gpkg_multilayer/ynp_features.gpkg"
    tables = publish_file(pg_conn, path, pg_schema, tmp_path, blob="parks/ynp features.gpkg")
    assert len({t.table for t in tables}) == 3
    assert all(t.table.startswith("parks_ynp_features_") for t in tables)
    (roads,) = publish_file(
        pg_conn, path, pg_schema, tmp_path, VectorOptions(layer="roads"), blob="parks/roads.gpkg"
    )
    assert roads.table == naming.table_name("parks/roads.gpkg") and roads.rows_loaded == 2021


def test_split_siblings_are_replaced(pg_conn, pg_schema, tmp_path):
    mixed = gpd.GeoDataFrame(
        {"n": [1, 2]}, geometry=[Point(0, 0), Polygon([(0, 0), (1, 0), (1, 1)])], crs="EPSG:4326"
    )
    path = tmp_path / "shapes.geojson"
    mixed.to_file(path)
    tables = publish_file(pg_conn, path, pg_schema, tmp_path, blob="v/shapes.geojson")
    assert sorted(t.table for t in tables) == ["v_shapes__points", "v_shapes__polygons"]
    mixed.iloc[[1]].to_file(path)
    (single,) = publish_file(pg_conn, path, pg_schema, tmp_path, blob="v/shapes.geojson")
    assert single.table == "v_shapes"
    names = {r[0] for r in pg_conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s", (pg_schema,)
    )}  # fmt: skip
    assert names == {"v_shapes"}


def test_hostile_layer_and_file_names(pg_conn, pg_schema, tmp_path):
    df = gpd.GeoDataFrame({"v": [1]}, geometry=[Point(1, 2)], crs="EPSG:4326")
    plain = tmp_path / "plain.gpkg"
    df.to_file(plain, layer='Robert"); DROP TABLE students;--')
    df.to_file(plain, layer="select", mode="a")
    df.to_file(plain, layer="Ü" * 70, mode="a")
    path = plain.rename(tmp_path / "x'; DROP SCHEMA public; --#?!.gpkg")  # pyogrio parses ; # ? !
    tables = publish_file(pg_conn, path, pg_schema, tmp_path, blob="evil/" + path.name)
    assert sorted(t.layer for t in tables) == sorted(
        ['Robert"); DROP TABLE students;--', "select", "Ü" * 70]
    )
    assert len({t.table for t in tables}) == 3
    for t in tables:
        assert len(t.table.encode()) <= 63
        _db_check(pg_conn, t)
    public = pg_conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'public'")
    assert public.fetchone() == (1,)


def test_hostile_column_names(pg_conn, pg_schema, tmp_path):
    columns = {
        '"; DROP TABLE x; --': [1],
        "Select": [2],
        "fid": [3],
        "geom": [4],
        "Länge": [5],
        "a b": [6],
        "a_b": [7],
        "x" * 70: [8],
    }
    path = tmp_path / "cols.parquet"
    gpd.GeoDataFrame(columns, geometry=[Point(1, 2)], crs="EPSG:4326").to_parquet(path)
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path, blob="evil/cols.parquet")
    _db_check(pg_conn, t)
    names = [c.name for c in t.columns]
    assert len(set(names)) == len(names) and all(len(n.encode()) <= 63 for n in names)
    assert [c.original_name for c in t.columns[1:-1]] == list(columns)
    row = pg_conn.execute(
        sql.SQL("SELECT {} FROM {}.{}").format(
            sql.SQL(", ").join(map(sql.Identifier, names[1:-1])),
            sql.Identifier(pg_schema),
            sql.Identifier(t.table),
        )
    ).fetchone()
    assert row == (1, 2, 3, 4, 5, 6, 7, 8)


def test_types_from_real_formats(pg_conn, pg_schema, tmp_path):
    df = gpd.GeoDataFrame(
        {
            "day": [dt.date(2024, 2, 29)],
            "at": pd.to_datetime(["2024-02-29T10:00:00+02:00"]),
            "flag": [True],
            "big": [2**53 + 1],
            "ratio": [0.5],
            "text": ["ü"],
        },
        geometry=[Point(1, 2)],
        crs="EPSG:4326",
    )
    gpkg = tmp_path / "types.gpkg"
    df.to_file(gpkg, engine="pyogrio", use_arrow=True)
    (t,) = publish_file(pg_conn, gpkg, pg_schema, tmp_path, blob="t/types.gpkg")
    types = {c.name: c.pg_type for c in t.columns}
    assert types == {
        "fid": "bigint",
        "source_fid": "bigint",  # the GeoPackage's own feature ids, kept
        "day": "date",
        "at": "timestamptz",
        "flag": "boolean",
        "big": "bigint",
        "ratio": "double precision",
        "text": "text",
        "geom": "geometry(MultiPoint,4326)",
    }
    row = pg_conn.execute(
        sql.SQL("SELECT day, at, flag, big FROM {}.{}").format(
            sql.Identifier(pg_schema), sql.Identifier(t.table)
        )
    ).fetchone()
    assert row == (
        dt.date(2024, 2, 29),
        dt.datetime(2024, 2, 29, 8, tzinfo=dt.UTC),
        True,
        2**53 + 1,
    )
    nested = tmp_path / "nested.geojson"
    nested.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
        "properties": {"obj": {"a": [1, 2], "b": {"c": None}}, "tags": ["x", "y"]},
    }]}))  # fmt: skip
    (n,) = publish_file(pg_conn, nested, pg_schema, tmp_path, blob="t/nested.geojson")
    assert {c.name: c.pg_type for c in n.columns}["obj"] == "jsonb"
    row = pg_conn.execute(
        sql.SQL("SELECT obj, tags FROM {}.{}").format(
            sql.Identifier(pg_schema), sql.Identifier(n.table)
        )
    ).fetchone()
    assert row == ({"a": [1, 2], "b": {"c": None}}, ["x", "y"])


def test_csv_errors_publish_nothing(pg_conn, pg_schema, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,lat,lon\na,48.1,11.5\nb,91.5,200\n")
    with pytest.raises(CoordinateRangeError, match=r"bad.csv"):
        publish_file(pg_conn, bad, pg_schema, tmp_path)
    nocoords = tmp_path / "nocoords.csv"
    nocoords.write_text("name,value\na,1\n")
    with pytest.raises(NoGeometryError, match=r"nocoords.csv"):
        publish_file(pg_conn, nocoords, pg_schema, tmp_path)
    tables = pg_conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (pg_schema,))
    assert tables.fetchone() == (0,)
    assert not list((tmp_path / "silver").glob("*")) if (tmp_path / "silver").exists() else True


def test_empty_layer_policy(pg_conn, pg_schema, tmp_path, vectors: Path):
    with pytest.warns(EmptyLayerWarning, match=r"Untitled Folder"):
        publish_vector_file(
            pg_conn,
            vectors / "kml/styles.kml",
            source_name="kml/styles.kml",
            schema=pg_schema,
            table_base="styles",
            parquet_dir=None,
        )
    empty = tmp_path / "empty.gpkg"
    gpd.GeoDataFrame({"a": []}, geometry=[], crs="EPSG:4326").to_file(empty, layer="nothing")
    with pytest.raises(EmptyDatasetError):
        publish_file(pg_conn, empty, pg_schema, tmp_path)
    # A declared-type layer may be published empty by configuration.
    gpd.GeoDataFrame({"a": [1]}, geometry=[Point(0, 0)], crs="EPSG:4326").iloc[:0].to_file(
        empty, layer="nothing", geometry_type="Point"
    )
    (t,) = publish_file(pg_conn, empty, pg_schema, tmp_path, VectorOptions(empty_layers="publish"))
    assert t.rows_loaded == 0 and t.geometry_type == "MultiPoint" and t.bbox is None
    assert store_quality.table_stats(pg_conn, pg_schema, t.table)["rows"] == 0


def test_gpx_layers_without_features_are_skipped_as_such(pg_conn, pg_schema, tmp_path):
    # GPX always has five layers and does not know their counts before reading them.
    path = tmp_path / "walk.gpx"
    path.write_text(
        '<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/'
        'GPX/1/1"><wpt lat="47.1" lon="8.2"><name>a</name></wpt><wpt lat="47.2" lon="8.3">'
        "<name>b</name></wpt></gpx>"
    )
    with pytest.warns(EmptyLayerWarning) as caught:
        (t,) = publish_vector_file(
            pg_conn, path, source_name="w/walk.gpx", schema=pg_schema, table_base="walk",
            parquet_dir=None,
        )  # fmt: skip
    assert (t.layer, t.rows_loaded, t.geometry_type) == ("waypoints", 2, "MultiPoint")
    skipped = sorted(str(w.message).split(": ", 1)[1] for w in caught)
    assert skipped == [
        f"layer {name!r} skipped: it has no features"
        for name in ("route_points", "routes", "track_points", "tracks")
    ]


def test_layer_whose_features_are_all_dropped(pg_conn, pg_schema, tmp_path):
    path = tmp_path / "nulls.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None, "properties": {"a": i}} for i in range(3)
    ]}))  # fmt: skip
    with pytest.raises(EmptyDatasetError, match=r"nulls.geojson"):
        publish_file(pg_conn, path, pg_schema, tmp_path)
    tables = pg_conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (pg_schema,))
    assert tables.fetchone() == (0,)
    silver = tmp_path / "silver"
    assert not silver.exists() or not any(silver.iterdir())


def test_dbf_text_that_lies_about_its_encoding(pg_conn, pg_schema, tmp_path):
    gpd.GeoDataFrame({"name": ["Mxller"]}, geometry=[Point(1, 2)], crs="EPSG:4326").to_file(
        tmp_path / "x.shp"
    )
    dbf = tmp_path / "x.dbf"
    dbf.write_bytes(dbf.read_bytes().replace(b"Mxller", b"M\xfcller"))  # latin-1, .cpg says UTF-8
    with pytest.raises(DecodingError, match=r"x\.shp.*'name'.*not valid UTF-8"):
        publish_file(pg_conn, tmp_path / "x.shp", pg_schema, tmp_path, blob="d/x.shp")
    (t,) = publish_file(
        pg_conn,
        tmp_path / "x.shp",
        pg_schema,
        tmp_path,
        VectorOptions(encoding="latin-1"),
        "d/x.shp",
    )
    row = pg_conn.execute(
        sql.SQL("SELECT name FROM {}.{}").format(sql.Identifier(pg_schema), sql.Identifier(t.table))
    ).fetchone()
    assert row == ("Müller",)


def test_deferred_index_is_built_once_after_the_swap(pg_conn, pg_schema, tmp_path):
    df = gpd.GeoDataFrame({"v": [1, 2]}, geometry=[Point(1, 2), Point(3, 4)], crs="EPSG:4326")
    path = tmp_path / "later.gpkg"
    df.to_file(path, layer="later")
    (table,) = publish_vector_file(
        pg_conn, path, source_name="d/later.gpkg", schema=pg_schema, table_base="later",
        parquet_dir=None, defer_index=True,
    )  # fmt: skip

    def indexes() -> list[str]:
        rows = pg_conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s", (pg_schema,)
        ).fetchall()
        return sorted(r[0] for r in rows)

    assert indexes() == ["later_pkey"]  # published (rows visible) with its key, no GiST yet
    assert table_rows(pg_conn, pg_schema, "later") == 2
    assert create_spatial_index(pg_conn, pg_schema, table.table) is True
    assert indexes() == ["later_geom_gix", "later_pkey"]
    stats = pg_conn.execute(
        "SELECT count(*) FROM pg_stats WHERE schemaname = %s AND tablename = 'later'",
        (pg_schema,),
    ).fetchone()
    assert stats is not None and stats[0] > 0  # analyzed
    assert create_spatial_index(pg_conn, pg_schema, table.table) is False  # already there
    assert create_spatial_index(pg_conn, pg_schema, "gone") is False  # no such table


def table_rows(conn: psycopg.Connection[Any], schema: str, table: str) -> int:
    q = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    row = conn.execute(q).fetchone()
    assert row is not None
    return int(row[0])


def test_cleaning_in_small_pieces_changes_no_output(pg_conn, pg_schema, tmp_path, monkeypatch):
    """The loader cleans each read batch in CLEAN_ROWS slices, CLEAN_THREADS at once: the
    tables, the GeoParquet bytes (row groups of the read batches), the counts and the footprint
    equal a whole-batch load in one thread. Mixed kinds (a split layer), invalid and empty
    polygons, longitudes past 180 (wrapped) and null attributes included."""

    import numpy as np
    from shapely.geometry import LineString

    from geo_platform.store import layer_stream

    rng = np.random.default_rng(7)
    n = 5000
    geoms: list[Any] = []
    for i in range(n):
        x, y = rng.uniform(-170, 170), rng.uniform(-80, 80)
        if i % 97 == 0:  # a bow tie: invalid, repaired
            geoms.append(Polygon([(x, y), (x + 1, y + 1), (x + 1, y), (x, y + 1)]))
        elif i % 89 == 0:  # the 0..360 convention: wrapped into -180..180
            geoms.append(Polygon([(181, y), (182, y), (182, y + 1), (181, y + 1)]))
        elif i % 7 == 0:
            geoms.append(LineString([(x, y), (x + 0.5, y + 0.2)]))
        elif i % 11 == 0:
            geoms.append(Point(x, y))
        else:
            geoms.append(Polygon([(x, y), (x + 0.3, y), (x + 0.3, y + 0.3), (x, y + 0.3)]))
    df = gpd.GeoDataFrame(
        {"v": [None if i % 13 == 0 else i for i in range(n)], "t": [f"r{i}" for i in range(n)]},
        geometry=geoms,
        crs="EPSG:4326",
    )
    src = tmp_path / "mixed.gpkg"
    df.to_file(src, layer="mixed", engine="pyogrio")
    options = VectorOptions(batch_size=2048)  # read batches of 2048 rows, cleaned by 300

    def load(clean_rows: int, threads: int, run: str) -> list[tuple[Any, ...]]:
        monkeypatch.setattr(layer_stream, "CLEAN_ROWS", clean_rows)
        monkeypatch.setattr(layer_stream, "CLEAN_THREADS", threads)
        out = []
        for t in publish_file(pg_conn, src, pg_schema, tmp_path / run, options):
            digest, parquet = loaded_digests(pg_conn, t)
            assert t.geoparquet_path is not None
            groups = pq.ParquetFile(t.geoparquet_path).metadata.num_row_groups
            counts = (
                t.rows_read, t.rows_loaded, t.repaired, t.invalid_dropped, t.dropped_null,
                t.wrapped,
            )  # fmt: skip
            out.append((t.table, digest, parquet, groups, counts, t.bbox, t.footprint))
        return out

    whole = load(1_000_000, 1, "whole")
    assert len(whole) == 3 and {w[3] for w in whole} >= {3}  # split by kind, 3 row groups
    polygons = next(w[4] for w in whole if w[0].endswith("__polygons"))
    assert polygons[2] > 0 and polygons[5] > 0  # some repaired, some wrapped
    assert load(300, 1, "pieces") == whole
    assert load(300, 3, "threads") == whole
