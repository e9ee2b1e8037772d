"""Issue 17: Shapefiles anywhere inside a zip are found, one table per Shapefile, named by its
path inside the zip; vectors are recognised by content; odd file names publish."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point

from geo_platform.lib import naming
from geo_platform.lib.errors import FormatMismatchError, UnreadableFileError
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.vector.batches import iter_batches
from geo_platform.lib.vector.read import open_source
from geo_platform_tests.lib.vector.conftest import publish_file
from geo_platform_tests.lib.vector.test_fuzz_findings import _rows, _table_count
from geo_platform_tests.lib.vector.test_publish import _db_check

ODD = "a;b,c #d !e ?f 'g\" {h}"


def _shapefile(folder: Path, values: list[int]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    gdf = gpd.GeoDataFrame(
        {"v": values}, geometry=[Point(10 + i, 50) for i in range(len(values))], crs=4326
    )
    gdf.to_file(folder / "part.shp")
    return sorted(folder.glob("part.*"))


def _zip(path: Path, members: dict[str, Path]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for inner, src in members.items():
            zf.write(src, inner)
    return path


def _zipped(tmp_path: Path, layout: dict[str, list[int]], name: str = "data.zip") -> Path:
    """A zip with one Shapefile per ``folder/stem`` key of ``layout`` (values: attribute v)."""
    members: dict[str, Path] = {}
    for i, (inner, values) in enumerate(layout.items()):
        for part in _shapefile(tmp_path / f"src{i}", values):
            members[inner + part.suffix] = part
    return _zip(tmp_path / name, members)


def test_shapefile_in_a_subfolder_passes_bronze_and_publishes(pg_conn, pg_schema, tmp_path):
    """GDAL cannot open such a zip as a whole ('not recognized as being in a supported file
    format'): the bronze stage refused it."""
    path = _zipped(tmp_path, {"export/2024/parcels": [1, 2, 3]})
    inv = inventory_file(path, "v/data.zip", "vector")
    assert (inv.driver, inv.features, inv.crs) == ("ESRI Shapefile", 3, "EPSG:4326")
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path, blob="v/data.zip")
    _db_check(pg_conn, t)
    assert t.table == naming.table_name("v/data.zip") and t.rows_loaded == 3


def test_every_shapefile_of_a_zip_is_its_own_table_named_by_its_path(pg_conn, pg_schema, tmp_path):
    layout = {
        "data/roads/roads": [1],
        "data/rivers/roads": [2, 3],  # same stem, other folder
        "data/lakes": [4, 5, 6],
    }
    path = _zipped(tmp_path, layout)
    layers = open_source(path, "v/data.zip")
    assert sorted(s.name for s in layers) == ["lakes", "rivers/roads", "roads/roads"]
    inv = inventory_file(path, "v/data.zip", "vector")
    assert sorted(layer["name"] for layer in inv.layers) == sorted(s.name for s in layers)
    assert inv.features == 6
    tables = publish_file(pg_conn, path, pg_schema, tmp_path, blob="v/data.zip")
    by_layer = {t.layer: t for t in tables}
    assert set(by_layer) == {"lakes", "rivers/roads", "roads/roads"}
    assert _table_count(pg_conn, pg_schema) == 3
    for layer, t in by_layer.items():
        _db_check(pg_conn, t)
        assert t.table == naming.table_name("v/data.zip", layer, multi_layer=True)
    assert _rows(pg_conn, pg_schema, by_layer["rivers/roads"].table, ["v"]) == [(2,), (3,)]
    assert "rivers_roads" in by_layer["rivers/roads"].table
    assert "roads_roads" in by_layer["roads/roads"].table


def test_zip_recognised_by_content_without_extension(tmp_path):
    path = _zipped(tmp_path, {"a/pts": [1, 2], "b/more": [3]}, name="download")
    names = sorted(s.name for s in open_source(path, "v/download"))
    assert names == ["a/pts", "b/more"]
    assert inventory_file(path, "v/download", "vector").features == 3


def test_vectors_are_read_by_content_whatever_their_name(tmp_path):
    gpkg = tmp_path / "parks.geojson"  # a GeoPackage under a GeoJSON name
    gpd.GeoDataFrame({"v": [1]}, geometry=[Point(1, 2)], crs=4326).to_file(tmp_path / "real.gpkg")
    shutil.copy(tmp_path / "real.gpkg", gpkg)
    (src,) = open_source(gpkg, "v/parks.geojson")
    assert src.driver == "GPKG" and sum(b.num_rows for b in iter_batches(src)) == 1
    csv = tmp_path / "stations.txt"
    csv.write_text("id,latitude,longitude\n1,48.1,11.5\n")
    (src,) = open_source(csv, "v/stations.txt")
    assert (src.driver, src.name) == ("CSV", "stations")
    assert sum(b.num_rows for b in iter_batches(src)) == 1


def test_vector_names_with_odd_characters_publish(pg_conn, pg_schema, tmp_path):
    gdf = gpd.GeoDataFrame({"v": [1, 2]}, geometry=[Point(1, 2), Point(3, 4)], crs=4326)
    gdf.to_file(tmp_path / "plain.gpkg")
    odd = tmp_path / f"{ODD}.gpkg"
    shutil.copy(tmp_path / "plain.gpkg", odd)
    blob = f"v/{ODD}.gpkg"
    assert inventory_file(odd, blob, "vector").features == 2
    (t,) = publish_file(pg_conn, odd, pg_schema, tmp_path, blob=blob)
    _db_check(pg_conn, t)
    assert t.rows_loaded == 2
    zipped = _zipped(tmp_path, {f"{ODD}/{ODD}": [7]}, name=f"{ODD}.zip")
    assert inventory_file(zipped, f"v/{ODD}.zip", "vector").features == 1
    (t,) = publish_file(pg_conn, zipped, pg_schema, tmp_path, blob=f"v/{ODD}.zip")
    assert _rows(pg_conn, pg_schema, t.table, ["v"]) == [(7,)]


def _unflagged_utf8_zip(tmp_path: Path, names: dict[str, list[int]]) -> Path:
    """A zip as Info-ZIP ``zip`` and macOS write it: UTF-8 member names without the UTF-8
    flag (ASCII placeholders of the same byte length are written, then patched)."""
    placeholders = {n: "Q" * len(n.encode()) for n in names}
    path = _zipped(tmp_path, {placeholders[n]: v for n, v in names.items()}, "infozip.zip")
    data = path.read_bytes()
    for real, fake in placeholders.items():
        data = data.replace(fake.encode(), real.encode())
    path.write_bytes(data)
    with zipfile.ZipFile(path) as zf:  # as every reader sees it: CP437 mojibake
        assert all(not i.flag_bits & 0x800 for i in zf.infolist())
        assert "stra├ƒen.shp" in zf.namelist()
    return path


def test_utf8_member_names_without_the_flag_are_read_as_written(pg_conn, pg_schema, tmp_path):
    path = _unflagged_utf8_zip(tmp_path, {"straßen": [1, 2], "flüsse": [3]})
    layers = open_source(path, "v/infozip.zip")
    assert sorted(s.name for s in layers) == ["flüsse", "straßen"]
    tables = publish_file(pg_conn, path, pg_schema, tmp_path, blob="v/infozip.zip")
    assert sorted((t.layer, t.rows_loaded) for t in tables) == [("flüsse", 1), ("straßen", 2)]
    for t in tables:
        _db_check(pg_conn, t)
        assert t.table == naming.table_name("v/infozip.zip", t.layer, multi_layer=True)


def test_an_encrypted_member_is_named_as_written(tmp_path):
    path = _unflagged_utf8_zip(tmp_path, {"straßen": [1]})
    data = bytearray(path.read_bytes())
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set the encrypted bit
        start = 0
        while (at := data.find(sig, start)) >= 0:
            data[at + flag_at] |= 0x1
            start = at + 4
    path.write_bytes(bytes(data))
    with pytest.raises(UnreadableFileError, match=r"v/locked\.zip.*'straßen\.\w+' is encrypted"):
        open_source(path, "v/locked.zip")


def test_plain_json_beside_the_data_is_not_a_layer(pg_conn, pg_schema, tmp_path):
    """A data portal's download: the Shapefile with ``datapackage.json`` and ``metadata.json``
    (plain JSON, not GeoJSON). Before, GDAL was asked to read them and the whole zip failed."""
    path = _zipped(tmp_path, {"parcels": [1, 2, 3]}, "portal.zip")
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("datapackage.json", '{"name": "parcels", "resources": [{"path": "x"}]}')
        zf.writestr("meta/metadata.json", '{"title": "Parcels 2024"}')
        point = '{"type": "Point", "coordinates": [4, 52]}'
        feature = f'{{"type": "Feature", "properties": {{"n": 1}}, "geometry": {point}}}'
        zf.writestr("pois.json", f'{{"type": "FeatureCollection", "features": [{feature}]}}')
    assert sorted(s.name for s in open_source(path, "v/portal.zip")) == ["parcels", "pois"]
    inv = inventory_file(path, "v/portal.zip", "vector")
    assert sorted(layer["name"] for layer in inv.layers) == ["parcels", "pois"]
    tables = publish_file(pg_conn, path, pg_schema, tmp_path, blob="v/portal.zip")
    assert sorted(t.rows_loaded for t in tables) == [1, 3]
    only = tmp_path / "only.zip"
    with zipfile.ZipFile(only, "w") as zf:
        zf.writestr("datapackage.json", '{"name": "nothing"}')
    with pytest.raises(FormatMismatchError, match=r"v/only\.zip"):
        open_source(only, "v/only.zip")


def test_parts_named_with_their_stem_in_other_cases_are_found(pg_conn, pg_schema, tmp_path):
    """``Villes.shp`` beside ``VILLES.dbf`` and ``villes.shx`` (zipped on Windows, where names
    ignore case): GDAL reads the zip in place, case-sensitively, and found no .shx/.dbf."""
    folder = tmp_path / "parts"
    folder.mkdir()
    gpd.GeoDataFrame(
        {"nom": ["Orléans", "Besançon", "Nîmes"]},
        geometry=[Point(1.9, 47.9), Point(6.0, 47.2), Point(4.4, 43.8)],
        crs="EPSG:4326",
    ).to_file(folder / "villes.shp", encoding="ISO-8859-1")
    cased = {".shp": "Villes", ".dbf": "VILLES"}
    zipped = tmp_path / "villes.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for part in sorted(folder.iterdir()):
            zf.write(part, cased.get(part.suffix, "villes") + part.suffix)
    (table,) = publish_file(pg_conn, zipped, pg_schema, tmp_path)
    assert table.rows_loaded == 3
    names = pg_conn.execute(f'SELECT nom FROM "{pg_schema}"."{table.table}" ORDER BY fid')
    assert [n for (n,) in names.fetchall()] == ["Orléans", "Besançon", "Nîmes"]
