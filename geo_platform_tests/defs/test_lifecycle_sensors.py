"""Lifecycle sensors: unpublish on bronze removal (opt-in) and webhook notifications.

The webhook is a real HTTP server started by the test on 127.0.0.1 (random port).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest

from geo_platform.defs.bronze.sensors import bronze_tick
from geo_platform.defs.lifecycle.jobs import unpublish_raster
from geo_platform.defs.lifecycle.sensors import (
    removal_tick,
    run_failure_notification_sensor,
    run_success_notification_sensor,
)
from geo_platform.lib import naming
from geo_platform.lib.stac.collection import dataset_collection
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.resources.lifecycle import LifecycleResource
from geo_platform.settings import Settings
from geo_platform.store import pgstac
from geo_platform.store.webhook import post_json
from geo_platform_tests.fixtures.helpers import TESTDATA
from geo_platform_tests.fixtures.lifecycle import (
    delete_collections,
    lifecycle_env,
    make_raster,
)


# --- a webhook receiver ---------------------------------------------------------------------
class Receiver:
    """Records JSON POST bodies; answers with the statuses queued in ``replies`` (then 200)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.replies: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                status = receiver.replies.pop(0) if receiver.replies else 200
                if status == 200:
                    receiver.bodies.append(json.loads(body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/s3cr3t-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def bronze_env(tmp_path: Path, pg_dsn: str, settings: Settings):
    store, resources = lifecycle_env(tmp_path / "blobs", pg_dsn, settings)
    with dg.instance_for_test() as inst:
        yield inst, store, resources


def _evaluate_failure(inst, result, lifecycle: LifecycleResource) -> None:
    ctx = dg.build_run_status_sensor_context(
        sensor_name="run_failure_notification_sensor",
        dagster_instance=inst,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
        resources={"lifecycle": lifecycle},
    ).for_run_failure()
    run_failure_notification_sensor(ctx)


# --- notifications ---------------------------------------------------------------------------
def test_failure_and_success_notifications(bronze_env, receiver: Receiver, tmp_path: Path):
    inst, store, resources = bronze_env
    prefix = f"n{uuid.uuid4().hex[:6]}"
    broken = f"{prefix}/broken.tif"
    good = f"{prefix}/good.tif"
    store.upload_file("bronze", broken, TESTDATA / "rasters/corrupt/RGB.byte.truncated-50pct.tif")
    store.upload_file("bronze", good, make_raster(tmp_path / "g.tif", seed=3))
    inst.add_dynamic_partitions("bronze_raster_files", [broken, good])
    from geo_platform.definitions import defs

    job = defs.resolve_job_def("bronze_raster_job")
    failed = job.execute_in_process(
        instance=inst, resources=resources, raise_on_error=False,
        tags={"dagster/asset_partition_range_start": broken,
              "dagster/asset_partition_range_end": good},
    )  # fmt: skip
    assert not failed.success
    lifecycle = LifecycleResource(webhook_url=receiver.url, ui_base_url="http://127.0.0.1:3999")
    _evaluate_failure(inst, failed, lifecycle)
    [payload] = receiver.bodies
    assert payload["event"] == "run_failure" and payload["status"] == "FAILURE"
    assert payload["run_id"] == failed.run_id and payload["job"] == "bronze_raster_job"
    assert payload["ui_url"] == f"http://127.0.0.1:3999/runs/{failed.run_id}"
    assert list(payload["failed_files"]) == [broken]
    assert "UnreadableFileError" in payload["failed_files"][broken]
    assert payload["failed_file_count"] == 1 and payload["errors"][0]["step"] == "raster_files"
    assert payload["errors"][0]["stages"] == ["bronze_raster"]  # where in the file pipeline
    assert payload["counts"]["materializations"] == 1  # the good file was still recorded
    assert payload["tags"]["dagster/asset_partition_range_start"] == broken
    assert "s3cr3t" not in json.dumps(payload)
    # Success summary.
    ok = job.execute_in_process(instance=inst, resources=resources, partition_key=good)
    ctx = dg.build_run_status_sensor_context(
        sensor_name="run_success_notification_sensor", dagster_instance=inst,
        dagster_run=ok.dagster_run, dagster_event=ok.get_run_success_event(),
        resources={"lifecycle": lifecycle},
    )  # fmt: skip
    run_success_notification_sensor(ctx)
    success = receiver.bodies[-1]
    assert success["event"] == "run_success" and success["run_id"] == ok.run_id
    assert success["counts"]["materializations"] == 1
    assert success["counts"]["materializations_by_asset"] == {"bronze_raster": 1}
    assert success["duration_s"] is not None and success["duration_s"] >= 0
    # Nothing is sent without a webhook, or for successes when summaries are off.
    before = len(receiver.bodies)
    _evaluate_failure(inst, failed, LifecycleResource())
    quiet = LifecycleResource(webhook_url=receiver.url, notify_success=False)
    run_success_notification_sensor(
        dg.build_run_status_sensor_context(
            sensor_name="run_success_notification_sensor",
            dagster_instance=inst,
            dagster_run=ok.dagster_run,
            dagster_event=ok.get_run_success_event(),
            resources={"lifecycle": quiet},
        )
    )
    assert len(receiver.bodies) == before


def test_failure_payload_never_carries_secrets(receiver: Receiver) -> None:
    @dg.op
    def leaky() -> None:
        raise RuntimeError(
            "cannot reach postgresql://admin:hunter2@db.internal:5432/geo and "
            "DefaultEndpointsProtocol=https;AccountName=acc;AccountKey=c2VjcmV0a2V5;"
        )

    @dg.job
    def leaky_job() -> None:
        leaky()

    with dg.instance_for_test() as inst:
        result = leaky_job.execute_in_process(instance=inst, raise_on_error=False)
        _evaluate_failure(inst, result, LifecycleResource(webhook_url=receiver.url))
    [payload] = receiver.bodies
    text = json.dumps(payload)
    assert "hunter2" not in text and "c2VjcmV0a2V5" not in text
    assert "RuntimeError" in payload["errors"][0]["error_type"]
    assert "postgresql://admin:***@db.internal" in payload["errors"][0]["message"]


def test_webhook_retries_transient_statuses_only(receiver: Receiver) -> None:
    receiver.replies = [503, 502]
    result = post_json(receiver.url, {"run_id": "x"}, retries=3, backoff_s=0.05)
    assert result.ok and result.attempts == 3 and receiver.bodies == [{"run_id": "x"}]
    receiver.replies = [404]
    result = post_json(receiver.url, {"run_id": "y"}, retries=3, backoff_s=0.05)
    assert not result.ok and result.attempts == 1 and result.status == 404
    # Nobody listening: retried, then reported (never raised).
    closed = receiver.url.replace(str(receiver.server.server_address[1]), "1")
    result = post_json(closed, {"run_id": "z"}, retries=1, backoff_s=0.05, timeout_s=2)
    assert not result.ok and result.attempts == 2 and "s3cr3t" not in (result.error or "")


# --- unpublish on bronze removal -------------------------------------------------------------
def _publish_fake_item(dsn: str, store: LocalBlobStore, blob: str) -> tuple[str, str]:
    """A real pgstac item for ``blob`` with a silver asset (cheaper than the full pipeline)."""
    cid, iid = naming.collection_id(blob), naming.item_id(blob)
    path = f"{naming.silver_prefix(blob)}/analysis.tif"
    store.upload_bytes("silver", path, b"cog")
    item = {
        "type": "Feature", "stac_version": "1.1.0", "id": iid, "collection": cid,
        "geometry": {"type": "Point", "coordinates": [1.0, 2.0]}, "bbox": [1.0, 2.0, 1.0, 2.0],
        "properties": {"datetime": "2024-01-01T00:00:00Z", "geo_platform:source_blob": blob,
                       "geo_platform:run_id": "r0"},
        "links": [], "assets": {"analysis": {"href": store.href("silver", path),
                                             "roles": ["data"]}},
    }  # fmt: skip
    with psycopg.connect(dsn) as conn:
        pgstac.upsert_collection(conn, dataset_collection(cid, "test", "raster"))
        pgstac.upsert_items(conn, [item])
        conn.commit()
    return cid, iid


def test_bronze_removal_sensor_modes(bronze_env, pg_dsn: str) -> None:
    inst, store, resources = bronze_env
    platform, postgis = resources["platform"], resources["postgis"]
    prefix = f"rm{uuid.uuid4().hex[:6]}"
    blobs = [f"{prefix}/a.tif", f"{prefix}/b.tif"]
    for b in blobs:
        store.upload_bytes("bronze", b, b"tif")
    cid, iid = _publish_fake_item(pg_dsn, store, blobs[0])
    try:
        # The bronze sensor sees the blobs, then sees one of them removed.
        first = bronze_tick(inst, store, platform, None, None)
        for req in first.dynamic_partitions_requests:
            inst.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        store.delete("bronze", blobs[0])
        second = bronze_tick(inst, store, platform, first.cursor, None)
        assert second.asset_events
        for event in second.asset_events:
            inst.report_runless_asset_event(event)
        # off (default): the cursor moves on, nothing is launched, now or later.
        off = removal_tick(inst, None, "off", store, postgis, platform, None)
        assert not off.run_requests and off.cursor
        assert not removal_tick(inst, off.cursor, "on", store, postgis, platform, None).run_requests
        # dry_run: one dry-run unpublish of the source's items.
        dry = removal_tick(inst, None, "dry_run", store, postgis, platform, None)
        [req] = dry.run_requests
        config = req.run_config["ops"]["unpublish_raster_items"]["config"]
        assert req.job_name == "unpublish_raster" and config["dry_run"] is True
        assert config["item_ids"] == [iid] and config["collection"] == cid
        assert blobs[0] in config["reason"]
        res = unpublish_raster.execute_in_process(
            run_config=req.run_config, instance=inst, resources=resources, tags=req.tags
        )
        report = res.output_for_node("unpublish_raster_items")
        assert report["dry_run"] and report["items"][0]["id"] == iid
        # on: the real unpublish; the same removal is never requested twice (run key).
        on = removal_tick(inst, None, "on", store, postgis, platform, None)
        [real] = on.run_requests
        assert real.run_config["ops"]["unpublish_raster_items"]["config"]["dry_run"] is False
        assert real.run_key != req.run_key
        unpublish_raster.execute_in_process(
            run_config=real.run_config, instance=inst, resources=resources, tags=real.tags
        )
        with psycopg.connect(pg_dsn) as conn:
            assert pgstac.get_item(conn, cid, iid) is None
        assert store.exists("bronze", blobs[1])  # bronze untouched
        # A blob that came back before the sensor looked is left alone.
        store.upload_bytes("bronze", blobs[0], b"tif again")
        assert not removal_tick(inst, None, "on", store, postgis, platform, None).run_requests
    finally:
        delete_collections(pg_dsn, [cid])
