"""Spreadsheets (.xlsx, .ods) with coordinate columns publish like CSVs, one table per sheet
that has coordinates (``lib/vector/spreadsheet.py``). Workbooks written by GDAL's own drivers,
with typed cells (numbers, text, dates) as Excel or LibreOffice store them."""

from __future__ import annotations

import datetime as dt
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from psycopg import sql

from geo_platform.lib.bronze import classify
from geo_platform.lib.errors import (
    CoordinateRangeError,
    FormatMismatchError,
    NoGeometryError,
    TooLargeError,
)
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.vector.options import VectorOptions
from geo_platform.lib.vector.read import open_source
from geo_platform_tests.fixtures.vector_world import World, table_facts
from geo_platform_tests.lib.vector.conftest import publish_file

STATIONS = pd.DataFrame({
    "Station": ["Zürich", "Bern", "Genève"],
    "Latitude": [47.37, 46.95, 46.20],
    "Longitude": [8.54, 7.44, 6.14],
    "Opened": [dt.date(1990, 1, 2), dt.date(2001, 5, 6), None],
    "Count": [12, 7, 3],
})  # fmt: skip


def _workbook(path: Path, sheets: dict[str, pd.DataFrame]) -> Path:
    driver = "XLSX" if path.suffix == ".xlsx" else "ODS"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (name, frame) in enumerate(sheets.items()):
            pyogrio.write_dataframe(frame, path, driver=driver, layer=name, append=i > 0)
    return path


@pytest.fixture
def world(tmp_path: Path, pg_dsn: str, pg_schema: str) -> Iterator[World]:
    w = World(tmp_path, pg_dsn, pg_schema)
    yield w
    w.drop_collections()


def test_spreadsheets_are_vectors_by_name() -> None:
    assert classify("survey/stations.xlsx").kind == "vector"
    assert classify("survey/stations.ods").kind == "vector"


@pytest.mark.parametrize("suffix", [".xlsx", ".ods"])
def test_the_sheet_with_coordinates_publishes_as_points(pg_conn, pg_schema, tmp_path, suffix):
    legend = pd.DataFrame({"Note": ["counts per day"], "Year": [2020]})
    path = _workbook(tmp_path / f"stations{suffix}", {"Stations": STATIONS, "Legend": legend})
    (src,) = open_source(path, f"survey/stations{suffix}")  # the legend has no coordinates
    assert (src.name, src.driver, src.crs, src.crs_assumed) == (
        "Stations",
        suffix[1:].upper(),
        "EPSG:4326",
        True,
    )
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    assert (table.rows_loaded, table.geometry_type, table.srid) == (3, "MultiPoint", 4326)
    types = {c.original_name: c.pg_type for c in table.columns}
    assert types["Count"] == "integer" and types["Opened"] == "date" and types["Station"] == "text"
    rows = pg_conn.execute(
        sql.SQL('SELECT "station", "opened", ST_X(ST_GeometryN(geom, 1)), '
                "ST_Y(ST_GeometryN(geom, 1)) FROM {}.{} ORDER BY fid").format(
            sql.Identifier(pg_schema), sql.Identifier(table.table))
    ).fetchall()  # fmt: skip
    assert rows[0] == ("Zürich", dt.date(1990, 1, 2), pytest.approx(8.54), pytest.approx(47.37))
    assert rows[2][0] == "Genève" and rows[2][1] is None


@pytest.mark.parametrize("suffix", [".xlsx", ".ods"])
def test_the_bronze_stage_takes_a_workbook_and_refuses_other_documents(tmp_path, suffix):
    path = _workbook(tmp_path / f"stations{suffix}", {"Stations": STATIONS})
    inv = inventory_file(path, f"in/stations{suffix}", "vector")
    assert inv.driver == suffix[1:].upper() and inv.features == 3
    assert [layer["name"] for layer in inv.layers] == ["Stations"]
    doc = tmp_path / f"letter{suffix}"
    with zipfile.ZipFile(doc, "w") as z:  # a text document under a spreadsheet's name
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    with pytest.raises(FormatMismatchError, match=r"office document"):
        inventory_file(doc, f"in/letter{suffix}", "vector")


def test_a_workbook_without_coordinates_names_every_sheet(tmp_path: Path) -> None:
    sheets = {"People": pd.DataFrame({"name": ["a"]}), "Empty": pd.DataFrame({"x": []})}
    path = _workbook(tmp_path / "contacts.xlsx", sheets)
    with pytest.raises(NoGeometryError) as err:
        open_source(path, "in/contacts.xlsx")
    text = str(err.value)
    assert text.startswith("in/contacts.xlsx: no sheet holds coordinates")
    assert "sheet 'People': it has no coordinate columns" in text and "sheet 'Empty'" in text


def test_projected_coordinates_need_their_crs(pg_conn, pg_schema, tmp_path: Path) -> None:
    lv95 = pd.DataFrame({"name": ["Bern"], "lat": [1_199_700.0], "lon": [2_600_000.0]})
    path = _workbook(tmp_path / "lv95.xlsx", {"Points": lv95})
    with pytest.raises(CoordinateRangeError, match=r"set assume_crs"):
        publish_file(pg_conn, path, pg_schema, tmp_path)
    options = VectorOptions(assume_crs="EPSG:2056")  # Swiss LV95: E 2 600 000, N 1 200 000
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path, options=options)
    assert table.source_crs == "EPSG:2056"
    west, south, _, _ = table.bbox or (0, 0, 0, 0)
    assert west == pytest.approx(7.44, abs=0.01) and south == pytest.approx(46.95, abs=0.01)


def test_a_workbook_is_held_to_the_zip_bomb_limits(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "big.xlsx", {"Stations": STATIONS})
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/media/padding.bin", b"\0" * (8 << 20))
    with pytest.raises(TooLargeError, match=r"zip bomb"):
        open_source(path, "in/big.xlsx")


def test_published_through_the_vector_workflow_with_a_valid_item(world: World, tmp_path: Path):
    path = _workbook(tmp_path / "stations.xlsx", {"Stations": STATIONS})
    result = world.publish(world.upload("stations.xlsx", path))
    (table,) = result.tables
    assert table_facts(world.dsn, world.schema, table.table)[:3] == (3, [4326], ["MULTIPOINT"])
    (item,) = result.items
    validate_stac(item)
    assert item["properties"]["geo_platform:crs_assumed"] is True
    assert "(XLSX, 3 features)" in item["properties"]["processing:lineage"]


def test_a_sheet_without_coordinates_is_named_among_the_layers_not_published(
    world: World, tmp_path: Path
) -> None:
    """A workbook of stations and a notes sheet: the stations publish, the notes are named in
    ``failed_layers`` (the file is partial), where they were left out without a word."""
    notes = pd.DataFrame({"note": ["measured by hand", "see report"]})
    path = _workbook(tmp_path / "survey.xlsx", {"Stations": STATIONS, "Notes": notes})
    result = world.publish(world.upload("survey.xlsx", path))
    assert [t.layer for t in result.tables] == ["Stations"]
    assert list(result.failed_layers) == ["Notes"]
    assert result.failed_layers["Notes"].startswith("NoGeometryError: sheet not published: ")
    assert "coordinate" in result.failed_layers["Notes"]


ROUTES = pd.DataFrame({
    "route": ["R1", "R2"],
    "WKT": ["LINESTRING (7 46, 8 47)", "LINESTRING (8 47, 9 47)"],
})  # fmt: skip
PLACES = pd.DataFrame({"Name": ["Bern"], "Latitude": ["46.948"], "Longitude": ["7.4474"]})
"""Every cell text, as a CSV converted to a workbook (``ogr2ogr -f XLSX``) stores them."""


@pytest.mark.parametrize("suffix", [".xlsx", ".ods"])
@pytest.mark.parametrize("order", [("Routes", "Places"), ("Places", "Routes")])
@pytest.mark.parametrize("notes", [False, True], ids=["two_sheets", "notes_between"])
def test_every_sheet_with_coordinates_publishes_whatever_its_position(
    pg_conn, pg_schema, tmp_path, suffix, order, notes
):
    """GDAL's XLSX driver reads the last sheet while it opens the workbook, before the open
    option ``HEADERS=FORCE`` reaches it: a last sheet of text cells came back as Field1,
    Field2... and was left out for want of coordinate columns."""
    frames = {"Routes": ROUTES, "Places": PLACES, "Notes": pd.DataFrame({"note": ["x", "y"]})}
    names = (order[0], "Notes", order[1]) if notes else order
    sheets = {name: frames[name] for name in names}
    path = _workbook(tmp_path / f"two_sheets{suffix}", sheets)
    layers = open_source(path, f"survey/two_sheets{suffix}")
    assert [(s.name, s.driver) for s in layers] == [(n, suffix[1:].upper()) for n in order]
    tables = {t.layer: t for t in publish_file(pg_conn, path, pg_schema, tmp_path)}
    assert sorted(tables) == sorted(order)  # the notes have no coordinates: left out
    routes, places = tables["Routes"], tables["Places"]
    assert (routes.rows_loaded, routes.geometry_type, routes.srid) == (2, "MultiLineString", 4326)
    assert (places.rows_loaded, places.geometry_type, places.srid) == (1, "MultiPoint", 4326)
    assert {c.original_name for c in places.columns} >= {"Name"}
    assert {c.original_name for c in routes.columns} >= {"route"}
    rows = pg_conn.execute(
        sql.SQL("SELECT name, ST_X(ST_GeometryN(geom, 1)), ST_Y(ST_GeometryN(geom, 1)) "
                "FROM {}.{}").format(sql.Identifier(pg_schema), sql.Identifier(places.table))
    ).fetchall()  # fmt: skip
    assert rows == [("Bern", pytest.approx(7.4474), pytest.approx(46.948))]
    lines = pg_conn.execute(
        sql.SQL("SELECT route, ST_AsText(ST_GeometryN(geom, 1)) FROM {}.{} ORDER BY fid").format(
            sql.Identifier(pg_schema), sql.Identifier(routes.table))
    ).fetchall()  # fmt: skip
    assert lines == [("R1", "LINESTRING(7 46,8 47)"), ("R2", "LINESTRING(8 47,9 47)")]
