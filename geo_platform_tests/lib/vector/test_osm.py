"""OpenStreetMap files (``.osm.pbf`` as Geofabrik extracts come, ``.osm`` XML): recognised by
content and name, read by GDAL's OSM driver, one table per non-empty layer in real PostGIS."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from psycopg import sql

from geo_platform.lib import bronze, naming
from geo_platform.lib.content import content_kind, sniff_head
from geo_platform.lib.errors import FormatMismatchError, UnreadableFileError
from geo_platform.lib.vector.read import open_source
from geo_platform_tests.fixtures.osm_pbf import write_pbf
from geo_platform_tests.lib.vector.conftest import publish_file
from geo_platform_tests.lib.vector.test_publish import _db_check

NODES = [
    (1, 52.10, 4.30, {"amenity": "cafe", "name": "Koffie & Co"}),
    (2, 52.11, 4.31, {}),
    (3, 52.12, 4.31, {}),
    (4, 52.12, 4.30, {}),
]
WAYS = [
    (10, [2, 3], {"highway": "residential", "name": "Straat"}),
    (11, [2, 3, 4, 2], {"building": "yes", "roof:shape": "flat"}),
]
XML = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
  <node id="1" lat="52.10" lon="4.30"><tag k="amenity" v="cafe"/></node>
  <node id="2" lat="52.11" lon="4.31"/><node id="3" lat="52.12" lon="4.31"/>
  <way id="10"><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/></way>
</osm>
"""


def _rows(conn, table) -> list[tuple]:
    query = sql.SQL(  # PBF coordinates are integers of 100 nanodegrees
        "SELECT osm_id, name, ST_AsText(geom, 7) FROM {}.{} ORDER BY fid"
    )
    return conn.execute(query.format(sql.Identifier(table.schema), sql.Identifier(table.table)))


def test_osm_files_are_recognised_by_content_and_name(tmp_path: Path) -> None:
    pbf = write_pbf(tmp_path / "city.osm.pbf", NODES, WAYS).read_bytes()
    assert sniff_head(pbf) == "OSM" and content_kind(pbf)[0] == "vector"
    assert sniff_head(XML.encode()) == "OSM" and content_kind(XML.encode())[0] == "vector"
    for name in ("x/city.osm.pbf", "x/city.pbf", "x/city.osm"):
        assert bronze.classify(name, 10).kind == "vector"
    assert naming.table_name("x/city.osm.pbf", "points", multi_layer=True) == "x_city__points"


def test_a_pbf_extract_publishes_one_table_per_layer(pg_conn, pg_schema, tmp_path) -> None:
    path = write_pbf(tmp_path / "city.osm.pbf", NODES, WAYS)
    tables = {t.layer: t for t in publish_file(pg_conn, path, pg_schema, tmp_path)}
    assert set(tables) == {"points", "lines", "multipolygons"}  # the empty layers are skipped
    for t in tables.values():
        _db_check(pg_conn, t)
        assert t.source_crs == "EPSG:4326" and not t.crs_assumed and t.driver == "OSM"
    assert list(_rows(pg_conn, tables["points"])) == [
        ("1", "Koffie & Co", "MULTIPOINT((4.3 52.1))")
    ]
    assert [r[:2] for r in _rows(pg_conn, tables["lines"])] == [("10", "Straat")]
    assert tables["multipolygons"].geometry_type == "MultiPolygon"
    other = pg_conn.execute(
        sql.SQL("SELECT other_tags FROM {}.{}").format(
            sql.Identifier(pg_schema), sql.Identifier(tables["multipolygons"].table)
        )
    ).fetchone()
    assert other == ('"roof:shape"=>"flat"',)  # tags without a column of their own


def test_osm_xml_publishes_too(pg_conn, pg_schema, tmp_path) -> None:
    path = tmp_path / "small.osm"
    path.write_text(XML)
    tables = {t.layer: t for t in publish_file(pg_conn, path, pg_schema, tmp_path)}
    assert set(tables) == {"points", "lines"}
    assert tables["points"].rows_loaded == 1 and tables["lines"].rows_loaded == 1


def test_a_pbf_that_is_not_osm_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "tile.pbf"
    path.write_bytes(b"\x1a\x03\x78\x02\x00" * 20)  # a vector tile, not an OSM extract
    with pytest.raises(FormatMismatchError, match=r"v/tile\.pbf.*named \.pbf"):
        open_source(path, "v/tile.pbf")


def test_an_extract_inside_a_zip_publishes(pg_conn, pg_schema, tmp_path) -> None:
    pbf = write_pbf(tmp_path / "city.osm.pbf", NODES, WAYS)
    path = tmp_path / "delivery.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(pbf, "data/city.osm.pbf")
        zf.writestr("data/README.txt", "OpenStreetMap contributors, ODbL")
    tables = publish_file(pg_conn, path, pg_schema, tmp_path)
    assert sorted(t.layer for t in tables) == ["lines", "multipolygons", "points"]
    assert sum(t.rows_loaded for t in tables) == 3


def test_a_truncated_extract_is_refused_not_read_as_empty(tmp_path: Path) -> None:
    """GDAL reads a cut PBF as empty layers without an error; its block headers tell."""
    whole = write_pbf(tmp_path / "city.osm.pbf", NODES, WAYS, block_size=2).read_bytes()
    for cut in (len(whole) - 5, 40):
        path = tmp_path / "cut.osm.pbf"
        path.write_bytes(whole[:cut])
        with pytest.raises(UnreadableFileError, match=r"v/cut\.osm\.pbf.*truncated or corrupt"):
            open_source(path, "v/cut.osm.pbf")
    path.write_bytes(whole)
    assert len(open_source(path, "v/cut.osm.pbf")) == 5  # every block whole: five layers
