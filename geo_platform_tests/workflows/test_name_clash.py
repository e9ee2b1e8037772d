"""Two bronze files that would publish to the same table (``roads.geojson`` and ``roads.gpkg`` in
one folder) or the same silver folder (``Scene.tif`` and ``scene.tif``): the second is refused
with a ``NameClashError`` naming both, and the first file's table, split siblings, COGs and items
stay as they were. Real PostGIS and pgstac, a local store."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import psycopg
import pytest
from psycopg import sql
from shapely.geometry import LineString, Point

from geo_platform.lib import naming
from geo_platform.lib.errors import NameClashError
from geo_platform.store.table_owner import PREFIX, table_source
from geo_platform.workflows.publish_raster import RasterSettings, publish_raster
from geo_platform_tests.fixtures.helpers import TESTDATA
from geo_platform_tests.fixtures.vector_world import World, table_exists, table_facts


def _points(path: Path, n: int, layer: str | None = None) -> Path:
    frame = gpd.GeoDataFrame(
        {"k": list(range(n))}, geometry=[Point(i, i) for i in range(n)], crs="EPSG:4326"
    )
    frame.to_file(path, layer=layer)
    return path


def _mixed_geojson(path: Path) -> Path:
    features = [
        {"type": "Feature", "properties": {"k": 1}, "geometry": Point(1, 1).__geo_interface__},
        {"type": "Feature", "properties": {"k": 2}, "geometry": LineString([(0, 0), (1, 1)])
         .__geo_interface__},
    ]  # fmt: skip
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _rows(world: World, table: str) -> int:
    return table_facts(world.dsn, world.schema, table)[0]


def test_a_second_file_of_the_same_name_is_refused_and_the_first_kept(world, tmp_path):
    first = world.upload("roads.geojson", _points(tmp_path / "roads.geojson", 3))
    second = world.upload("roads.gpkg", _points(tmp_path / "roads.gpkg", 5))
    table = naming.table_name(first)
    assert naming.table_name(second) == table  # the clash itself

    (published,) = world.publish(first).tables
    assert published.table == table and _rows(world, table) == 3
    with psycopg.connect(world.dsn) as conn:
        assert table_source(conn, world.schema, table) == first

    with pytest.raises(NameClashError) as err:
        world.publish(second)
    assert first in str(err.value) and second in str(err.value) and table in str(err.value)
    assert _rows(world, table) == 3  # the first file's data, untouched
    silver = [b.path for b in world.store.list_blobs("silver", prefix=world.prefix)]
    assert not any("roads.gpkg" in p for p in silver)  # nothing of the refused file

    assert world.publish(first).tables[0].rows_loaded == 3  # the owner republishes freely


def test_split_siblings_of_another_file_are_not_dropped(world, tmp_path):
    mixed = world.upload("net.geojson", _mixed_geojson(tmp_path / "net.geojson"))
    split = {t.table for t in world.publish(mixed).tables}
    assert split == {naming.table_name(mixed) + "__points", naming.table_name(mixed) + "__lines"}
    # A GeoPackage named alike whose single layer takes the plain name: it publishes (no clash
    # on that name), and the GeoJSON's split tables, which an earlier version of *this* file
    # would have left behind, are another file's and stay.
    other = world.upload("net.gpkg", _points(tmp_path / "net.gpkg", 2))
    (table,) = world.publish(other).tables
    assert table.table == naming.table_name(other)
    assert all(table_exists(world.dsn, world.schema, t) for t in split)


def test_one_clashing_layer_of_a_multi_layer_file_fails_alone(world, tmp_path):
    single = world.upload("sites.geojson", _points(tmp_path / "sites.geojson", 2))
    world.publish(single)
    gpkg = tmp_path / "sites.gpkg"
    _points(gpkg, 4, layer="wells")
    _points(gpkg, 6, layer="pumps")
    multi = world.upload("sites.gpkg", gpkg)
    with psycopg.connect(world.dsn, autocommit=True) as conn:  # make 'wells' clash
        wells = naming.table_name(multi, "wells", multi_layer=True)
        conn.execute(
            sql.SQL("CREATE TABLE {}.{} (fid bigint); COMMENT ON TABLE {}.{} IS {}").format(
                sql.Identifier(world.schema), sql.Identifier(wells),
                sql.Identifier(world.schema), sql.Identifier(wells),
                sql.Literal(PREFIX + "elsewhere/wells.csv"),
            )
        )  # fmt: skip

    result = world.publish(multi)

    assert [t.layer for t in result.tables] == ["pumps"]
    assert result.failed_layers["wells"].startswith("NameClashError: ")
    assert "elsewhere/wells.csv" in result.failed_layers["wells"]
    assert _rows(world, naming.table_name(single)) == 2


def test_a_table_without_a_stamp_is_taken_and_stamped(world, tmp_path):
    blob = world.upload("legacy.geojson", _points(tmp_path / "legacy.geojson", 2))
    table = naming.table_name(blob)
    with psycopg.connect(world.dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE TABLE {}.{} (fid bigint)").format(
                sql.Identifier(world.schema), sql.Identifier(table)
            )
        )
    world.publish(blob)
    with psycopg.connect(world.dsn) as conn:
        assert table_source(conn, world.schema, table) == blob
    assert _rows(world, table) == 2


def test_rasters_whose_names_differ_only_in_case_do_not_overwrite_each_other(
    blob_store, pgstac_lookups, bronze_folder
) -> None:
    rgb = TESTDATA / "rasters/rgb_uint8/RGB.byte.tif"
    upper, lower = f"{bronze_folder}/Scene.tif", f"{bronze_folder}/scene.tif"
    assert naming.silver_prefix(upper) == naming.silver_prefix(lower)  # the clash itself
    for blob in (upper, lower):
        blob_store.upload_file("bronze", blob, rgb)
    first = publish_raster(blob_store, pgstac_lookups, RasterSettings(), upper, run_id="r1")
    folder = naming.silver_prefix(upper)
    before = {b.path: b.etag for b in blob_store.list_blobs("silver", prefix=folder + "/")}

    with pytest.raises(NameClashError) as err:
        publish_raster(blob_store, pgstac_lookups, RasterSettings(), lower, run_id="r2")
    assert upper in str(err.value) and lower in str(err.value)
    after = {b.path: b.etag for b in blob_store.list_blobs("silver", prefix=folder + "/")}
    assert after == before  # the first file's COGs and item untouched, nothing staged left
    assert not list(blob_store.list_blobs("silver", prefix="_staging/"))
    again = publish_raster(blob_store, pgstac_lookups, RasterSettings(), upper, run_id="r3")
    assert again.item["id"] == first.item["id"]  # the owner republishes freely


def test_vectors_whose_names_differ_only_in_case_leave_no_table(world, tmp_path):
    """``Pts.geojson`` and ``pts.geojson`` share a silver folder but not a table name: the
    second was refused only after its table was committed, which stayed behind, served and
    without an item. The folder's owner is now checked before anything is loaded."""
    upper = world.upload("r-1/Pts.geojson", _points(tmp_path / "Pts.geojson", 3))
    lower = world.upload("r-1/pts.geojson", _points(tmp_path / "pts.geojson", 5))
    assert naming.silver_prefix(upper) == naming.silver_prefix(lower)  # the clash itself
    assert naming.table_name(upper) != naming.table_name(lower)
    world.publish(upper)
    with pytest.raises(NameClashError, match="silver folder"):
        world.publish(lower)
    assert table_exists(world.dsn, world.schema, naming.table_name(upper))
    assert not table_exists(world.dsn, world.schema, naming.table_name(lower))


def _catalog(world: World, published: dict[str, list]) -> dict:
    from geo_platform.workflows.catalog import publish_items

    with world.connect() as conn:
        return publish_items(conn, published, "vector")


def _owner(world: World, blob: str) -> str | None:
    from geo_platform.lib import stac_ext
    from geo_platform.store import pgstac

    with world.connect() as conn:
        item = pgstac.get_item(conn, naming.collection_id(blob), naming.table_name(blob))
    return None if item is None else item["properties"][stac_ext.SOURCE_BLOB]


def test_a_duplicate_pointer_never_replaces_another_files_item(world, tmp_path):
    """``roads.geojson`` repeats a file published elsewhere (a pointer item, no table) while
    ``roads.gpkg`` beside it has new data: both name item ``<folder>_roads``. Before, the
    pointer silently replaced the table's item in pgstac (or the reverse)."""
    link = world.settings(duplicates="link")
    local = _points(tmp_path / "roads.geojson", 4)
    original = world.upload("elsewhere/roads.geojson", local)
    _catalog(world, {original: world.publish(original, settings=link).items})
    copy = world.upload("here/roads.geojson", local)
    real = world.upload("here/roads.gpkg", _points(tmp_path / "roads.gpkg", 6))

    # One batch: silver made both (the pointer first), the catalog stage publishes them at once.
    pointer = world.publish(copy, settings=link)
    assert pointer.duplicate is not None and pointer.tables == []
    table = world.publish(real, settings=link)
    assert [t.rows_loaded for t in table.tables] == [6]
    results = _catalog(world, {copy: pointer.items, real: table.items})
    assert isinstance(results[copy], NameClashError)  # refused alone: the table's file wins
    assert real in str(results[copy]) and naming.table_name(real) in str(results[copy])
    assert results[real].items == [{"collection": naming.collection_id(real),
                                    "id": naming.table_name(real)}]  # fmt: skip
    assert _owner(world, real) == real

    with pytest.raises(NameClashError):  # a later run of the copy is refused at silver
        world.publish(copy, settings=link)
    assert _owner(world, real) == real and _rows(world, naming.table_name(real)) == 6


def test_a_table_never_takes_the_name_of_another_files_pointer(world, tmp_path):
    link = world.settings(duplicates="link")
    local = _points(tmp_path / "roads.geojson", 4)
    original = world.upload("elsewhere/roads.geojson", local)
    _catalog(world, {original: world.publish(original, settings=link).items})
    copy = world.upload("here/roads.geojson", local)
    _catalog(world, {copy: world.publish(copy, settings=link).items})
    assert _owner(world, copy) == copy

    real = world.upload("here/roads.gpkg", _points(tmp_path / "roads.gpkg", 6))
    with pytest.raises(NameClashError) as err:
        world.publish(real, settings=link)
    assert copy in str(err.value) and real in str(err.value)
    assert not table_exists(world.dsn, world.schema, naming.table_name(real))  # nothing loaded
    assert _owner(world, copy) == copy
