"""Zips inside a zip (one level: a delivery of zipped Shapefiles and other files) publish like
the files in the outer zip, with the same safety checks on the inner archives."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from geo_platform.lib.errors import TooLargeError, UnsafeArchiveError
from geo_platform.lib.gdal_paths import split_nested, split_vsizip, vsizip
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.vector.read import open_source
from geo_platform_tests.lib.vector.conftest import publish_file
from geo_platform_tests.lib.vector.test_fuzz_findings import _rows
from geo_platform_tests.lib.vector.test_publish import _db_check
from geo_platform_tests.lib.vector.test_zip_shapefiles import _shapefile, _zip


def _geojson(path: Path) -> Path:
    points = [("bay", -33.9, 18.4), ("cape", -34.3, 18.5), ("hill", -33.8, 18.6)]
    features = [
        {"type": "Feature", "properties": {"name": n},
         "geometry": {"type": "Point", "coordinates": [x, y]}}
        for n, y, x in points
    ]  # fmt: skip
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _delivery(tmp_path: Path) -> Path:
    """outer.zip: regions/north.zip (a Shapefile in a folder), south.zip (a GeoJSON),
    readme.txt."""
    parts = _shapefile(tmp_path / "n", [1, 2])
    north = _zip(tmp_path / "north.zip", {f"shp/north{p.suffix}": p for p in parts})
    south = _zip(tmp_path / "south.zip", {"south.geojson": _geojson(tmp_path / "south.geojson")})
    readme = tmp_path / "readme.txt"
    readme.write_text("two regions")
    with zipfile.ZipFile(tmp_path / "outer.zip", "w", zipfile.ZIP_STORED) as zf:
        zf.write(north, "regions/north.zip")
        zf.write(south, "south.zip")
        zf.write(readme, "readme.txt")
    return tmp_path / "outer.zip"


def test_gdal_paths_of_members_of_a_zip_in_the_zip(tmp_path: Path) -> None:
    assert split_nested("regions/north.zip/shp/north.shp") == ("regions/north.zip", "shp/north.shp")
    assert split_nested("regions/north.shp") == ("regions/north.shp", None)
    assert split_nested("a.zip") == ("a.zip", None)  # the inner zip itself
    outer = tmp_path / "outer.zip"
    outer.touch()
    path = vsizip(outer, "south.zip/south.csv")
    assert path == f"/vsizip/{{/vsizip/{outer.resolve()}/south.zip}}/south.csv"
    assert split_vsizip(path) == (outer.resolve(), "south.zip/south.csv")


def test_zips_in_a_zip_publish_each_file(pg_conn, pg_schema, tmp_path):
    path = _delivery(tmp_path)
    layers = open_source(path, "v/outer.zip")
    assert sorted((s.name, s.driver) for s in layers) == [
        ("regions/north.zip/shp/north", "ESRI Shapefile"),  # named by its path (issue 17)
        ("south", "GeoJSON"),
    ]
    inv = inventory_file(path, "v/outer.zip", "vector")
    assert inv.features == 5
    tables = {
        t.layer: t for t in publish_file(pg_conn, path, pg_schema, tmp_path, blob="v/outer.zip")
    }
    for t in tables.values():
        _db_check(pg_conn, t)
    assert _rows(pg_conn, pg_schema, tables["regions/north.zip/shp/north"].table, ["v"]) == [
        (1,),
        (2,),
    ]
    assert _rows(pg_conn, pg_schema, tables["south"].table, ["name"]) == [
        ("bay",),
        ("cape",),
        ("hill",),
    ]


def test_a_csv_in_a_zip_in_the_zip(pg_conn, pg_schema, tmp_path):
    csv = tmp_path / "stations.csv"
    csv.write_text("name,lat,lon\nbay,-33.9,18.4\ncape,-34.3,18.5\n")
    inner = _zip(tmp_path / "stations.zip", {"stations.csv": csv})
    outer = _zip(tmp_path / "outer.zip", {"data/stations.zip": inner})
    (t,) = publish_file(pg_conn, outer, pg_schema, tmp_path, blob="v/outer.zip")
    _db_check(pg_conn, t)
    assert t.driver == "CSV" and t.rows_loaded == 2


def test_inner_archives_get_the_same_safety_checks(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../etc/cron.d/x.geojson", "{}")
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        zf.write(evil, "evil.zip")
    with pytest.raises(UnsafeArchiveError, match=r"evil\.zip/\.\./\.\./etc"):
        open_source(outer, "v/outer.zip")
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.geojson", b"\x00" * (64 * 1024 * 1024))
    outer2 = tmp_path / "outer2.zip"
    with zipfile.ZipFile(outer2, "w", zipfile.ZIP_STORED) as zf:
        zf.write(bomb, "bomb.zip")
    with pytest.raises(TooLargeError, match=r"bomb\.zip/zeros\.geojson"):
        open_source(outer2, "v/outer2.zip")
