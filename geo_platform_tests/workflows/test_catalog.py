"""The catalog workflow without Dagster: final items from silver go into real pgstac as they are."""

from __future__ import annotations

import copy
import json

import psycopg
import pytest

from geo_platform.lib import naming, stac_ext
from geo_platform.lib.errors import NotFoundError, ValidationError
from geo_platform.store import pgstac
from geo_platform.store.catalog import items_of_source
from geo_platform.workflows.catalog import (
    CatalogedSource,
    duplicate_of,
    publish_catalog,
    publish_items,
    read_silver_items,
)
from geo_platform_tests.fixtures.vector_world import World, table_exists, write_gpkg


def _published(world: World, name: str = "places.gpkg") -> str:
    """A vector file through the silver workflow (as another run would have left it)."""
    blob = world.upload(name, write_gpkg(world.tmp / name, f"{world.prefix}/{name}"))
    world.publish(blob)
    return blob


def test_silver_items_are_upserted_as_they_are(world: World) -> None:
    blob = _published(world)
    items = read_silver_items(world.store, "silver", blob)
    as_written = copy.deepcopy(items)
    with world.connect() as conn:
        result = publish_items(conn, {blob: items}, "vector")[blob]
        stored = {
            i["id"]: pgstac.get_item(conn, naming.collection_id(blob), i["id"]) for i in items
        }
        collection = pgstac.get_collection(conn, naming.collection_id(blob))
    assert items == as_written  # not re-linked, not rewritten
    assert result.collections_created == [naming.collection_id(blob)] and collection is not None
    assert sorted(i["id"] for i in result.items) == sorted(stored)
    assert result.removed == [] and result.duplicate_of is None
    for item in as_written:
        got = stored[item["id"]]
        assert got is not None
        assert got["assets"] == item["assets"]
        assert got["links"] == item["links"]
        assert got["geometry"] == item["geometry"]
        assert got["properties"][stac_ext.SOURCE_BLOB] == blob
        assert (
            got["properties"][stac_ext.SOURCE_SHA256] == item["properties"][stac_ext.SOURCE_SHA256]
        )


def test_a_layer_no_longer_produced_leaves_the_catalog(world: World) -> None:
    blob = _published(world)
    with world.connect() as conn:
        publish_items(conn, {blob: read_silver_items(world.store, "silver", blob)}, "vector")
    world.publish(blob, overrides={"layer": "parcels"})  # the file now publishes one layer
    items = read_silver_items(world.store, "silver", blob)
    single = naming.table_name(blob)  # one layer: the file's own table name
    assert [i["id"] for i in items] == [single]
    cid = naming.collection_id(blob)
    with world.connect() as conn:
        result = publish_catalog(
            conn, {blob: items}, "vector", store=world.store, silver_container="silver"
        )
        left = items_of_source(conn, blob)
    gone = [naming.table_name(blob, layer, multi_layer=True) for layer in ("parcels", "towns")]
    removed = sorted(result[blob].removed, key=lambda r: r["id"])
    assert removed == [{"collection": cid, "id": i} for i in sorted(gone)]
    assert left == [(cid, single)]
    # Their tables went with them (nothing describes them any more); the new one is there.
    assert sorted(result[blob].dropped_tables) == [f"{world.schema}.{t}" for t in sorted(gone)]
    assert not any(table_exists(world.dsn, world.schema, t) for t in gone)
    assert table_exists(world.dsn, world.schema, single)


def test_a_table_another_item_names_is_kept(world: World) -> None:
    """A removed item's table stays while another item in the catalog names it (here a copy
    of the item under another id, as a duplicate's pointer item would)."""
    blob = _published(world)
    items = read_silver_items(world.store, "silver", blob)
    towns = next(i for i in items if i["id"].endswith("towns"))
    pointer = {**copy.deepcopy(towns), "id": towns["id"] + "-pointer"}
    pointer["properties"][stac_ext.SOURCE_BLOB] = f"{world.prefix}/other.gpkg"
    with world.connect() as conn:
        publish_items(conn, {blob: items}, "vector")
        pgstac.upsert_items(conn, [pointer])
        conn.commit()
    world.publish(blob, overrides={"layer": "parcels"})
    with world.connect() as conn:
        result = publish_items(conn, {blob: read_silver_items(world.store, "silver", blob)},
                               "vector")[blob]  # fmt: skip
        pgstac.delete_item(conn, pointer["collection"], pointer["id"])
        conn.commit()
    assert isinstance(result, CatalogedSource)
    kept = towns["properties"][stac_ext.TABLE].split(".")[1]
    assert table_exists(world.dsn, world.schema, kept)
    assert f"{world.schema}.{kept}" not in result.dropped_tables
    assert len(result.dropped_tables) == 1  # the parcels layer's own table went


def test_a_file_whose_items_pgstac_refuses_fails_alone(world: World) -> None:
    """The batch is one transaction; when pgstac refuses it, each file is tried on its own:
    the file with the refused item fails (nothing of it published), the others publish."""
    good = _published(world, "good.gpkg")
    bad = _published(world, "bad.gpkg")
    broken = read_silver_items(world.store, "silver", bad)
    broken[0]["properties"]["datetime"] = "not a date"
    with world.connect() as conn:
        results = publish_items(
            conn, {good: read_silver_items(world.store, "silver", good), bad: broken}, "vector"
        )
    assert isinstance(results[bad], psycopg.Error)
    assert isinstance(results[good], CatalogedSource)
    with world.connect() as conn:
        assert items_of_source(conn, bad) == []
        published = sorted(i for _c, i in items_of_source(conn, good))
    assert published == sorted(i["id"] for i in results[good].published)
    assert len(published) == 2


def test_a_lone_file_whose_items_pgstac_refuses_raises(world: World) -> None:
    bad = _published(world, "bad.gpkg")
    broken = read_silver_items(world.store, "silver", bad)
    broken[0]["geometry"] = None  # valid STAC, refused by pgstac
    with world.connect() as conn, pytest.raises(psycopg.Error):
        publish_items(conn, {bad: broken}, "vector")
    with world.connect() as conn:
        assert items_of_source(conn, bad) == []


def test_silver_read_back_needs_the_silver_stage(world: World) -> None:
    missing = f"{world.prefix}/never.gpkg"
    with pytest.raises(NotFoundError):
        read_silver_items(world.store, "silver", missing)
    blob = _published(world)
    stac = f"{naming.silver_prefix(blob)}/stac/foreign.json"
    world.store.upload_bytes("silver", stac, json.dumps({"type": "Feature", "id": "x"}).encode())
    with pytest.raises(ValidationError, match="collection"):
        read_silver_items(world.store, "silver", blob)


def test_duplicate_of_reads_what_silver_decided() -> None:
    pointer = {"properties": {stac_ext.DUPLICATE_OF: {"source_blob": "a/x.gpkg", "id": "t"}}}
    flagged = {"properties": {stac_ext.DUPLICATE_OF_SOURCE: "a/y.gpkg"}}
    assert duplicate_of([pointer]) == "a/x.gpkg"
    assert duplicate_of([{"properties": {}}, flagged]) == "a/y.gpkg"
    assert duplicate_of([{"properties": {}}]) is None


def test_an_item_whose_table_was_dropped_meanwhile_is_not_published(world: World) -> None:
    """An unpublish that drops the table while the file's run goes on (between its load and its
    catalog stage) left an item without its table; the file is now refused alone."""
    blob, other = _published(world), _published(world, "other.gpkg")
    items = read_silver_items(world.store, "silver", blob)
    table = naming.table_name(blob, "parcels", multi_layer=True)
    with world.connect() as conn:
        conn.execute(f'DROP TABLE "{world.schema}"."{table}"')
        conn.commit()
        result = publish_items(
            conn, {blob: items, other: read_silver_items(world.store, "silver", other)}, "vector"
        )
        stored = [pgstac.get_item(conn, naming.collection_id(blob), i["id"]) for i in items]
    assert isinstance(result[blob], NotFoundError)
    assert f"{world.schema}.{table}" in str(result[blob]) and "no longer exists" in str(
        result[blob]
    )
    assert stored == [None] * len(items)  # none of the file's items, not even the intact layer's
    assert isinstance(result[other], CatalogedSource)  # the batch's other file publishes
