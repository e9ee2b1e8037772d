"""A layer of mixed geometry types is split by dimension; a dimension whose every feature is
dropped (a line of one repeated point, an empty polygon) gets no table and no item, and the
file publishes the rest, its drops counted (``store.vector_load._kept_kinds``). Before, its
empty table got an item without a geometry, which pgstac refused for every file of the run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from geo_platform.lib import naming
from geo_platform.lib.vector.clean import GeometryWarning
from geo_platform.store.catalog import items_of_source
from geo_platform.workflows.catalog import CatalogedSource, publish_items, read_silver_items
from geo_platform_tests.fixtures.vector_world import World, table_exists, table_facts


def _geojson(path: Path, *geometries: dict[str, Any]) -> Path:
    features = [{"type": "Feature", "properties": {"n": i}, "geometry": g}
                for i, g in enumerate(geometries)]  # fmt: skip
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


POINT = {"type": "Point", "coordinates": [7.1, 46.0]}
ONE_POINT_LINE = {"type": "LineString", "coordinates": [[7, 46], [7, 46]]}
FLAT_POLYGON = {"type": "Polygon", "coordinates": [[[7, 46], [7, 46], [7, 46], [7, 46]]]}


@pytest.mark.parametrize("dropped", [ONE_POINT_LINE, FLAT_POLYGON], ids=["line", "polygon"])
def test_a_dimension_that_keeps_no_feature_gets_no_table(
    world: World, tmp_path: Path, dropped: dict[str, Any]
) -> None:
    src = _geojson(tmp_path / "mixed.geojson", POINT, dropped, POINT)
    blob = world.upload("mixed.geojson", src)
    published = world.publish(blob)
    base = naming.table_name(blob)
    (table,) = published.tables
    assert table.table == f"{base}__points" and table.rows_loaded == 2
    assert table.rows_read == 3 and table.invalid_dropped + table.dropped_empty == 1
    assert table_facts(world.dsn, world.schema, table.table)[:3] == (2, [4326], ["MULTIPOINT"])
    gone = {f"{base}__lines", f"{base}__polygons"}
    assert not any(table_exists(world.dsn, world.schema, t) for t in gone)
    # Every item has a geometry and pgstac takes the file, beside another file of the batch.
    other = world.upload("other.geojson", _geojson(tmp_path / "other.geojson", POINT))
    world.publish(other)
    items = {b: read_silver_items(world.store, "silver", b) for b in (blob, other)}
    assert [i["geometry"] is not None for i in items[blob]] == [True]
    with world.connect() as conn:
        results = publish_items(conn, items, "vector")
        assert all(isinstance(r, CatalogedSource) for r in results.values())
        assert [i for _c, i in items_of_source(conn, blob)] == [table.table]


def test_a_layer_that_breaks_its_declared_type_is_planned_from_its_features(
    world: World, tmp_path: Path
) -> None:
    """A GeoPackage layer declared POINT holding a polygon (GDAL writes it with a warning) is
    split by dimension as an undeclared mixed layer is; the polygon is not dropped."""
    csv = tmp_path / "m.csv"
    csv.write_text(
        'WKT,n\n"POLYGON((7 46,8 46,8 47,7 46))",1\n"POINT(7 46)",2\n"POINT(7.5 46)",3\n'
    )
    gpkg = tmp_path / "declared.gpkg"
    subprocess.run(
        ["ogr2ogr", "-f", "GPKG", "-a_srs", "EPSG:4326", "-nlt", "POINT", "-nln", "pts", str(gpkg),
         str(csv), "-oo", "GEOM_POSSIBLE_NAMES=WKT", "-oo", "KEEP_GEOM_COLUMNS=NO"],
        check=True, capture_output=True,
    )  # fmt: skip
    blob = world.upload("declared.gpkg", gpkg)
    with pytest.warns(GeometryWarning, match=r"declared as Point but holds polygons"):
        published = world.publish(blob)
    base = naming.table_name(blob)
    tables = {t.kind: t for t in published.tables}
    assert sorted(tables) == ["points", "polygons"]
    assert tables["points"].table == f"{base}__points" and tables["points"].rows_loaded == 2
    assert tables["polygons"].rows_loaded == 1 and tables["polygons"].invalid_dropped == 0
    facts = table_facts(world.dsn, world.schema, tables["polygons"].table)
    assert facts[:3] == (1, [4326], ["MULTIPOLYGON"])


def test_a_layer_whose_features_are_all_dropped_is_named_beside_the_others(
    world: World, tmp_path: Path
) -> None:
    """Its features were there, and none could be kept: the file is partial, not published
    as if the layer had never held anything."""
    gpkg = tmp_path / "two.gpkg"
    for layer, rows in (("good", ['"POINT(7 46)",a']), ("hollow", ['"POINT EMPTY",b'] * 2)):
        csv = tmp_path / f"{layer}.csv"
        csv.write_text("WKT,name\n" + "\n".join(rows) + "\n")
        subprocess.run(
            ["ogr2ogr", "-f", "GPKG", *(["-update"] if gpkg.exists() else []), "-a_srs",
             "EPSG:4326", "-nlt", "POINT", "-nln", layer, str(gpkg), str(csv),
             "-oo", "GEOM_POSSIBLE_NAMES=WKT", "-oo", "KEEP_GEOM_COLUMNS=NO"],
            check=True, capture_output=True,
        )  # fmt: skip
    published = world.publish(world.upload("two.gpkg", gpkg))
    assert [t.layer for t in published.tables] == ["good"]
    assert published.failed_layers == {
        "hollow": "EmptyDatasetError: every feature was dropped: 2 with an empty geometry"
    }
