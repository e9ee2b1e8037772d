"""A CSV beside other vector files in a zip: one with coordinates publishes as a layer of its
own, one without is named among the layers not published (``lib.vector.zip_tables``); before,
both were dropped without a word. Published through ``publish_vector`` into real PostGIS."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point

from geo_platform.lib import naming
from geo_platform.lib.vector.left_out import CSV_TABLE
from geo_platform_tests.fixtures.vector_world import World, table_facts


def _delivery(tmp_path: Path) -> Path:
    shp = tmp_path / "shp" / "parcels.shp"
    shp.parent.mkdir()
    gpd.GeoDataFrame({"code": [1, 2]}, geometry=[Point(7, 46).buffer(0.01),
                     Point(7.1, 46.1).buffer(0.01)], crs="EPSG:4326").to_file(shp)  # fmt: skip
    path = tmp_path / "delivery.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for part in shp.parent.iterdir():
            zf.write(part, f"data/{part.name}")
        zf.writestr("data/wells.csv", "name;lat;lon\nW1;46.05;7.05\nW2;46.06;7.06\nW3;46.07;7.07\n")
        zf.writestr("data/codes.csv", "code,label\n1,meadow\n2,forest\n")
    return path


def test_a_csv_of_points_beside_a_shapefile_publishes_and_a_code_list_is_named(
    world: World, tmp_path: Path
) -> None:
    blob = world.upload("delivery.zip", _delivery(tmp_path))
    published = world.publish(blob)
    tables = {t.layer: t for t in published.tables}
    assert sorted(tables) == ["parcels", "wells"]
    wells = tables["wells"]
    assert wells.table == naming.table_name(blob, "wells", multi_layer=True)
    assert table_facts(world.dsn, world.schema, wells.table)[:3] == (3, [4326], ["MULTIPOINT"])
    assert wells.bbox == pytest.approx((7.05, 46.05, 7.07, 46.07))
    assert published.failed_layers == {"data/codes.csv": CSV_TABLE}
    assert len(published.items) == 2
