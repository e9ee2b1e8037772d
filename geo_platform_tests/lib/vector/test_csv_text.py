"""CSV text the reader untangles: coordinates in degrees, minutes and seconds
(``lib/vector/dms.py``), published as points in real PostGIS with the original text columns
kept; ``#`` comment lines above the header; UTF-16 text with its BOM."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg import sql

from geo_platform.lib.content import content_kind, csv_header_has_geometry, sniff_head
from geo_platform.lib.errors import CoordinateRangeError, NoGeometryError
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.vector import dms
from geo_platform.lib.vector.read import open_source
from geo_platform_tests.lib.vector.conftest import publish_file
from geo_platform_tests.lib.vector.test_publish import _db_check


@pytest.mark.parametrize(
    ("text", "axis", "expected"),
    [
        ("52°22'30\"N", "lat", 52.375),
        ("52° 22′ 30″ S", "lat", -52.375),
        ("N 51° 55.5'", "lat", 51.925),
        ("33 55 30 S", "lat", -33.925),
        ("-12:02:24", "lat", -12.04),
        ("4°53'12\"E", "lon", 4.886667),
        ("W 77° 1' 42''", "lon", -77.028333),
        ("77d01m42sW", "lon", -77.028333),
        ("4°53'12,6\"E", "lon", 4.886833),  # decimal comma
        ("−4.5", "lon", -4.5),  # a plain number (unicode minus) parses too
        ("52,5", "lat", 52.5),
    ],
)  # fmt: skip
def test_parse(text: str, axis: dms.Axis, expected: float) -> None:
    assert dms.parse(text, axis) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("text", "axis"),
    [
        ("52°22'30\"E", "lat"),  # a longitude letter in a latitude column
        ("N52°22'30\"N", "lat"),  # two letters
        ("-52°22'N", "lat"),  # a sign and a letter
        ("52°61'N", "lat"),  # 61 minutes
        ("52°22'75\"N", "lat"),  # 75 seconds
        ("n/a", "lat"),
        ("", "lat"),
        (None, "lon"),
    ],
)  # fmt: skip
def test_parse_refuses_what_is_not_one_coordinate(text: str | None, axis: dms.Axis) -> None:
    assert dms.parse(text, axis) is None


STATIONS = """station;latitude;longitude;elev
Amsterdam;52°22'30"N;4°53'12"E;-2
Rotterdam;N 51° 55.5';E 4° 28.8';0
Cape Town;33 55 30 S;18 25 26 E;10
Lima;"-12:02:46";"-77:01:42";154
Unknown;n/a;n/a;3
"""


def test_a_dms_csv_publishes_points_and_keeps_the_text(pg_conn, pg_schema, tmp_path: Path):
    path = tmp_path / "stations.csv"
    path.write_text(STATIONS, encoding="utf-8")
    (src,) = open_source(path, "v/stations.csv")
    assert (src.crs, src.crs_assumed) == ("EPSG:4326", True)
    assert dms.LAT_COLUMN not in src.fields and "latitude" in src.fields
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, t)
    assert (t.rows_read, t.rows_loaded, t.dropped_null) == (5, 4, 1)
    rows = pg_conn.execute(
        sql.SQL("SELECT station, latitude, ST_X((ST_Dump(geom)).geom), ST_Y((ST_Dump(geom)).geom) "
                "FROM {}.{} ORDER BY fid").format(sql.Identifier(t.schema), sql.Identifier(t.table))
    ).fetchall()  # fmt: skip
    got = {r[0]: (r[1], round(r[2], 5), round(r[3], 5)) for r in rows}
    assert got["Amsterdam"] == ("52°22'30\"N", 4.88667, 52.375)
    assert got["Cape Town"][1:] == (18.42389, -33.925)
    assert got["Lima"][1:] == (-77.02833, -12.04611)
    columns = {
        r[0]
        for r in pg_conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s", (t.schema, t.table),
        )
    }  # fmt: skip
    assert not any(c.startswith("_geo_platform") for c in columns)


def test_text_that_is_neither_numbers_nor_dms_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("name,lat,lon\nA,north,east\nB,south,west\n")
    with pytest.raises(NoGeometryError, match=r"neither numbers nor degrees.*'north'"):
        open_source(path, "v/t.csv")


def test_dms_in_another_crs_needs_assume_crs_like_any_csv(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("name,lat,lon\nA,52°N,4°E\n")
    (src,) = open_source(path, "v/t.csv")
    assert src.crs_assumed
    path.write_text("name,lat,lon\nA,52°N,4°E\nB,95.5,4\n")
    with pytest.raises(CoordinateRangeError):
        open_source(path, "v/t.csv")


def test_comment_lines_above_the_header_are_skipped(pg_conn, pg_schema, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("# exported by tool X, 2024-05-01\n# units: degrees\nname,lat,lon\nA,52,4\n")
    assert sniff_head(path.read_bytes()) == "CSV" and csv_header_has_geometry(path.read_bytes())
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, t)
    assert t.rows_loaded == 1 and [c.name for c in t.columns][1:4] == ["name", "lat", "lon"]


@pytest.mark.parametrize("name", ["export.csv", "export.txt"])
def test_utf16_text_with_its_bom_is_read(pg_conn, pg_schema, tmp_path: Path, name: str) -> None:
    """Excel's "Unicode Text" export: UTF-16 with a BOM, tab-separated, often named .txt. The
    BOM says the encoding, so no ``encoding`` option is needed (nothing is guessed)."""
    path = tmp_path / name
    path.write_text("name\tlat\tlon\nMünchen\t48.1\t11.5\nZürich\t47.4\t8.5\n", encoding="utf-16")
    head = path.read_bytes()
    assert sniff_head(head) == "CSV" and csv_header_has_geometry(head)
    assert content_kind(head, name)[0] == "vector"
    inv = inventory_file(path, f"v/{name}", "vector")  # the bronze stage reads it too
    assert inv.features == 2
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, t)
    rows = pg_conn.execute(
        sql.SQL("SELECT name FROM {}.{} ORDER BY fid").format(
            sql.Identifier(t.schema), sql.Identifier(t.table)
        )
    ).fetchall()
    assert rows == [("München",), ("Zürich",)]
