"""publish_vector without Dagster: real small vector files, real PostGIS/pgstac, a local store."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from geo_platform.lib import naming, stac_ext
from geo_platform.lib.errors import ConfigError, MissingCRSError, NotFoundError
from geo_platform.lib.inventory import sha256_file
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.store import pgstac
from geo_platform.store.silver import stac_items
from geo_platform.workflows.catalog import publish_items
from geo_platform.workflows.publish_vector import vector_options
from geo_platform_tests.fixtures.vector_world import World, table_exists, table_facts, write_gpkg


def test_every_layer_reaches_postgis_geoparquet_and_a_valid_final_item(world: World) -> None:
    local = write_gpkg(world.tmp / "places.gpkg", world.prefix)
    blob = world.upload("places.gpkg", local)
    result = world.publish(blob)

    towns = naming.table_name(blob, "towns", multi_layer=True)
    parcels = naming.table_name(blob, "parcels", multi_layer=True)
    assert {t.table for t in result.tables} == {towns, parcels}
    assert table_facts(world.dsn, world.schema, towns) == (
        3,
        [4326],
        ["MULTIPOINT"],
        0,
        "MULTIPOINT",
    )
    assert table_facts(world.dsn, world.schema, parcels)[:4] == (2, [4326], ["MULTIPOLYGON"], 0)
    with psycopg.connect(world.dsn) as conn:  # reprojected from EPSG:3857: 1 degree east
        q = sql.SQL("SELECT ST_X(ST_GeometryN(geom, 1)) FROM {}.{} WHERE name = 'b'")
        (lon,) = conn.execute(
            q.format(sql.Identifier(world.schema), sql.Identifier(towns))
        ).fetchone()  # type: ignore[misc]
    assert lon == pytest.approx(1.0, abs=1e-6)
    silver = Path(world.store.root) / "silver" / naming.silver_prefix(blob)
    assert pq.read_metadata(silver / f"{towns}.parquet").num_rows == 3
    assert pq.read_metadata(silver / f"{parcels}.parquet").num_rows == 2
    island = result.checks.pop("no_null_island")  # the fixture's first town lies at 0, 0
    assert not island[0] and "1 feature(s) at exactly 0°, 0°" in island[1]
    assert all(ok for ok, _ in result.checks.values()), result.checks
    assert set(result.checks) >= {"row_count_matches_source", "stac_item_valid"}

    sha = sha256_file(local)
    for item in result.items:
        validate_stac(item)
        assert item["collection"] == naming.collection_id(blob)
        assert [link["rel"] for link in item["links"]].count("collection") == 1
        assert item["properties"][stac_ext.SOURCE_SHA256] == sha
        assert item["properties"][stac_ext.RUN_ID] == "run-1"
        assert stac_ext.COMPLETENESS in item["properties"]
        assert stac_ext.DUPLICATE_OF_SOURCE not in item["properties"]
    # What silver holds is exactly the final item (what the catalog publishes).
    written = {i["id"]: i for i in stac_items(world.store, "silver", blob)}
    assert written == {i["id"]: json.loads(json.dumps(i, default=str)) for i in result.items}
    assert len(result.silver_blobs) == 4  # two GeoParquet files, two items
    # The GiST index and ANALYZE ran beside the checks, and were done before publish returned.
    with psycopg.connect(world.dsn) as conn:
        indexes = conn.execute(
            "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = %s", (world.schema,)
        ).fetchall()
        analyzed = conn.execute(
            "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = %s", (world.schema,)
        ).fetchall()
    assert sorted(indexes) == sorted(
        (t, f"{t}{suffix}") for t in (towns, parcels) for suffix in ("_geom_gix", "_pkey")
    )
    assert sorted(r[0] for r in analyzed) == sorted([towns, parcels])


def test_a_failed_republish_leaves_the_previous_version(world: World) -> None:
    blob = world.upload("places.gpkg", write_gpkg(world.tmp / "v1.gpkg", world.prefix))
    first = world.publish(blob)
    before = {i["id"]: i for i in stac_items(world.store, "silver", blob)}
    # Version 2 has lost its CRS: nothing may change, in PostGIS or in silver.
    world.store.upload_file("bronze", blob, write_gpkg(world.tmp / "v2.gpkg", "v2", crs=None))
    with pytest.raises(MissingCRSError):
        world.publish(blob)
    for t in first.tables:
        assert table_facts(world.dsn, world.schema, t.table)[0] == t.rows_loaded
    assert {i["id"]: i for i in stac_items(world.store, "silver", blob)} == before
    with psycopg.connect(world.dsn) as conn:
        leftovers = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
            (world.schema,),
        ).fetchone()
    assert leftovers == (len(first.tables),)  # no staging table left behind


def test_a_copy_is_linked_once_in_silver_and_catalogued_as_is(world: World) -> None:
    local = write_gpkg(world.tmp / "places.gpkg", world.prefix)
    original = world.upload("a/places.gpkg", local)
    copy = world.upload("b/places copy.gpkg", local)
    first = world.publish(original, settings=world.settings(duplicates="link"))
    with world.connect() as conn:
        publish_items(conn, {original: first.items}, "vector")

    linked = world.publish(copy, settings=world.settings(duplicates="link"))

    assert linked.duplicate is not None and linked.duplicate.duplicate_of == original
    assert linked.tables == [] and linked.checks == {}
    expected_ids = {
        naming.table_name(copy, layer, multi_layer=True) for layer in ("towns", "parcels")
    }
    for table in expected_ids:  # nothing was built for the copy
        assert not table_exists(world.dsn, world.schema, table)
    silver = sorted(b.path for b in world.store.list_blobs("silver", naming.silver_prefix(copy)))
    assert silver and all("/stac/" in p for p in silver)
    assert {p["id"] for p in linked.items} == expected_ids
    for pointer in linked.items:
        validate_stac(pointer)

    with world.connect() as conn:
        result = publish_items(conn, {copy: stac_items(world.store, "silver", copy)}, "vector")
        stored = [
            pgstac.get_item(conn, naming.collection_id(copy), item_id) for item_id in expected_ids
        ]
    assert result[copy].duplicate_of == original
    for item in stored:
        assert item is not None and item["assets"] == {}
        assert item["properties"][stac_ext.DUPLICATE_OF]["source_blob"] == original
        assert [link["rel"] for link in item["links"]].count("collection") == 1


def test_publish_mode_builds_a_copy_and_flags_it(world: World) -> None:
    local = write_gpkg(world.tmp / "places.gpkg", world.prefix)
    original = world.upload("a/places.gpkg", local)
    copy = world.upload("b/places.gpkg", local)
    first = world.publish(original)
    with world.connect() as conn:
        publish_items(conn, {original: first.items}, "vector")

    second = world.publish(copy)  # duplicates="publish"

    assert second.duplicate is None and second.duplicate_of == original
    assert len(second.tables) == 2
    for t in second.tables:
        assert table_facts(world.dsn, world.schema, t.table)[0] == t.rows_loaded
    for item in second.items:
        validate_stac(item)
        assert item["properties"][stac_ext.DUPLICATE_OF_SOURCE] == original


def test_options_come_from_rules_then_run_overrides(world: World) -> None:
    rules = json.dumps({f"{world.prefix}/legacy/": {"assume_crs": "EPSG:3857"}})
    settings = world.settings(vector_rules=rules)
    blob = f"{world.prefix}/legacy/places.gpkg"
    assert vector_options(settings, blob).assume_crs == "EPSG:3857"
    assert vector_options(settings, blob, {"assume_crs": "EPSG:4326"}).assume_crs == "EPSG:4326"
    assert vector_options(settings, f"{world.prefix}/new/p.gpkg").assume_crs is None
    with pytest.raises(ConfigError):
        vector_options(world.settings(vector_rules=json.dumps({"": {"nope": 1}})), blob)

    # The rule applies to a file without a CRS in that folder; a run override picks a layer.
    local = write_gpkg(world.tmp / "nocrs.gpkg", world.prefix, crs=None)
    legacy = world.upload("legacy/places.gpkg", local)
    published = world.publish(legacy, settings=settings)
    assert len(published.tables) == 2 and all(t.crs_assumed for t in published.tables)
    only = world.publish(
        legacy, settings=settings, overrides={"layer": "parcels", "encoding": None}
    )
    assert [t.layer for t in only.tables] == ["parcels"]


def test_a_missing_bronze_blob_is_not_found(world: World) -> None:
    with pytest.raises(NotFoundError):
        world.publish(f"{world.prefix}/gone.gpkg")


def test_duplicate_geometries_are_counted_per_table_of_a_file(world: World) -> None:
    """The duplicate count runs on whichever connection is free first (the index build's or
    the checks'); either way each table of the file gets its own count."""
    square = [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]
    other = [[[5, 5], [6, 5], [6, 6], [5, 5]]]

    def feature(n: int, kind: str, coords: list) -> dict:
        return {"type": "Feature", "properties": {"n": n},
                "geometry": {"type": kind, "coordinates": coords}}  # fmt: skip

    polygons = [square, other, square, square, other]
    feats = [feature(i, "Polygon", c) for i, c in enumerate(polygons)]
    feats += [feature(9, "Point", [1, 2]), feature(10, "Point", [3, 4])]
    local = world.tmp / "dups.geojson"
    local.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    result = world.publish(world.upload("dups.geojson", local))
    counts = {q.table.rsplit("__", 1)[-1]: (q.duplicate_geometries, q.duplicate_groups)
              for q in result.qualities}  # fmt: skip
    assert counts == {"polygons": (3, 2), "points": (0, 0)}
    ok, detail = result.checks["no_duplicate_geometries"]
    assert not ok and "3 duplicate geometries in 2 groups" in detail


def test_features_at_null_island_are_flagged(world: World) -> None:
    """A geocoded CSV whose missing coordinates were written as 0,0: published as it is, with
    the ``no_null_island`` check failing and counting them; a table far from 0,0 passes."""
    rows = "".join(f"site{i},52.{i},4.{i}\n" for i in range(5)) + "lost1,0,0\nlost2,0.0,0\n"
    local = world.tmp / "sites.csv"
    local.write_text(f"name,lat,lon\n{rows}")
    result = world.publish(world.upload("sites.csv", local))
    (quality,) = result.qualities
    assert (quality.rows, quality.null_island) == (7, 2)
    ok, detail = result.checks["no_null_island"]
    assert not ok and "2 feature(s) at exactly 0°, 0°" in detail
    local.write_text(f"name,lat,lon\n{rows.split('lost1')[0]}")
    result = world.publish(world.upload("sites.csv", local))
    assert result.checks["no_null_island"][0] and result.qualities[0].null_island == 0
