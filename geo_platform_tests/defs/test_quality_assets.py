"""Quality assets on real services: report from real run history, accounting of real silver
files, and the duplicate skip path feeding the real catalog stage."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import dagster as dg
import numpy as np
import psycopg
import pytest
from PIL import Image

from geo_platform.definitions import defs
from geo_platform.defs.bronze.partitions import bronze_raster_partitions
from geo_platform.defs.quality.assets import quality_report, storage_accounting
from geo_platform.lib import naming
from geo_platform.lib.inventory import sha256_file
from geo_platform.lib.types import Provenance
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource, PostGISResource
from geo_platform.store import pgstac
from geo_platform.store.duplicates import DUPLICATE_PROPERTY, DUPLICATE_REL
from geo_platform.workflows.dedupe import link_duplicate, raster_item_ids, vector_item_ids
from geo_platform_tests.fixtures.helpers import TESTDATA
from geo_platform_tests.lib.raster.synth import gradient, write_tif

NOGEO = TESTDATA / "rasters/no_crs/hopper.tif"


@pytest.fixture(scope="module")
def env(tmp_path_factory, pg_dsn):
    """One published raster, one failed raster and a second copy of the first, in bronze."""
    tmp = tmp_path_factory.mktemp("quality")
    prefix = f"q{uuid.uuid4().hex[:6]}"
    # Content of its own (a published copy of a shared test file would be "the original").
    data = gradient(3, 96, 96)
    data[0, 0, :16] = np.frombuffer(uuid.uuid4().bytes, dtype="uint8")
    rgb = write_tif(tmp / "unique.tif", data)
    store = LocalBlobStore(root=str(tmp / "blobs"))
    store.ensure_container("bronze")
    blobs = {
        "good": f"{prefix}/a/rgb.tif",
        "bad": f"{prefix}/a/nogeo.tif",
        "copy": f"{prefix}/b/rgb copy.tif",
    }
    for key, src in (("good", rgb), ("bad", NOGEO), ("copy", rgb)):
        store.upload_file("bronze", blobs[key], src)
    resources = {
        "blob_store": store,
        "pgstac": PgSTACResource(database_url=pg_dsn),
        "postgis": PostGISResource(database_url=pg_dsn),
        "platform": PlatformResource(),
    }
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(bronze_raster_partitions.name, list(blobs.values()))
        for job in ("bronze_raster_job", "raster_cog_job", "raster_catalog_job"):
            for key in ("good", "bad"):
                defs.resolve_job_def(job).execute_in_process(
                    instance=inst,
                    partition_key=blobs[key],
                    resources=resources,
                    raise_on_error=False,
                )
        yield inst, store, resources, blobs, tmp
    with psycopg.connect(pg_dsn) as conn:
        for blob in blobs.values():
            cid = naming.collection_id(blob)
            if pgstac.get_collection(conn, cid) is not None:
                conn.execute("SELECT pgstac.delete_collection(%s)", (cid,))
        conn.commit()


def test_quality_report_asset_writes_markdown_and_charts(env):
    inst, store, resources, blobs, _ = env
    result = dg.materialize([quality_report], instance=inst, resources=resources)
    assert result.success
    meta = result.asset_materializations_for_node("quality_report")[0].metadata
    assert meta["quality/items"].value >= 1
    assert meta["quality/failed_files"].value >= 1
    md = meta["report"].value
    assert "NotGeoreferencedError" in md and blobs["bad"] in md
    assert "data:image/png;base64," in md  # charts embedded for the UI
    silver = [b.path for b in store.list_blobs("silver", "reports/quality/")]
    assert any(p.endswith("/report.md") for p in silver)
    pngs = [p for p in silver if p.endswith(".png")]
    assert {Path(p).name for p in pngs} >= {
        "items_over_time.png",
        "failures.png",
        "completeness.png",
        "materializations.png",
    }
    for p in pngs:
        with Image.open(Path(store.root) / "silver" / p) as img:
            img.verify()


def test_storage_accounting_asset_measures_the_real_silver_files(env):
    inst, store, resources, blobs, _ = env
    result = dg.materialize([storage_accounting], instance=inst, resources=resources)
    assert result.success
    meta = {
        k: v.value
        for k, v in result.asset_materializations_for_node("storage_accounting")[0].metadata.items()
    }
    silver = Path(store.root) / "silver"
    analysis = sum(p.stat().st_size for p in silver.rglob("analysis.tif"))
    bronze = sum(p.stat().st_size for p in (Path(store.root) / "bronze").rglob("*") if p.is_file())
    assert analysis > 0 and meta["bytes/tier/analysis"] == analysis
    assert meta["bytes/tier/bronze"] == meta["bytes/container/bronze"] == bronze
    assert meta["cost/tier/analysis"] == pytest.approx(analysis / 2**30 * 0.0184, abs=1e-6)
    good_collection = naming.collection_id(blobs["good"])
    assert meta["by_collection"][good_collection] > analysis  # bronze + all silver tiers
    doc = [b for b in store.list_blobs("silver", "reports/accounting/")]
    stored = json.loads((silver / doc[0].path).read_text())
    assert stored["by_tier"]["analysis"] == analysis
    assert stored["prices"]["region"] == "East US 2"


def test_duplicate_is_linked_not_rebuilt(env, pg_dsn):
    inst, store, resources, blobs, _ = env
    second = blobs["copy"]
    with store.local_copy("bronze", second) as local:
        sha = sha256_file(local)
    provenance = Provenance(second, "etag", source_sha256=sha, run_id="r")
    with psycopg.connect(pg_dsn) as conn:
        meta = link_duplicate(
            store,
            conn,
            silver_container="silver",
            mode="link",
            provenance=provenance,
            collection_id=naming.collection_id(second),
            item_id_for=raster_item_ids(second),
        )
        unique = link_duplicate(
            store,
            conn,
            silver_container="silver",
            mode="link",
            provenance=Provenance(second, "e", source_sha256="0" * 64),
            collection_id="x",
            item_id_for=lambda _o, _n: "x",
        )
        publish_mode = link_duplicate(
            store,
            conn,
            silver_container="silver",
            mode="publish",
            provenance=provenance,
            collection_id="x",
            item_id_for=lambda _o, _n: "x",
        )
    assert unique is None and publish_mode is None
    assert meta is not None and meta.duplicate_of == blobs["good"]
    # Silver holds only the pointer item for the copy: nothing was built.
    copied = [b.path for b in store.list_blobs("silver", naming.silver_prefix(second) + "/")]
    assert copied == [f"{naming.silver_prefix(second)}/stac/{naming.item_id(second)}.json"]
    # The real catalog stage publishes it.
    res = defs.resolve_job_def("raster_catalog_job").execute_in_process(
        instance=inst, partition_key=second, resources=resources
    )
    assert res.success
    with psycopg.connect(pg_dsn) as conn:
        item = pgstac.get_item(conn, naming.collection_id(second), naming.item_id(second))
    assert item is not None and item["assets"] == {}
    assert item["properties"][DUPLICATE_PROPERTY]["source_blob"] == blobs["good"]
    good = blobs["good"]
    target = f"/collections/{naming.collection_id(good)}/items/{naming.item_id(good)}"
    assert [link["href"] for link in item["links"] if link["rel"] == DUPLICATE_REL] == [target]


def test_quality_defs_are_registered_in_the_platform_definitions():
    """The code location itself (not a merge made here) holds the quality assets, job and
    schedule: dropping them from the definitions fails this test."""
    graph = defs.resolve_asset_graph()
    for asset in (quality_report, storage_accounting):
        assert graph.get(asset.key).group_name == "quality"
        assert defs.resolve_assets_def(asset.key).op is asset.op  # this asset, not a lookalike
    job = defs.resolve_job_def("quality_job")
    assert {n.name for n in job.nodes} == {"quality_report", "storage_accounting"}
    schedule = defs.resolve_schedule_def("quality_schedule")
    assert schedule.job_name == "quality_job" and schedule.cron_schedule == "0 5 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_vector_pointer_ids_follow_the_table_names():
    name = vector_item_ids("v/roads.gpkg")
    assert name({"properties": {"geo_platform:layer": "roads"}}, 1) == "v_roads"
    assert name({"properties": {"geo_platform:layer": "rails"}}, 2) == "v_roads__rails"
