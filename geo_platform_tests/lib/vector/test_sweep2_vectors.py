"""Findings of the second vector robustness sweep: Windows text in DBFs, CSV coordinate-range
messages, empty GeometryCollections in the counts, KML files of styles only."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import psycopg
import pytest
from psycopg import sql
from shapely.geometry import Point

from geo_platform.lib.errors import CoordinateRangeError, DecodingError, EmptyDatasetError
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.vector.options import VectorOptions
from geo_platform_tests.lib.vector.conftest import publish_file

NAMES = ["Zürich – Ost", "l’Église “neuve”", "Cœur € Š"]  # cp1252-only characters


def _values(conn: psycopg.Connection[Any], schema: str, table: str, column: str) -> list[Any]:
    query = sql.SQL("SELECT {} FROM {}.{} ORDER BY fid").format(
        sql.Identifier(column), sql.Identifier(schema), sql.Identifier(table)
    )
    return [r[0] for r in conn.execute(query).fetchall()]


def _shapefile(folder: Path, names: list[str], cpg: str | None, ldid: int) -> Path:
    """villes.shp in ``folder``: ``names`` in cp1252 bytes, the DBF's LDID set, a ``.cpg``
    holding ``cpg`` (none for None)."""
    folder.mkdir()
    shp = folder / "villes.shp"
    points = [Point(i, 45) for i in range(len(names))]
    gdf = gpd.GeoDataFrame({"nom": names}, geometry=points, crs="EPSG:4326")
    gdf.to_file(shp, encoding="cp1252")
    dbf = bytearray((folder / "villes.dbf").read_bytes())
    dbf[29] = ldid
    (folder / "villes.dbf").write_bytes(bytes(dbf))
    (folder / "villes.cpg").unlink()
    if cpg is not None:
        (folder / "villes.cpg").write_text(cpg)
    return shp


def _zipped(shp: Path) -> Path:
    dest = shp.parent.parent / "villes.zip"
    with zipfile.ZipFile(dest, "w") as zf:
        for part in sorted(shp.parent.iterdir()):
            zf.write(part, part.name)
    return dest


# finding 5: LDID 0x57 ("ANSI") without a .cpg is Windows text, not ISO-8859-1 -------------------
def test_dbf_with_ldid_ansi_and_no_cpg_is_read_as_cp1252(pg_conn, pg_schema, tmp_path):
    shp = _shapefile(tmp_path / "loose", NAMES, None, 0x57)
    (t,) = publish_file(pg_conn, shp, pg_schema, tmp_path)
    assert _values(pg_conn, pg_schema, t.table, "nom") == NAMES
    (t,) = publish_file(pg_conn, _zipped(shp), pg_schema, tmp_path)
    assert _values(pg_conn, pg_schema, t.table, "nom") == NAMES


@pytest.mark.parametrize("cpg", ["ANSI 1252", "windows-1252", "ISO-8859-1", "ANSI"])
def test_cpg_naming_the_windows_code_page_is_read_as_cp1252(pg_conn, pg_schema, tmp_path, cpg):
    shp = _shapefile(tmp_path / "in", NAMES, cpg, 0)
    (t,) = publish_file(pg_conn, _zipped(shp), pg_schema, tmp_path)
    assert _values(pg_conn, pg_schema, t.table, "nom") == NAMES


def test_byte_undefined_in_cp1252_keeps_gdals_latin1(pg_conn, pg_schema, tmp_path):
    """0x81 has no character in cp1252: the DBF is read as GDAL reads it (ISO-8859-1)."""
    shp = _shapefile(tmp_path / "odd", ["Liège", "ab?"], None, 0x57)
    dbf = (shp.parent / "villes.dbf").read_bytes()
    (shp.parent / "villes.dbf").write_bytes(dbf.replace(b"ab?", b"ab\x81"))
    (t,) = publish_file(pg_conn, shp, pg_schema, tmp_path)
    assert _values(pg_conn, pg_schema, t.table, "nom") == ["Liège", "ab\u0081"]


def test_unknown_cpg_is_named_in_the_decoding_error(pg_conn, pg_schema, tmp_path):
    shp = _shapefile(tmp_path / "bogus", NAMES, "BOGUS-ENC", 0)
    with pytest.raises(DecodingError, match=r"villes\.zip: .*\.cpg names the encoding 'BOGUS-ENC'"):
        publish_file(pg_conn, _zipped(shp), pg_schema, tmp_path)
    ascii_only = _shapefile(tmp_path / "plain", ["Lyon", "Nantes"], "BOGUS-ENC", 0)
    (t,) = publish_file(pg_conn, ascii_only, pg_schema, tmp_path)  # nothing to decode
    assert _values(pg_conn, pg_schema, t.table, "nom") == ["Lyon", "Nantes"]


# finding 4: CSV coordinate-range errors say what is wrong and where -----------------------------
def _csv(path: Path, rows: list[tuple[str, float, float]]) -> Path:
    path.write_text("name,lat,lon\n" + "".join(f"{n},{lat},{lon}\n" for n, lat, lon in rows))
    return path


def test_swapped_csv_columns_are_named_as_such(pg_conn, pg_schema, tmp_path):
    path = _csv(tmp_path / "syd.csv", [("Sydney", 151.2093, -33.8688), ("Perth", 115.86, -31.95)])
    with pytest.raises(CoordinateRangeError) as err:
        publish_file(pg_conn, path, pg_schema, tmp_path)
    message = str(err.value)
    assert message.startswith("vectors/") and "syd.csv: " in message
    assert "at rows 1 (lon=-33.8688, lat=151.2093), 2 (lon=-31.95, lat=115.86)" in message
    assert "look swapped" in message and "lat_column and lon_column" in message
    assert "UTM" not in message


def test_csv_longitudes_0_to_360_say_how_to_wrap_them(pg_conn, pg_schema, tmp_path):
    path = _csv(tmp_path / "fiji.csv", [("A", -17.7, 178.4), ("B", -18.1, 181.2)])
    with pytest.raises(CoordinateRangeError) as err:
        publish_file(pg_conn, path, pg_schema, tmp_path)
    message = str(err.value)
    assert "fiji.csv: " in message and "at row 2 (lon=181.2, lat=-18.1)" in message
    assert "0..360 convention" in message and "set assume_crs to EPSG:4326" in message
    assert "UTM" not in message
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path, VectorOptions(assume_crs="EPSG:4326"))
    assert t.rows_loaded == 2 and t.wrapped == 1  # the advice works


def test_one_typo_row_in_a_csv_is_named_by_row(pg_conn, pg_schema, tmp_path):
    """The typo lies beyond the sampled rows: the full load's check names it."""
    rows = [(f"p{i}", 50.0 + i / 10_000, 4.0 + i / 10_000) for i in range(5001)]
    rows[4899] = ("typo", 95.1, 4.2)
    path = _csv(tmp_path / "pts.csv", rows)
    with pytest.raises(CoordinateRangeError) as err:
        publish_file(pg_conn, path, pg_schema, tmp_path)
    message = str(err.value)
    assert "pts.csv: " in message and "at row 4900 (lon=4.2, lat=95.1)" in message
    assert "only 1 of 5001 coordinates are out of range" in message
    assert "swapped" not in message
    sampled = _csv(tmp_path / "few.csv", [("A", 50.1, 4.1), ("B", 95.0, 4.2), ("C", 50.3, 4.3)])
    with pytest.raises(CoordinateRangeError, match=r"few\.csv: .*at row 2 \(lon=4\.2, lat=95\.0\)"):
        publish_file(pg_conn, sampled, pg_schema, tmp_path)


# finding 7: an empty GeometryCollection is counted -----------------------------------------------
def _collections(path: Path) -> Path:
    square = [[[10, 10], [11, 10], [11, 11], [10, 11], [10, 10]]]
    geometries = [
        {"type": "GeometryCollection", "geometries": [{"type": "Polygon", "coordinates": square}]},
        {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
        {"type": "GeometryCollection", "geometries": []},
        {"type": "Polygon", "coordinates": square},
    ]
    features = [
        {"type": "Feature", "properties": {"n": i}, "geometry": g} for i, g in enumerate(geometries)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_empty_geometry_collection_is_counted_as_dropped_empty(pg_conn, pg_schema, tmp_path):
    path = _collections(tmp_path / "gc.geojson")
    tables = publish_file(pg_conn, path, pg_schema, tmp_path)
    assert sum(t.rows_read for t in tables) == 4
    assert sum(t.dropped_empty for t in tables) == 1
    assert sum(t.rows_loaded for t in tables) == 3
    first = tables[0]
    assert first.dropped_empty == 1 and first.rows_loaded == first.rows_read - 1


def test_kept_empty_geometry_collection_is_the_tables_empty_type(pg_conn, pg_schema, tmp_path):
    path = _collections(tmp_path / "gc.geojson")
    options = VectorOptions(keep_empty_geometries=True)
    tables = publish_file(pg_conn, path, pg_schema, tmp_path, options)
    assert sum(t.rows_loaded for t in tables) == 4 and sum(t.dropped_empty for t in tables) == 0
    query = sql.SQL("SELECT n, ST_AsText(geom) FROM {}.{} WHERE ST_IsEmpty(geom)").format(
        sql.Identifier(pg_schema), sql.Identifier(tables[0].table)
    )
    ((n, wkt),) = pg_conn.execute(query).fetchall()
    assert n == 2 and wkt == f"{tables[0].geometry_type.upper()} EMPTY"


# finding 12b: a KML of styles only ------------------------------------------------------------
KML_STYLES = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
<Style id="s1"><LineStyle><color>ff0000ff</color></LineStyle></Style>
<StyleMap id="m"><Pair><key>normal</key><styleUrl>#s1</styleUrl></Pair></StyleMap>
</Document></kml>
"""


def test_kml_of_styles_only_says_it_holds_no_placemarks(pg_conn, pg_schema, tmp_path):
    path = tmp_path / "styles.kml"
    path.write_text(KML_STYLES)
    expected = r"styles\.kml: the KML holds no placemarks \(only styles"
    with pytest.raises(EmptyDatasetError, match=expected):
        inventory_file(path, "vectors/k/styles.kml", "vector")  # the bronze stage
    with pytest.raises(EmptyDatasetError, match=expected):
        publish_file(pg_conn, path, pg_schema, tmp_path)
    folder = tmp_path / "folder.kml"  # an empty Folder is a layer: reported as before
    folder.write_text(
        KML_STYLES.replace("</Document>", "<Folder><name>f</name></Folder></Document>")
    )
    assert [layer["name"] for layer in inventory_file(folder, "v/folder.kml", "vector").layers] == [
        "f"
    ]


def _kml(name: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2">'
        f"<Document><name>{name}</name><Placemark><name>p-{name}</name>"
        "<Point><coordinates>1,2</coordinates></Point></Placemark></Document></kml>"
    )


def test_a_kmz_names_the_kml_documents_it_does_not_read(world, tmp_path):
    """GDAL (as Google Earth) reads a KMZ's first KML only: a second one was ignored silently;
    it is now named among the layers not published (the file is partial)."""
    path = tmp_path / "trip.kmz"
    with zipfile.ZipFile(path, "w") as kmz:
        kmz.writestr("doc.kml", _kml("doc"))
        kmz.writestr("files/extra.kml", _kml("extra"))
    result = world.publish(world.upload("trip.kmz", path))
    assert [t.rows_loaded for t in result.tables] == [1]
    assert list(result.failed_layers) == ["files/extra.kml"]
    assert "first KML document only" in result.failed_layers["files/extra.kml"]
