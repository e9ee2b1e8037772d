"""A file's sidecars are part of its content: the same ``.shp`` with another ``.prj`` or another
``.dbf`` is not a duplicate of the first upload (it was linked to it, showing the first file's
place and attributes); the same file with the same sidecars still is."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from psycopg import sql
from shapely.geometry import Point

from geo_platform.lib import naming, stac_ext
from geo_platform.lib.errors import InputError
from geo_platform.store import pgstac
from geo_platform.workflows.catalog import publish_items, read_silver_items
from geo_platform.workflows.unpublish import plan_unpublish
from geo_platform_tests.fixtures.vector_world import World

PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def _shapefile(folder: Path, owner: str, epsg: int) -> dict[str, Path]:
    folder.mkdir(parents=True)
    frame = gpd.GeoDataFrame(
        {"owner": [owner, owner]}, geometry=[Point(500_000, 5_000_000), Point(500_100, 5_000_100)],
        crs=f"EPSG:{epsg}",
    )  # fmt: skip
    frame.to_file(folder / "wells.shp", engine="pyogrio")
    return {ext: folder / f"wells{ext}" for ext in PARTS if (folder / f"wells{ext}").exists()}


def _upload(world: World, name: str, parts: dict[str, Path]) -> str:
    for ext, path in parts.items():
        if ext != ".shp":
            world.store.upload_file("bronze", f"{world.prefix}/{name}{ext}", path)
    return world.upload(f"{name}.shp", parts[".shp"])


def _column(world: World, table: str, expression: str) -> list:
    """``expression`` over the rows of ``table``, in feature order."""
    query = sql.SQL("SELECT " + expression + " FROM {}.{} ORDER BY fid")
    with world.connect() as conn:
        rows = conn.execute(
            query.format(sql.Identifier(world.schema), sql.Identifier(table))
        ).fetchall()
    return [r[0] for r in rows]


def _catalog(world: World, blob: str) -> None:
    with world.connect() as conn:
        publish_items(conn, {blob: read_silver_items(world.store, "silver", blob)}, "vector")


@pytest.fixture
def original(world: World, tmp_path: Path) -> tuple[str, dict[str, Path]]:
    parts = _shapefile(tmp_path / "a", "alice", 32631)
    blob = _upload(world, "first", parts)
    world.publish(blob)
    _catalog(world, blob)
    return blob, parts


def test_same_shp_with_another_prj_is_published_not_linked(world, original, tmp_path) -> None:
    _, parts = original
    other = _shapefile(tmp_path / "b", "alice", 32632)  # same .shp bytes, another zone
    assert other[".shp"].read_bytes() == parts[".shp"].read_bytes()
    blob = _upload(world, "second", other)
    result = world.publish(blob, settings=world.settings(duplicates="link"))
    assert result.duplicate is None and result.duplicate_of is None and len(result.tables) == 1
    (lon, _) = _column(world, result.tables[0].table, "ST_X(ST_GeometryN(geom, 1))")
    assert lon == pytest.approx(9.0, abs=0.01)  # zone 32N's central meridian, not 32631's 3
    (item,) = result.items
    props = item["properties"]
    assert props[stac_ext.SOURCE_SHA256] and props[stac_ext.SIDECARS_SHA256]
    assert stac_ext.DUPLICATE_OF not in props


def test_same_shp_with_another_dbf_is_published_not_linked(world, original, tmp_path) -> None:
    other = _shapefile(tmp_path / "b", "bob", 32631)  # same geometry, other attributes
    blob = _upload(world, "second", other)
    result = world.publish(blob, settings=world.settings(duplicates="link"))
    assert result.duplicate is None and result.duplicate_of is None and len(result.tables) == 1
    assert _column(world, result.tables[0].table, "owner") == ["bob", "bob"]


def test_same_shapefile_with_the_same_sidecars_is_still_linked(world, original) -> None:
    first, parts = original
    blob = _upload(world, "copy", parts)
    result = world.publish(blob, settings=world.settings(duplicates="link"))
    assert result.duplicate is not None and result.duplicate.duplicate_of == first
    assert result.tables == []
    _catalog(world, blob)
    with world.connect() as conn:
        pointer = pgstac.get_item(conn, naming.collection_id(blob), naming.table_name(blob))
    assert pointer is not None and pointer["assets"] == {}


def _plan(world: World, *blobs: str):
    with world.connect() as conn:
        return plan_unpublish(
            conn, world.store, collection=naming.collection_id(blobs[0]),
            item_ids=[naming.table_name(b) for b in blobs], silver_container="silver",
            geo_schema=world.schema,
        )  # fmt: skip


def test_an_original_with_pointers_is_not_unpublished_under_them(world, original) -> None:
    """Unpublishing the original left the copy's pointer item without data, linking to an item
    that answered 404; the plan (and so the dry run) is now refused, naming the pointer."""
    first, parts = original
    copy = _upload(world, "copy", parts)
    assert world.publish(copy, settings=world.settings(duplicates="link")).duplicate is not None
    _catalog(world, copy)
    pointer = f"{naming.collection_id(copy)}/{naming.table_name(copy)}"
    with pytest.raises(InputError, match="duplicates pointing at the data") as err:
        _plan(world, first)
    assert pointer in str(err.value)
    assert len(_plan(world, first, copy).items) == 2  # with its pointer, in one collection
    assert _plan(world, copy).items  # the pointer itself unpublishes freely
