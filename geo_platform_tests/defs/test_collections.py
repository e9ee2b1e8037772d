"""Raster collections: files in two UTM zones reprojected to EPSG:3857 and mosaicked, updated
incrementally, published in pgstac with a mosaic asset and search; plus the pure helpers,
the sensor and a large raster published as tiles through Dagster."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import dagster as dg
import numpy as np
import psycopg
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform as warp_transform

from geo_platform.defs.collections.assets import raster_collection
from geo_platform.defs.collections.partitions import raster_collection_partitions
from geo_platform.defs.collections.sensors import plan_collections, raster_collection_sensor
from geo_platform.lib.raster.collection import (
    CollectionManifest,
    collection_id_for,
    collection_prefix_for,
    collection_silver_prefix,
    partition_key,
    prefix_for_partition_key,
)
from geo_platform.lib.raster.mosaic import tiles_for_point, validate_mosaic
from geo_platform.lib.types import BlobInfo
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource
from geo_platform.store import pgstac
from geo_platform.workflows.publish_collection import publish_collection

# (epsg, easting, northing): two files each side of the UTM 32/33 boundary (12 E) at ~48 N.
SCENES = [
    (32632, 720000, 5330000),
    (32632, 720000, 5305400),
    (32633, 280000, 5330000),
    (32633, 280000, 5305400),
]


def _scene(path: Path, epsg: int, x: float, y: float, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    data = (rng.integers(100, 200, (256, 256)) + np.arange(256)[None, :]).astype("uint16")
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=256,
        height=256,
        count=1,
        dtype="uint16",
        crs=f"EPSG:{epsg}",
        transform=from_origin(x, y, 100, 100),
        nodata=0,
    ) as dst:
        dst.write(data[None])
    return path


@pytest.fixture
def env(tmp_path: Path, pg_dsn: str):
    prefix = f"t{uuid.uuid4().hex[:6]}/scenes/"
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    for c in ("bronze", "silver"):
        store.ensure_container(c)
    for i, (epsg, x, y) in enumerate(SCENES):
        src = _scene(tmp_path / f"s{i}.tif", epsg, x, y, i)
        store.upload_file("bronze", f"{prefix}utm{epsg % 100}_{i}.tif", src)
    store.upload_bytes("bronze", f"{prefix}_collection.json", b'{"target_crs": "EPSG:3857"}')
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
def test_two_utm_zones_reprojected_mosaicked_and_updated(env, pg_dsn: str) -> None:
    store, pg, platform, prefix, tmp = env
    meta = publish_collection(store, pg, platform, prefix, run_id="r1", workers=2)
    assert meta["built"] == 4 and meta["mosaic_mode"] == "full" and not meta["failed"]
    root = collection_silver_prefix(prefix)
    mosaic = json.loads((Path(store.root) / "silver" / root / "mosaic.json").read_text())
    validate_mosaic(mosaic)
    hrefs = {a for v in mosaic["tiles"].values() for a in v}
    assert len(hrefs) == 4
    for href in hrefs:
        with rasterio.open(href) as ds:
            assert ds.crs.to_epsg() == 3857
    # a point inside each source scene resolves to that scene's COG
    for i, (epsg, x, y) in enumerate(SCENES):
        (lon,), (lat,) = warp_transform(f"EPSG:{epsg}", "EPSG:4326", [x + 12800], [y - 12800])
        assert any(f"utm{epsg % 100}_{i}" in h for h in tiles_for_point(mosaic, lon, lat))
    cid = collection_id_for(prefix)
    with psycopg.connect(pg_dsn) as conn:
        assert len(pgstac.item_ids(conn, cid)) == 4
        coll = pgstac.get_collection(conn, cid)
        assert coll["assets"]["mosaic"]["href"].endswith("mosaic.json")
        search = coll["geo_platform:mosaic_searches"]["mosaic"]
        row = conn.execute("SELECT metadata FROM pgstac.searches WHERE hash = %s", (search,))
        assert row.fetchone()[0]["type"] == "mosaic"
    # a new file later: only it is processed, the mosaic is updated in place
    extra = _scene(tmp / "new.tif", 32633, 305600, 5330000, 9)
    store.upload_file("bronze", f"{prefix}utm33_new.tif", extra)
    again = publish_collection(store, pg, platform, prefix, run_id="r2", workers=1)
    assert again["built"] == 1 and again["unchanged"] == 4
    assert again["mosaic_mode"] == "incremental"
    updated = json.loads((Path(store.root) / "silver" / root / "mosaic.json").read_text())
    assert updated["version"] == "1.0.1"
    assert len({a for v in updated["tiles"].values() for a in v}) == 5


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
        assert mat.metadata["built"].value == 4


@pytest.mark.slow
def test_large_raster_published_as_tiles_mosaic_and_items(tmp_path: Path, pg_dsn: str) -> None:
    from geo_platform.defs.bronze.assets import bronze_local_copy
    from geo_platform.lib import naming
    from geo_platform.lib.raster.inspect import inspect_raster
    from geo_platform.lib.raster.tiling import TilingOptions
    from geo_platform.store.catalog import publish_sources
    from geo_platform.store.mosaic_search import attach_mosaic
    from geo_platform.store.silver import stac_items
    from geo_platform.workflows.publish_tiled import publish_large_raster
    from geo_platform_tests.lib.raster.test_tiling import write_source

    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    for c in ("bronze", "silver"):
        store.ensure_container(c)
    blob = f"t{uuid.uuid4().hex[:6]}/big/scene.tif"
    store.upload_file("bronze", blob, write_source(tmp_path / "scene.tif"))
    platform = PlatformResource()
    options = TilingOptions(threshold_pixels=1, tile_size=512, workers=2)

    @dg.asset
    def big(context) -> dg.MaterializeResult:
        bronze = store.stat("bronze", blob)
        assert bronze is not None
        with bronze_local_copy(store, "bronze", blob) as local:
            info = inspect_raster(local, blob)
            out = publish_large_raster(context, store, platform, blob, bronze, local, info, options)
        return dg.MaterializeResult(metadata=dict(out.metadata))

    with dg.instance_for_test() as inst:
        res = dg.materialize([big], instance=inst)
    meta = res.asset_materializations_for_node("big")[0].metadata
    assert meta["tiles"].value == 16 and meta["tiles_built"].value == 16
    silver = Path(store.root) / "silver" / naming.silver_prefix(blob)
    assert len(list((silver / "tiles").glob("*.tif"))) == 16
    mosaic = json.loads((silver / "mosaic.json").read_text())
    validate_mosaic(mosaic)
    items = stac_items(store, "silver", blob)
    assert len(items) == 16
    cid = naming.collection_id(blob)
    try:
        with psycopg.connect(pg_dsn) as conn:
            publish_sources(conn, {blob: items}, "raster")
            parent = naming.item_id(blob)
            search = attach_mosaic(conn, cid, str(silver / "mosaic.json"), parent_item=parent)
            conn.commit()
            coll = pgstac.get_collection(conn, cid)
            assert coll["assets"][f"mosaic-{parent}"]["href"].endswith("mosaic.json")
            row = conn.execute("SELECT search FROM pgstac.searches WHERE hash = %s", (search,))
            assert row.fetchone()[0]["filter"]["args"][1] == parent
            assert len(pgstac.item_ids(conn, cid)) == 16
    finally:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("SELECT pgstac.delete_collection(%s)", (cid,))
            conn.commit()
