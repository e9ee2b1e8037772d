"""Shapefiles without their ``.shx`` index (``lib/vector/shx.py``): the index is rebuilt in a
private folder, byte for byte what GDAL writes, and the file publishes in real PostGIS, loose or
zipped; the bronze folder is never written; a truncated ``.shp`` is refused saying so."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point, Polygon

from geo_platform.lib.errors import UnreadableFileError
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.vector import shx
from geo_platform_tests.lib.vector.conftest import publish_file
from geo_platform_tests.lib.vector.test_publish import _db_check


def _shapefile(folder: Path, kind: str = "polygons") -> Path:
    folder.mkdir(exist_ok=True)
    geoms = {
        "polygons": [Polygon([(5, 52), (6, 52), (6, 53)]), None,
                     Polygon([(7, 50), (8, 50), (8, 51), (7, 51)])],
        "lines": [LineString([(5, 52), (6, 53)]), LineString([(1, 1), (2, 2), (3, 1)]), None],
        "points": [Point(5, 52), Point(6, 53), Point(7, 54)],
    }[kind]  # fmt: skip
    frame = gpd.GeoDataFrame({"n": range(len(geoms))}, geometry=geoms, crs="EPSG:4326")
    path = folder / "parcels.shp"
    frame.to_file(path)
    return path


@pytest.mark.parametrize("kind", ["polygons", "lines", "points"])
def test_the_rebuilt_index_is_what_gdal_writes(tmp_path: Path, kind: str) -> None:
    shp = _shapefile(tmp_path / "src", kind)
    assert shx.write_shx(shp, tmp_path / "rebuilt.shx", "x/parcels.shp") == 3
    assert (tmp_path / "rebuilt.shx").read_bytes() == shp.with_suffix(".shx").read_bytes()


def test_a_loose_shapefile_without_its_index_publishes(pg_conn, pg_schema, tmp_path) -> None:
    shp = _shapefile(tmp_path / "bronze")
    shp.with_suffix(".shx").unlink()
    before = sorted(p.name for p in shp.parent.iterdir())
    (table,) = publish_file(pg_conn, shp, pg_schema, tmp_path)
    _db_check(pg_conn, table)
    assert table.rows_loaded == 2 and table.dropped_null == 1
    inv = inventory_file(shp, "x/parcels.shp", "vector")
    assert inv.features == 3 and "bronze" not in str(inv.as_dict())
    assert sorted(p.name for p in shp.parent.iterdir()) == before  # bronze never written


def test_a_zipped_shapefile_without_its_index_publishes(pg_conn, pg_schema, tmp_path) -> None:
    shp = _shapefile(tmp_path / "src")
    path = tmp_path / "parcels.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for ext in (".shp", ".dbf", ".prj", ".cpg"):
            archive.write(shp.with_suffix(ext), f"data/parcels{ext}")
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, table)
    assert table.rows_loaded == 2
    assert inventory_file(path, "x/parcels.zip", "vector").features == 3


def test_a_truncated_shp_without_its_index_is_refused(tmp_path: Path) -> None:
    shp = _shapefile(tmp_path / "src")
    shp.with_suffix(".shx").unlink()
    shp.write_bytes(shp.read_bytes()[:-20])
    with pytest.raises(UnreadableFileError) as err:
        shx.indexed(shp, "x/parcels.shp")
    assert "truncated" in str(err.value) and "x/parcels.shp" in str(err.value)
