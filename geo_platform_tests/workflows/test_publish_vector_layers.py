"""Per-layer outcomes (issue 17): each layer of a multi-layer file publishes or fails on its own.

Real GeoPackages written here, real PostGIS/pgstac, a local store: a layer refused for its input
(no CRS, coordinates out of range) is named in ``failed_layers`` with its error, the good layers
publish together, and only they get items; a file none of whose layers publishes is refused
with every layer's error.
"""

from __future__ import annotations

import psycopg
import pytest

from geo_platform.lib import naming
from geo_platform.lib.errors import InputError, MissingCRSError
from geo_platform.store.silver import stac_items
from geo_platform.workflows.catalog import publish_items
from geo_platform_tests.fixtures.vector_world import (
    World,
    add_nocrs_layer,
    add_out_of_range_layer,
    table_exists,
    write_partial_gpkg,
)

pytestmark = pytest.mark.filterwarnings("ignore:'crs' was not provided")


def _tables(world: World) -> list[str]:
    with psycopg.connect(world.dsn) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (world.schema,),
        ).fetchall()
    return sorted(r[0] for r in rows)


def test_bad_layers_are_skipped_and_the_good_layers_publish(world: World) -> None:
    local = write_partial_gpkg(world.tmp / "mixed.gpkg", world.prefix)
    blob = world.upload("mixed.gpkg", local)

    result = world.publish(blob)

    good = {naming.table_name(blob, layer, multi_layer=True) for layer in ("towns", "parcels")}
    bad = {naming.table_name(blob, layer, multi_layer=True) for layer in ("survey", "wells")}
    assert {t.table for t in result.tables} == good
    assert set(result.failed_layers) == {"survey", "wells"}
    assert result.failed_layers["survey"].startswith("MissingCRSError: ")
    assert "no coordinate reference system" in result.failed_layers["survey"]
    assert result.failed_layers["wells"].startswith("CoordinateRangeError: ")
    assert "lat=200" in result.failed_layers["wells"]
    # The good layers are in PostGIS (and nothing else: no staging table of a failed layer).
    assert _tables(world) == sorted(good)
    assert not any(table_exists(world.dsn, world.schema, t) for t in bad)
    # Items exist only for the published layers: in the result, in silver, in pgstac.
    assert {i["id"] for i in result.items} == good
    assert {i["id"] for i in stac_items(world.store, "silver", blob)} == good
    with world.connect() as conn:
        publish_items(conn, {blob: result.items}, "vector")
        ids = conn.execute(
            "SELECT id FROM pgstac.items WHERE collection = %s", (naming.collection_id(blob),)
        ).fetchall()
    assert {r[0] for r in ids} == good
    assert not result.checks.pop("no_null_island")[0]  # write_gpkg's first town lies at 0, 0
    assert all(ok for ok, _ in result.checks.values()), result.checks


def test_a_file_whose_every_layer_fails_is_refused_with_every_error(world: World) -> None:
    mixed = world.tmp / "allbad.gpkg"
    add_nocrs_layer(mixed)
    add_out_of_range_layer(mixed)
    blob = world.upload("allbad.gpkg", mixed)
    with pytest.raises(InputError) as caught:
        world.publish(blob)
    message = str(caught.value)
    assert message.startswith(f"{blob}: every layer failed: ")
    assert "layer 'survey': MissingCRSError: " in message
    assert "layer 'wells': CoordinateRangeError: " in message
    assert type(caught.value) is InputError  # two different classes: the common base

    same = world.tmp / "nocrs.gpkg"
    add_nocrs_layer(same, "a")
    add_nocrs_layer(same, "b")
    with pytest.raises(MissingCRSError, match=r"layer 'a'.*layer 'b'"):
        world.publish(world.upload("nocrs.gpkg", same))
    assert _tables(world) == []
    assert stac_items(world.store, "silver", blob) == []


def test_a_single_layer_file_fails_as_before(world: World) -> None:
    local = world.tmp / "one.gpkg"
    add_nocrs_layer(local)
    with pytest.raises(MissingCRSError) as caught:
        world.publish(world.upload("one.gpkg", local))
    assert "every layer failed" not in str(caught.value)
