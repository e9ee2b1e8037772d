"""Files of one batch stay independent end to end (issue 17), on real Dagster, PostGIS and pgstac.

One run of a kind's pipeline job carries a batch of good and bad files: every good file reaches
pgstac in that same run, and Dagster's partition statuses say exactly which file failed at which
stage. Automation does not launch a failed file again; a transient error is retried by policy
for the file that hit it only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from geo_platform.definitions import defs
from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.defs.pipeline import vector_files
from geo_platform.defs.stages import Stage, file_pipeline, per_file
from geo_platform.lib import naming
from geo_platform.lib.errors import MissingCRSError, StorageUnavailableError
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource, PostGISResource
from geo_platform.store.catalog import items_of_source
from geo_platform_tests.fixtures.helpers import TESTDATA

VECTOR_STAGES = ["bronze_vector", "vector_table", "vector_stac_item"]
RASTER_STAGES = ["bronze_raster", "raster_cog", "raster_stac_item"]
# In partition order: each bad file sits between good ones.
VECTORS = {
    "a_trio.geojson": "vectors/misc/trio.geojson",
    "b_badzip.zip": "vectors/misc/badzip.zip",  # not a zip: fails at bronze
    "c_nocrs.zip": "vectors/shp_zip_no_prj/counties.zip",  # no CRS: fails at silver
    "d_kinked.geojson": "vectors/geojson_invalid/switzerlandKinked.geojson",
}
RASTERS = {
    "a_rgb.tif": "rasters/rgb_uint8/RGB.byte.tif",
    "b_broken.tif": "rasters/corrupt/RGB.byte.truncated-50pct.tif",  # fails at bronze
    "c_nogeo.tif": "rasters/no_crs/hopper.tif",  # not georeferenced: fails at silver
    "d_palette.tif": "rasters/palette/storml_tcc.tif",
}


def _range(keys: list[str]) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1]}  # fmt: skip


def _statuses(inst: dg.DagsterInstance, kind: str, assets: list[str], keys: list[str]) -> dict:
    """{file name: [status at each stage]}, 'MISSING' where Dagster has none."""
    out: dict[str, list[str]] = {k.rsplit("/", 1)[1]: [] for k in keys}
    for asset in assets:
        status = inst.get_status_by_partition(dg.AssetKey(asset), keys, PARTITIONS[kind]) or {}
        for key in keys:
            out[key.rsplit("/", 1)[1]].append(status[key].value if key in status else "MISSING")
    return out


@pytest.fixture
def vectors(tmp_path: Path, pg_dsn: str) -> Iterator[dict[str, Any]]:
    prefix = f"bi{uuid.uuid4().hex[:6]}"
    schema = f"geo_{prefix}"
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store.ensure_container("bronze")
    keys = []
    for name, rel in VECTORS.items():
        store.upload_file("bronze", f"{prefix}/{name}", TESTDATA / rel)
        keys.append(f"{prefix}/{name}")
    resources = {
        "blob_store": store,
        "postgis": PostGISResource(database_url=pg_dsn, geo_schema=schema),
        "pgstac": PgSTACResource(database_url=pg_dsn),
        "platform": PlatformResource(geo_schema=schema),
    }
    with dg.instance_for_test() as inst:
        yield {"inst": inst, "keys": keys, "resources": resources, "prefix": prefix}
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(
            "SELECT pgstac.delete_collection(id) FROM pgstac.collections WHERE id = %s",
            (naming.collection_id(keys[0]),),
        )


def _run_pipeline(kind: str, env: dict[str, Any]) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(f"{kind}_pipeline_job").execute_in_process(
        instance=env["inst"], tags=_range(env["keys"]), resources=env["resources"],
        raise_on_error=False,
    )  # fmt: skip


def test_vector_batch_good_files_reach_pgstac_in_the_same_run(vectors, pg_dsn):
    inst, keys, prefix = vectors["inst"], vectors["keys"], vectors["prefix"]
    inst.add_dynamic_partitions(PARTITIONS["vector"].name, keys)
    run = _run_pipeline("vector", vectors)

    # The run fails (it names the bad files) but no stage was skipped for the good ones.
    assert not run.success
    assert not [e for e in run.all_events if e.event_type_value == "STEP_SKIPPED"]
    assert _statuses(inst, "vector", VECTOR_STAGES, keys) == {
        "a_trio.geojson": ["MATERIALIZED"] * 3,
        "b_badzip.zip": ["FAILED", "FAILED", "FAILED"],
        "c_nocrs.zip": ["MATERIALIZED", "FAILED", "FAILED"],
        "d_kinked.geojson": ["MATERIALIZED"] * 3,
    }
    with psycopg.connect(pg_dsn) as conn:
        assert len(items_of_source(conn, f"{prefix}/a_trio.geojson")) == 3  # one per table
        assert len(items_of_source(conn, f"{prefix}/d_kinked.geojson")) == 1
        assert items_of_source(conn, f"{prefix}/b_badzip.zip") == []
        assert items_of_source(conn, f"{prefix}/c_nocrs.zip") == []
    failure = run.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert failure.metadata["failed_stages"].value == {
        f"{prefix}/b_badzip.zip": "bronze_vector",
        f"{prefix}/c_nocrs.zip": "vector_table",
    }
    assert "MissingCRSError" in failure.metadata["failed_files"].value[f"{prefix}/c_nocrs.zip"]
    assert not [e for e in run.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    # Why each bad file stopped is recorded on its partition of that stage.
    observed = {
        e.asset_observation_data.asset_observation.partition: (
            e.asset_observation_data.asset_observation.asset_key.to_user_string()
        )
        for e in run.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    }
    assert observed == {
        f"{prefix}/b_badzip.zip": "bronze_vector",
        f"{prefix}/c_nocrs.zip": "vector_table",
    }
    # Each good file is materialized once per stage, with its own metadata.
    mats = [(e.materialization.asset_key.to_user_string(), e.materialization.partition)
            for e in run.get_asset_materialization_events()]  # fmt: skip
    assert sorted(mats) == sorted(
        [
            (a, f"{prefix}/{n}")
            for a in VECTOR_STAGES
            for n in ("a_trio.geojson", "d_kinked.geojson")
        ]
        + [("bronze_vector", f"{prefix}/c_nocrs.zip")]
    )


def test_automation_does_not_launch_a_failed_file_again(vectors):
    """Plain ``eager()`` would request the file that failed in the sensor's run a second time
    (the double failure runs seen in issue 17); the platform's condition does not."""
    inst, keys = vectors["inst"], vectors["keys"]
    eager = dg.map_asset_specs(
        lambda spec: spec
        if spec.automation_condition is None
        else spec.replace_attributes(automation_condition=dg.AutomationCondition.eager()),
        [vector_files],
    )
    selection = dg.AssetSelection.assets("vector_table", "vector_stac_item")
    cursors: dict[str, Any] = {"ours": None, "eager": None}
    assets = {
        name: dg.Definitions(assets=a, resources=vectors["resources"])
        for name, a in (("ours", [vector_files]), ("eager", eager))
    }

    def tick() -> dict[str, dict[str, set]]:
        out = {}
        for name, defs_ in assets.items():
            res = dg.evaluate_automation_conditions(
                defs=defs_, instance=inst, asset_selection=selection, cursor=cursors[name]
            )
            cursors[name] = res.cursor
            out[name] = {a: res.get_requested_partitions(dg.AssetKey(a)) for a in VECTOR_STAGES[1:]}
        return out

    tick()  # the conditions start before the files arrive
    inst.add_dynamic_partitions(PARTITIONS["vector"].name, keys)
    before = tick()  # new partitions, bronze missing: nothing yet (the sensor runs them)
    assert before["ours"] == before["eager"] == {"vector_table": set(), "vector_stac_item": set()}
    assert not _run_pipeline("vector", vectors).success
    after = tick()
    nocrs = next(k for k in keys if "nocrs" in k)
    assert after["eager"]["vector_table"] == {nocrs}  # what doubled the failure runs
    assert after["ours"] == {"vector_table": set(), "vector_stac_item": set()}
    assert tick()["ours"] == {"vector_table": set(), "vector_stac_item": set()}


def test_raster_batch_good_files_reach_pgstac_in_the_same_run(tmp_path: Path, pg_dsn: str):
    prefix = f"bi{uuid.uuid4().hex[:6]}"
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store.ensure_container("bronze")
    keys = []
    for name, rel in RASTERS.items():
        store.upload_file("bronze", f"{prefix}/{name}", TESTDATA / rel)
        keys.append(f"{prefix}/{name}")
    resources = {"blob_store": store, "pgstac": PgSTACResource(database_url=pg_dsn),
                 "platform": PlatformResource()}  # fmt: skip
    try:
        with dg.instance_for_test() as inst:
            inst.add_dynamic_partitions(PARTITIONS["raster"].name, keys)
            run = _run_pipeline("raster", {"inst": inst, "keys": keys, "resources": resources})
            assert not run.success
            assert _statuses(inst, "raster", RASTER_STAGES, keys) == {
                "a_rgb.tif": ["MATERIALIZED"] * 3,
                "b_broken.tif": ["FAILED"] * 3,
                "c_nogeo.tif": ["MATERIALIZED", "FAILED", "FAILED"],
                "d_palette.tif": ["MATERIALIZED"] * 3,
            }
        failure = run.get_step_failure_events()[0].step_failure_data.user_failure_data
        assert failure.metadata["failed_stages"].value == {
            f"{prefix}/b_broken.tif": "bronze_raster",
            f"{prefix}/c_nogeo.tif": "raster_cog",
        }
        with psycopg.connect(pg_dsn) as conn:
            for good in ("a_rgb.tif", "d_palette.tif"):
                assert len(items_of_source(conn, f"{prefix}/{good}")) == 1
            for bad in ("b_broken.tif", "c_nogeo.tif"):
                assert items_of_source(conn, f"{prefix}/{bad}") == []
        # Checks judged the files that reached the COG stage (the bad one never produced COGs).
        checks = {e.check_name: e.passed for e in run.get_asset_check_evaluations()}
        assert checks == {"cog_valid": True, "stac_item_valid": True,
                          "raster_plausible": True, "collection_consistent": True}  # fmt: skip
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(
                "SELECT pgstac.delete_collection(id) FROM pgstac.collections WHERE id = %s",
                (naming.collection_id(keys[0]),),
            )


class _Config(dg.Config):
    pass


def test_transient_error_is_retried_for_that_file_only(tmp_path: Path):
    """A file hitting a transient error is retried by the retry policy; the retry does not redo
    the files already done, nor the file that failed for good."""
    calls: list[tuple[str, str, int]] = []
    parts = dg.DynamicPartitionsDefinition(name=f"t{uuid.uuid4().hex[:6]}")

    def work(stage: str, transient: str, permanent: str):
        def fn(ctx, key, _blob):
            calls.append((stage, key, ctx.context.retry_number))
            if key == transient and ctx.context.retry_number == 0:
                raise StorageUnavailableError("throttled", path=key)
            if key == permanent:
                raise MissingCRSError("no CRS", path=key)
            return {"stage": stage}

        return per_file(fn)

    stages = [
        Stage(dg.AssetSpec("t_first"), work("first", "none", "p")),
        Stage(dg.AssetSpec("t_second", deps=["t_first"]), work("second", "t", "none")),
    ]
    asset = file_pipeline("t_files", stages, parts, _Config)
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(parts.name, ["g", "p", "t"])
        run = dg.materialize([asset], instance=inst, tags=_range(["g", "t"]), raise_on_error=False)
        status = {
            a: {k: s.value for k, s in inst.get_status_by_partition(
                dg.AssetKey(a), ["g", "p", "t"], parts).items()}
            for a in ("t_first", "t_second")
        }  # fmt: skip
    assert not run.success  # "p" failed for good
    assert status == {
        "t_first": {"g": "MATERIALIZED", "p": "FAILED", "t": "MATERIALIZED"},
        "t_second": {"g": "MATERIALIZED", "p": "FAILED", "t": "MATERIALIZED"},
    }
    # First attempt: everything; the retry: only "t" at the stage where it failed.
    assert calls == [
        ("first", "g", 0), ("first", "p", 0), ("first", "t", 0),
        ("second", "g", 0), ("second", "t", 0),
        ("second", "t", 1),
    ]  # fmt: skip
    retries = [e for e in run.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 1
    (failure,) = [e.step_failure_data.user_failure_data for e in run.get_step_failure_events()]
    assert failure.metadata["failed_stages"].value == {"p": "t_first"}
