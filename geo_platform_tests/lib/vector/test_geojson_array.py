"""A JSON array of GeoJSON Features (``[{"type": "Feature", ...}]``, as some APIs export them)
publishes like a FeatureCollection; it failed with "GDAL recognises no vector format". Real
PostGIS, through the bronze inventory and the vector workflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geo_platform.lib.errors import FormatMismatchError
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.vector.geojson_array import is_array
from geo_platform_tests.fixtures.vector_world import World, table_facts

FEATURES = [
    {"geometry": {"type": "Point", "coordinates": [5.0 + i, 52.0]}, "type": "Feature",
     "properties": {"name": f"site {i}", "n": i}}
    for i in range(3)
]  # fmt: skip


def test_an_array_of_features_publishes(world: World, tmp_path: Path) -> None:
    path = tmp_path / "sites.json"  # a BOM, white space, geometry before type
    path.write_bytes(b"\xef\xbb\xbf\n  " + json.dumps(FEATURES, indent=1).encode())
    assert is_array(path)
    inv = inventory_file(path, "api/sites.json", "vector")
    assert inv.features == 3 and inv.driver == "GeoJSON"
    result = world.publish(world.upload("sites.json", path))
    (table,) = result.tables
    assert table_facts(world.dsn, world.schema, table.table)[:3] == (3, [4326], ["MULTIPOINT"])
    assert {c.name for c in table.columns} >= {"name", "n"}
    (item,) = result.items
    validate_stac(item)
    assert item["bbox"] == [5.0, 52.0, 7.0, 52.0]


def test_other_json_arrays_are_not_taken_for_features(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([{"name": "a", "lat": 52, "lon": 5}]))
    assert not is_array(path)
    with pytest.raises(FormatMismatchError, match=r"rows\.json"):
        inventory_file(path, "api/rows.json", "vector")
