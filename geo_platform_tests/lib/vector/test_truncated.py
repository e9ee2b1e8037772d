"""Files cut short that GDAL reads without a word are refused, naming the file and what is
missing (``lib.vector.truncated``); the same files whole publish every feature."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point

from geo_platform.lib.errors import UnreadableFileError
from geo_platform_tests.lib.vector.conftest import publish_file


def _shapefile(folder: Path, rows: int = 200) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame = gpd.GeoDataFrame(
        {"name": [f"place {i}" for i in range(rows)], "value": list(range(rows))},
        geometry=[Point(i * 0.01, 45 + i * 0.01).buffer(0.004) for i in range(rows)],
        crs="EPSG:4326",
    )
    path = folder / "places.shp"
    frame.to_file(path)
    return path


def _cut(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("part", [".shp", ".dbf", ".shx"])
def test_a_shapefile_part_cut_short_is_refused(pg_conn, pg_schema, tmp_path, part):
    shp = _shapefile(tmp_path / "loose")
    _cut(shp.with_suffix(part), 0.5)
    with pytest.raises(UnreadableFileError, match=rf"places\{part} is truncated") as err:
        publish_file(pg_conn, shp, pg_schema, tmp_path)
    assert "places.shp" in str(err.value)  # the blob
    tables = pg_conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (pg_schema,))
    assert tables.fetchone()[0] == 0  # nothing half-published


def test_a_zipped_shapefile_cut_short_is_refused(pg_conn, pg_schema, tmp_path):
    shp = _shapefile(tmp_path / "parts")
    _cut(shp.with_suffix(".dbf"), 0.6)
    zipped = tmp_path / "places.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for f in shp.parent.iterdir():
            zf.write(f, f"data/{f.name}")
    with pytest.raises(UnreadableFileError, match=r"data/places\.dbf is truncated: its header "
                       r"gives 200 records"):  # fmt: skip
        publish_file(pg_conn, zipped, pg_schema, tmp_path)


def test_whole_shapefiles_publish_every_feature(pg_conn, pg_schema, tmp_path):
    shp = _shapefile(tmp_path / "whole")
    with shp.open("ab") as fh:
        fh.write(b"\0" * 100)  # longer than its header says: tolerated, as GDAL does
    (table,) = publish_file(pg_conn, shp, pg_schema, tmp_path)
    assert table.rows_loaded == 200 and table.dropped_null == 0


def _features(n: int) -> list[dict]:
    return [{"type": "Feature", "properties": {"name": f"a \"quoted\" name {i}"},
             "geometry": {"type": "Polygon", "coordinates": [[[i, 0], [i + 0.5, 0],
                                                              [i + 0.5, 0.5], [i, 0]]]}}
            for i in range(n)]  # fmt: skip


def test_a_geojson_sequence_cut_short_is_refused(pg_conn, pg_schema, tmp_path):
    seq = tmp_path / "parcels.geojsonl"
    seq.write_text("".join(json.dumps(f) + "\n" for f in _features(20)))
    whole = seq.read_text()
    seq.write_text(whole[: len(whole) - 40])
    with pytest.raises(UnreadableFileError, match=r"last record is cut short"):
        publish_file(pg_conn, seq, pg_schema, tmp_path)
    seq.write_text("\x1e" + whole.replace("\n", "\n\x1e"))  # RFC 8142 separators, whole
    (table,) = publish_file(pg_conn, seq, pg_schema, tmp_path)
    assert table.rows_loaded == 20


def test_a_csv_cut_inside_a_quoted_field_is_refused(pg_conn, pg_schema, tmp_path):
    rows = [f'"POLYGON (({i} 0, {i}.5 0, {i}.5 0.5, {i} 0))","a ""quoted"" name"'
            for i in range(30)]  # fmt: skip
    csv = tmp_path / "parcels.csv"
    csv.write_text("WKT,name\n" + "\n".join(rows) + "\n")
    (table,) = publish_file(pg_conn, csv, pg_schema, tmp_path)  # whole, doubled quotes: fine
    assert table.rows_loaded == 30
    csv.write_text("WKT,name\n" + "\n".join(rows)[:-30])
    with pytest.raises(UnreadableFileError, match=r"a quoted field never closes"):
        publish_file(pg_conn, csv, pg_schema, tmp_path, blob="vectors/cut/parcels.csv")


GPX = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!-- exported -->\n'
    '<gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">\n'
    + "".join(f'<wpt lat="47.{i}" lon="8.{i}"><name>p{i}</name></wpt>\n' for i in range(9))
    + "</gpx>\n"
)


def test_a_gpx_cut_short_is_refused_and_a_whole_one_publishes(pg_conn, pg_schema, tmp_path):
    path = tmp_path / "walk.gpx"
    path.write_text(GPX + "<!-- trailing comment -->\n")
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    assert table.rows_loaded == 9
    path.write_text(GPX[: len(GPX) // 2])
    with pytest.raises(UnreadableFileError, match=r"does not end with </gpx>.*truncated"):
        publish_file(pg_conn, path, pg_schema, tmp_path, blob="vectors/cut/walk.gpx")
