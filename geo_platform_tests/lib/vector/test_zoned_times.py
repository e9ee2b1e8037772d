"""Date-times keep their zone: instants from GeoJSON, KML, GML, FlatGeobuf and Esri JSON are
published as the moments they name (GDAL's Arrow reader dropped a mixed field's offsets)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest
from psycopg import sql

from geo_platform.lib.vector.zoned_times import NAIVE, UTC, typed, utc_instants
from geo_platform_tests.lib.vector.conftest import publish_file

UTC_TZ = dt.UTC
MIXED = ["2020-05-01T08:00:05+02:00", "2020-05-01T06:00:05Z", "2020-05-01T06:00:05"]


def _geojson(path: Path, times: list[str | None]) -> Path:
    features = [
        {"type": "Feature", "properties": {"n": i, "t": t},
         "geometry": {"type": "Point", "coordinates": [i, i]}}
        for i, t in enumerate(times)
    ]  # fmt: skip
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _column(conn, schema: str, table: str, column: str) -> tuple[str, list]:
    kind = conn.execute(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s AND column_name = %s",
        (schema, table, column),
    ).fetchone()[0]
    rows = conn.execute(
        sql.SQL("SELECT {} FROM {}.{} ORDER BY fid").format(
            sql.Identifier(column), sql.Identifier(schema), sql.Identifier(table)
        )
    ).fetchall()
    return kind, [r[0] for r in rows]


def test_mixed_offsets_in_a_geojson_are_one_instant(pg_conn, pg_schema, tmp_path):
    """08:00+02:00, 06:00Z and 06:00 (taken as UTC in a column with zones) are one moment;
    GDAL's reader made them 08:00, 06:00 and 06:00 without a zone."""
    src = _geojson(tmp_path / "mixed.geojson", MIXED)
    (t,) = publish_file(pg_conn, src, pg_schema, tmp_path)
    kind, values = _column(pg_conn, pg_schema, t.table, "t")
    assert kind == "timestamp with time zone"
    assert set(values) == {dt.datetime(2020, 5, 1, 6, 0, 5, tzinfo=UTC_TZ)}


def test_times_without_any_zone_stay_wall_clock(pg_conn, pg_schema, tmp_path):
    src = _geojson(tmp_path / "local.geojson", ["2020-05-01T08:00:05", None, "2021-01-02T03:04:05"])
    (t,) = publish_file(pg_conn, src, pg_schema, tmp_path)
    kind, values = _column(pg_conn, pg_schema, t.table, "t")
    assert kind == "timestamp without time zone"
    assert values == [dt.datetime(2020, 5, 1, 8, 0, 5), None, dt.datetime(2021, 1, 2, 3, 4, 5)]


@pytest.mark.parametrize("driver,suffix", [("GML", ".gml"), ("FlatGeobuf", ".fgb")])
def test_other_formats_convert_offsets(pg_conn, pg_schema, tmp_path, driver, suffix):
    src = tmp_path / f"mixed{suffix}"
    subprocess.run(
        ["ogr2ogr", "-f", driver, str(src), str(_geojson(tmp_path / "in.geojson", MIXED))],
        check=True,
        capture_output=True,
    )
    (t,) = publish_file(pg_conn, src, pg_schema, tmp_path)
    kind, values = _column(pg_conn, pg_schema, t.table, "t")
    assert kind == "timestamp with time zone"
    assert set(values) == {dt.datetime(2020, 5, 1, 6, 0, 5, tzinfo=UTC_TZ)}


def test_kml_timestamp_with_an_offset(pg_conn, pg_schema, tmp_path):
    marks = "".join(
        f"<Placemark><name>{i}</name><TimeStamp><when>{w}</when></TimeStamp>"
        f"<Point><coordinates>{i},1</coordinates></Point></Placemark>"
        for i, w in enumerate(["2020-05-01T08:00:05+02:00", "2020-05-01T06:00:05Z"])
    )
    src = tmp_path / "walk.kml"
    src.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2">'
        f"<Document>{marks}</Document></kml>"
    )
    (t,) = publish_file(pg_conn, src, pg_schema, tmp_path)
    kind, values = _column(pg_conn, pg_schema, t.table, "timestamp")
    assert kind == "timestamp with time zone"
    assert values == [dt.datetime(2020, 5, 1, 6, 0, 5, tzinfo=UTC_TZ)] * 2


def test_esri_json_dates_are_utc(pg_conn, pg_schema, tmp_path):
    src = tmp_path / "query.json"
    src.write_text(json.dumps({
        "geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326},
        "fields": [{"name": "seen", "type": "esriFieldTypeDate", "alias": "seen"}],
        "features": [{"attributes": {"seen": 1588312805000}, "geometry": {"x": 1, "y": 2}}],
    }))  # fmt: skip
    (t,) = publish_file(pg_conn, src, pg_schema, tmp_path)
    kind, values = _column(pg_conn, pg_schema, t.table, "seen")
    assert kind == "timestamp with time zone"
    assert values == [dt.datetime(2020, 5, 1, 6, 0, 5, tzinfo=UTC_TZ)]


def _date_time_schema() -> pa.Schema:
    return pa.schema([pa.field("t", pa.string(), metadata={"GDAL:OGR:type": "DateTime"})])


def test_a_zone_first_seen_later_is_converted_in_a_wall_clock_column():
    """The column's type is decided by its first batch; a later time with a zone is still
    converted to UTC before its zone is dropped (not read as its wall-clock time)."""
    schema = _date_time_schema()
    first = pa.record_batch([pa.array(["2020-05-01T08:00:05"])], schema=schema)
    later = pa.record_batch([pa.array(["2020-05-01T08:00:05+02:00"])], schema=schema)
    out_schema, batches = typed(schema, [first, later], "GeoJSON")
    assert out_schema.field("t").type == NAIVE
    got = [b.column(0)[0].as_py() for b in batches]
    assert got == [dt.datetime(2020, 5, 1, 8, 0, 5), dt.datetime(2020, 5, 1, 6, 0, 5)]
    # GPX, Esri JSON and KML times are instants by definition: zoned even without an offset.
    for driver in ("GPX", "ESRIJSON", "LIBKML"):
        assert typed(schema, [first], driver)[0].field("t").type == UTC


def test_unreadable_time_becomes_null():
    out = utc_instants(pa.array(["2020-05-01T08:00:05+02:00", "not a time", None]))
    assert out.to_pylist() == [dt.datetime(2020, 5, 1, 6, 0, 5, tzinfo=UTC_TZ), None, None]
