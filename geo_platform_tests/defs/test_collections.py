"""Raster collections in Dagster: the pure prefix helpers, the sensor, and the asset (which
calls ``publish_collection``, tested without Dagster in workflows/test_publish_collection.py)."""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from geo_platform.defs.collections.assets import raster_collection
from geo_platform.defs.collections.partitions import raster_collection_partitions
from geo_platform.defs.collections.sensors import plan_collections, raster_collection_sensor
from geo_platform.lib.raster.collection import (
    CollectionManifest,
    collection_id_for,
    collection_prefix_for,
    partition_key,
    prefix_for_partition_key,
)
from geo_platform.lib.types import BlobInfo
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource
from geo_platform_tests.workflows.test_publish_collection import upload_scenes


@pytest.fixture
def env(tmp_path: Path, pg_dsn: str):
    prefix = f"t{uuid.uuid4().hex[:6]}/scenes/"
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    for c in ("bronze", "silver"):
        store.ensure_container(c)
    upload_scenes(store, prefix, tmp_path)
    pg = PgSTACResource(database_url=pg_dsn)
    yield store, pg, PlatformResource(), prefix, tmp_path
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("SELECT pgstac.delete_collection(%s)", (collection_id_for(prefix),))
        conn.commit()


def test_prefix_helpers() -> None:
    prefixes = ["imagery/", "imagery/s2/"]
    assert collection_prefix_for("imagery/s2/a.tif", prefixes) == "imagery/s2/"
    assert collection_prefix_for("imagery/x.tif", prefixes) == "imagery/"
    assert collection_prefix_for("dem/x.tif", prefixes) is None
    assert prefix_for_partition_key(partition_key("a/b/")) == "a/b/"
    blobs = [BlobInfo("a/x.tif", 1, "e1"), BlobInfo("a/y.tif", 1, "e2")]
    manifest = CollectionManifest(
        "a/", "k", {"a/x.tif": {"etag": "e1"}, "a/gone.tif": {"etag": "e"}}
    )
    todo, removed = manifest.plan(blobs)
    assert [b.path for b in todo] == ["a/y.tif"] and removed == ["a/gone.tif"]


def test_sensor_plan_detects_changes() -> None:
    listing = [
        BlobInfo("c/_collection.json", 2, "m"),
        BlobInfo("c/a.tif", 9, "1"),
        BlobInfo("other/b.tif", 9, "1"),
    ]
    state, changed = plan_collections(listing, "", {})
    assert changed == ["c/"]
    assert plan_collections(listing, "", state)[1] == []
    listing[1] = BlobInfo("c/a.tif", 9, "2")
    assert plan_collections(listing, "other", state)[1] == ["c/", "other/"]


@pytest.mark.slow
def test_asset_and_sensor_in_dagster(env) -> None:
    store, pg, platform, prefix, _tmp = env
    resources = {"blob_store": store, "pgstac": pg, "platform": platform}
    with dg.instance_for_test() as inst:
        ctx = dg.build_sensor_context(instance=inst, resources=resources)
        result = raster_collection_sensor(ctx)
        key = partition_key(prefix)
        assert [r.partition_key for r in result.run_requests] == [key]
        inst.add_dynamic_partitions(raster_collection_partitions.name, [key])
        out = dg.materialize(
            [raster_collection], partition_key=key, instance=inst, resources=resources
        )
        assert out.success
        mat = out.asset_materializations_for_node("raster_collection")[0]
        assert mat.metadata["built"].value == 4 and mat.metadata["failed"].value == {}
        href = mat.metadata["mosaic_href"]
        assert isinstance(href, dg.PathMetadataValue) and href.value.endswith("mosaic.json")
