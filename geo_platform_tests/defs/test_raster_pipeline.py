"""Bronze rasters through the silver COG stage and into pgstac, on real services."""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import rasterio
from rasterio.warp import transform_bounds
from rio_cogeo.cogeo import cog_validate

from geo_platform.definitions import defs
from geo_platform.defs.bronze.partitions import bronze_raster_partitions
from geo_platform.lib import naming
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource
from geo_platform.store import pgstac
from geo_platform.store.catalog import items_of_source
from geo_platform_tests.fixtures.helpers import TESTDATA

FILES = {
    "rgb.tif": "rasters/rgb_uint8/RGB.byte.tif",
    "palette.tif": "rasters/palette/storml_tcc.tif",
    "broken.tif": "rasters/corrupt/RGB.byte.truncated-50pct.tif",
    "nogeo.tif": "rasters/no_crs/hopper.tif",
}
STAGES = ["bronze_raster_job", "raster_cog_job", "raster_catalog_job"]


@pytest.fixture
def env(tmp_path: Path, pg_dsn: str):
    prefix = f"t{uuid.uuid4().hex[:6]}/r"
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store.ensure_container("bronze")
    for name, rel in FILES.items():
        store.upload_file("bronze", f"{prefix}/{name}", TESTDATA / rel)
    resources = {"blob_store": store, "pgstac": PgSTACResource(database_url=pg_dsn),
                 "platform": PlatformResource()}  # fmt: skip
    with dg.instance_for_test() as inst:
        keys = [f"{prefix}/{n}" for n in FILES]
        inst.add_dynamic_partitions(bronze_raster_partitions.name, keys)
        yield inst, store, resources, prefix, keys
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("SELECT pgstac.delete_collection(%s)", (naming.collection_id(keys[0]),))
        conn.commit()


def _run_all(inst, resources, keys):
    tags = {"dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1]}  # fmt: skip
    results = []
    for job in STAGES:
        job_def = defs.resolve_job_def(job)
        results.append(
            job_def.execute_in_process(
                instance=inst, tags=tags, resources=resources, raise_on_error=False
            )
        )
    return results


def test_rasters_publish_cogs_and_items_and_fail_cleanly(env, pg_dsn):
    inst, store, resources, prefix, keys = env
    bronze, silver, catalog = _run_all(inst, resources, keys)
    # The truncated file fails at bronze; the non-georeferenced one at the COG stage; the
    # catalog stage then finds no silver item for either of them.
    assert not bronze.success and not silver.success and not catalog.success
    failed = catalog.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert set(failed.metadata["failed_files"].value) == {
        f"{prefix}/broken.tif",
        f"{prefix}/nogeo.tif",
    }
    good = [f"{prefix}/rgb.tif", f"{prefix}/palette.tif"]
    for blob in good:
        sp = naming.silver_prefix(blob)
        root = Path(store.root) / "silver" / sp
        for tier in ("analysis", "visualization", "archive"):
            ok, errors, _ = cog_validate(str(root / f"{tier}.tif"))
            assert ok, errors
        # Lossless analysis tier: pixel-identical to the source.
        with (
            rasterio.open(TESTDATA / FILES[blob.rsplit("/", 1)[1]]) as src,
            rasterio.open(root / "analysis.tif") as cog,
        ):
            assert (src.read() == cog.read()).all()
            expected = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        with psycopg.connect(pg_dsn) as conn:
            item = pgstac.get_item(conn, naming.collection_id(blob), naming.item_id(blob))
        assert item is not None
        assert item["properties"]["geo_platform:source_blob"] == blob
        # The bbox follows the footprint of valid data: inside the source bounds, and equal to
        # them when no pixel is masked (the palette raster).
        minx, miny, maxx, maxy = item["bbox"]
        tol = 1e-6
        assert expected[0] - tol <= minx < maxx <= expected[2] + tol
        assert expected[1] - tol <= miny < maxy <= expected[3] + tol
        if blob.endswith("palette.tif"):
            assert item["bbox"] == pytest.approx(list(expected), abs=1e-4)
        assert {"analysis", "visualization", "archive", "thumbnail"} <= set(item["assets"])
    # Nothing at all for the failed files: no COG, no staging leftovers, no item.
    silver_paths = [b.path for b in store.list_blobs("silver")]
    assert not any("broken" in p or "nogeo" in p or "_staging" in p for p in silver_paths)
    with psycopg.connect(pg_dsn) as conn:
        for bad in ("broken.tif", "nogeo.tif"):
            assert items_of_source(conn, f"{prefix}/{bad}") == []
    failure = silver.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert "NotGeoreferencedError" in failure.metadata["failed_files"].value[f"{prefix}/nogeo.tif"]
    evaluations = [
        e.asset_check_evaluation_data
        for e in silver.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    checks = {c.check_name: c.passed for c in evaluations}
    assert checks == {
        "cog_valid": True,
        "stac_item_valid": True,
        "raster_plausible": True,
        "collection_consistent": True,
    }


def test_rematerializing_is_idempotent(env, pg_dsn):
    inst, store, resources, prefix, keys = env
    good = [f"{prefix}/rgb.tif", f"{prefix}/palette.tif"]
    tags = {"dagster/asset_partition_range_start": good[0],
            "dagster/asset_partition_range_end": good[-1]}  # fmt: skip
    inst.delete_dynamic_partition(bronze_raster_partitions.name, keys[2])
    inst.delete_dynamic_partition(bronze_raster_partitions.name, keys[3])
    for _ in range(2):
        for job in STAGES:
            res = defs.resolve_job_def(job).execute_in_process(
                instance=inst, tags=tags, resources=resources
            )
            assert res.success
    silver = sorted(b.path for b in store.list_blobs("silver"))
    assert len(silver) == 2 * 5  # three tiers, a thumbnail and the item JSON per file
    with psycopg.connect(pg_dsn) as conn:
        assert len(pgstac.item_ids(conn, naming.collection_id(good[0]))) == 2


def test_tiers_follow_prefix_rules_and_run_config(tmp_path, pg_dsn):
    import json

    prefix = f"t{uuid.uuid4().hex[:6]}"
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store.ensure_container("bronze")
    blobs = [f"{prefix}/dem/hills.tif", f"{prefix}/imagery/rgb.tif"]
    store.upload_file("bronze", blobs[0], TESTDATA / "rasters/dem_float32/dem-hills.tiff")
    store.upload_file("bronze", blobs[1], TESTDATA / "rasters/rgb_uint8/RGB.byte.tif")
    rules = json.dumps({f"{prefix}/dem/": {"tiers": ["analysis", "archive"]}})
    resources = {"blob_store": store, "pgstac": PgSTACResource(database_url=pg_dsn),
                 "platform": PlatformResource(raster_rules=rules)}  # fmt: skip
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(bronze_raster_partitions.name, blobs)
        job = defs.resolve_job_def("raster_cog_job")
        first = job.execute_in_process(instance=inst, partition_key=blobs[0], resources=resources)
        assert first.success
        # The workflow's values become typed Dagster metadata (paths, Markdown, JSON).
        meta = first.asset_materializations_for_node("raster_files")[0].metadata
        assert isinstance(meta["analysis_href"], dg.PathMetadataValue)
        assert meta["analysis_href"].value.endswith("/analysis.tif")
        assert isinstance(meta["preview"], dg.MarkdownMetadataValue)
        assert isinstance(meta["bbox_4326"], dg.JsonMetadataValue)
        assert meta["visualization_skipped"].value == "not requested"
        run_config = {"ops": {"raster_files": {"config": {"tiers": ["visualization"]}}}}
        assert job.execute_in_process(
            instance=inst, partition_key=blobs[1], resources=resources, run_config=run_config
        ).success

    def tiers(blob: str) -> set[str]:
        folder = Path(store.root) / "silver" / naming.silver_prefix(blob)
        return {p.stem for p in folder.glob("*.tif")}

    assert tiers(blobs[0]) == {"analysis", "archive"}
    assert tiers(blobs[1]) == {"visualization"}


def _tiled_dem(path: Path, width: int, height: int) -> None:
    import numpy as np
    from rasterio.transform import from_origin

    yy, xx = np.mgrid[0:height, 0:width]
    data = (1000 + 300 * np.sin(xx / 97.0) * np.cos(yy / 53.0)).astype("uint16")
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 1,
               "dtype": "uint16", "crs": "EPSG:32633", "tiled": True, "blockxsize": 256,
               "blockysize": 256, "compress": "deflate",
               "transform": from_origin(500000, 5300000, 10, 10)}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def test_large_raster_becomes_tiles_mosaic_and_items(tmp_path, pg_dsn):
    """Above the tiling threshold the pipeline publishes COG tiles, a MosaicJSON, an item per
    tile and a mosaic asset on the collection (threshold lowered so a small file counts)."""
    platform = PlatformResource(
        tiling_threshold_pixels=100_000, tiling_tile_size=512, tiling_work_dir=str(tmp_path / "w")
    )
    blob = f"t{uuid.uuid4().hex[:6]}/big/rgb.tif"
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store.ensure_container("bronze")
    src = tmp_path / "dem.tif"
    _tiled_dem(src, width=1500, height=1200)
    store.upload_file("bronze", blob, src)
    resources = {"blob_store": store, "pgstac": PgSTACResource(database_url=pg_dsn),
                 "platform": platform}  # fmt: skip
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(bronze_raster_partitions.name, [blob])
        res = defs.resolve_job_def("raster_pipeline_job").execute_in_process(
            instance=inst, partition_key=blob, resources=resources
        )
        assert res.success
    root = Path(store.root) / "silver" / naming.silver_prefix(blob)
    tiles = sorted((root / "tiles").glob("*.tif"))
    assert len(tiles) == 9  # 1500 x 1200 pixels in 512-pixel tiles, edges clipped
    for tile in tiles:
        assert cog_validate(str(tile))[0]
    assert (root / "mosaic.json").is_file()
    cid = naming.collection_id(blob)
    try:
        with psycopg.connect(pg_dsn) as conn:
            assert len(pgstac.item_ids(conn, cid)) == 9
            collection = pgstac.get_collection(conn, cid)
            assets = collection.get("assets", {})
            item = naming.item_id(blob)
            assert assets[f"mosaic-{item}"]["href"].endswith("/mosaic.json")
            # the visualization tiles' mosaic too, served by the same pgstac search
            visual = assets[f"mosaic-visual-{item}"]
            assert visual["href"].endswith("/mosaic-visual.json") and "visual" in visual["roles"]
            searches = collection["geo_platform:mosaic_searches"]
            assert searches[f"mosaic-visual-{item}"] == searches[f"mosaic-{item}"]
            validate_stac(collection)
    finally:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("SELECT pgstac.delete_collection(%s)", (cid,))
            conn.commit()
