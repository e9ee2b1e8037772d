"""A GeoJSON file's declared ``crs`` member: honoured when GDAL knows it, refused when GDAL
would silently read the coordinates as lon/lat instead (see ``lib/vector/geojson_crs.py``).
TopoJSON, which has no CRS member: lon/lat by convention, recorded as assumed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from geo_platform.lib.errors import CoordinateRangeError, InvalidCRSError
from geo_platform.lib.vector.geojson_crs import HEAD_BYTES, declared_crs
from geo_platform.lib.vector.options import VectorOptions
from geo_platform.lib.vector.read import open_source
from geo_platform.store import postgis
from geo_platform_tests.lib.vector.conftest import publish_file

# Web Mercator metres of a point near Bern (7.44 E, 46.95 N).
MERC = (828_240.0, 5_933_530.0)


def _write(path: Path, crs: Any, *, props: dict[str, Any] | None = None, pad: int = 0) -> Path:
    doc: dict[str, Any] = {"type": "FeatureCollection"}
    if pad:
        doc["description"] = "x" * pad
    if crs is not None:
        doc["crs"] = crs
    doc["features"] = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": list(MERC)},
            "properties": props or {"name": "bern"},
        }
    ]
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    "crs",
    [
        {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::999999"}},
        {"type": "name", "properties": {"name": "not a crs"}},
        {"type": "link", "properties": {"href": "http://example.com/crs/42", "type": "proj4"}},
        {"type": "EPSG", "properties": {"code": 999999}},
        "EPSG:3857",  # not the spec's form: GDAL ignores it
    ],
)
def test_a_declared_crs_gdal_cannot_resolve_is_refused(tmp_path: Path, crs: Any):
    path = _write(tmp_path / "declared.geojson", crs)
    with pytest.raises(InvalidCRSError) as err:
        open_source(path, "bronze/odd/declared.geojson")
    text = str(err.value)
    assert text.startswith("bronze/odd/declared.geojson: the GeoJSON declares the CRS ")
    assert json.dumps(crs) in text and "assume_crs" in text


@pytest.mark.parametrize(
    ("crs", "expected"),
    [
        (None, "EPSG:4326"),
        ({"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}, "EPSG:3857"),
        ({"type": "name", "properties": {"name": "EPSG:3857"}}, "EPSG:3857"),
        ({"type": "EPSG", "properties": {"code": 3857}}, "EPSG:3857"),
        ({"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}, "EPSG:4326"),
        ({"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4326"}}, "EPSG:4326"),
    ],
)
def test_declarations_gdal_resolves_are_kept(tmp_path: Path, crs: Any, expected: str):
    path = _write(tmp_path / "declared.geojson", crs)
    (src,) = open_source(path, "bronze/declared.geojson")
    assert src.crs == expected


def test_only_the_top_level_member_is_a_declaration(tmp_path: Path):
    # A property called "crs" is data; a declaration past the first MiB is not looked for.
    path = _write(tmp_path / "prop.geojson", None, props={"crs": {"type": "name"}})
    assert declared_crs(path) is None
    (src,) = open_source(path, "bronze/prop.geojson")
    assert src.crs == "EPSG:4326"
    bad = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::999999"}}
    assert declared_crs(_write(tmp_path / "near.geojson", bad, pad=1000)) == bad
    assert declared_crs(_write(tmp_path / "far.geojson", bad, pad=HEAD_BYTES)) is None


def test_assume_crs_publishes_such_a_file_in_the_crs_the_user_gives(
    pg_conn, pg_schema, tmp_path: Path
):
    bad = {"type": "link", "properties": {"href": "http://example.com/crs/3857"}}
    path = _write(tmp_path / "merc.geojson", bad)
    with pytest.raises(InvalidCRSError):
        publish_file(pg_conn, path, pg_schema, tmp_path)
    assert postgis.staging_tables(pg_conn, pg_schema) == []
    assert pg_conn.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = %s", (pg_schema,)
    ).fetchone() == (0,)
    options = VectorOptions(assume_crs="EPSG:3857")
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path, options=options)
    assert table.source_crs == "EPSG:3857" and table.crs_assumed
    row = pg_conn.execute(
        sql.SQL("SELECT ST_SRID(geom), ST_X(ST_GeometryN(geom, 1)), ST_Y(ST_GeometryN(geom, 1)) "
                "FROM {}.{}").format(sql.Identifier(pg_schema), sql.Identifier(table.table))
    ).fetchone()  # fmt: skip
    assert row is not None and row[0] == 4326
    assert row[1] == pytest.approx(7.44, abs=0.01) and row[2] == pytest.approx(46.95, abs=0.01)


def _topojson(path: Path, x: int, y: int, transform: bool = True) -> Path:
    doc: dict[str, Any] = {
        "type": "Topology",
        "objects": {"places": {"type": "GeometryCollection", "geometries": [
            {"type": "Point", "coordinates": [x, y], "properties": {"n": 1}},
        ]}},
        "arcs": [],
    }  # fmt: skip
    if transform:  # quantized: 4000 * 0.0005 + 5 = 7, 5000 * 0.0001 + 46 = 46.5
        doc["transform"] = {"scale": [0.0005, 0.0001], "translate": [5, 46]}
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("name", ["places.topojson", "places.json"])
def test_topojson_is_lon_lat_by_convention_recorded_as_assumed(pg_conn, pg_schema, tmp_path, name):
    """Named .topojson or, as it usually is (world-atlas' countries-110m.json), .json."""
    path = _topojson(tmp_path / name, 4000, 5000)
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    assert (table.source_crs, table.crs_assumed, table.driver) == ("EPSG:4326", True, "TopoJSON")
    assert table.bbox == pytest.approx((7.0, 46.5, 7.0, 46.5))
    # Pre-projected TopoJSON (screen or metre coordinates) is refused, never misplaced.
    path = _topojson(tmp_path / "albers.topojson", 975, 610, transform=False)
    with pytest.raises(CoordinateRangeError, match=r"lon=975.0, lat=610.0.*set assume_crs"):
        publish_file(pg_conn, path, pg_schema, tmp_path)
    # assume_crs wins over the convention.
    (table,) = publish_file(
        pg_conn, path, pg_schema, tmp_path, options=VectorOptions(assume_crs="EPSG:3857")
    )
    assert (table.source_crs, table.crs_assumed) == ("EPSG:3857", True)
