"""Retry on a real storage outage: a private Azurite is stopped, then started again while the
janitor job runs; the op's retry policy carries the run through.

A private emulator (own port and data folder) so that the shared one other tests use is never
interrupted.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from geo_platform.defs.lifecycle.jobs import janitor, janitor_run_config
from geo_platform.lib.errors import StorageUnavailableError, is_retryable
from geo_platform.resources.blob_store import AzureBlobStore
from geo_platform.resources.databases import PlatformResource, PostGISResource
from geo_platform.resources.promotion import promotion_resource
from geo_platform.services.azurite import ensure_azurite, stop_azurite
from geo_platform.settings import Settings
from geo_platform_tests.fixtures.lifecycle import free_port


def _restart_after_retry(inst: dg.DagsterInstance, run_id: str, private: Settings) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if inst.all_logs(run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY):
            break
        time.sleep(0.1)
    ensure_azurite(private)


@pytest.mark.azurite
@pytest.mark.slow
def test_janitor_survives_a_storage_outage(
    tmp_path: Path, settings: Settings, pg_dsn: str, pg_schema: str
) -> None:
    private = dataclasses.replace(
        settings,
        state_dir=tmp_path / "state",
        azurite_port=free_port(),
        azurite_queue_port=free_port(),  # random ports: blob port + 1 may be taken
    )
    conn_str = ensure_azurite(private)
    try:
        store = AzureBlobStore(connection_string=conn_str, retries=0)
        container = f"silver-{uuid.uuid4().hex[:8]}"
        store.ensure_container(container)
        leftover = "_staging/0123abcd/analysis.tif"
        store.upload_bytes(container, leftover, b"half-published")
        stop_azurite(private)
        with pytest.raises(StorageUnavailableError) as err:
            list(store.list_blobs(container))
        assert is_retryable(err.value)
        run_id = str(uuid.uuid4())
        with dg.instance_for_test() as inst:
            # Storage comes back only once the op has failed and asked for a retry.
            restart = threading.Thread(target=_restart_after_retry, args=(inst, run_id, private))
            restart.start()
            res = janitor.execute_in_process(
                run_config=janitor_run_config(dry_run=False, older_than_hours=0, temp_dirs=[]),
                instance=inst,
                run_id=run_id,
                resources={
                    "blob_store": store,
                    "postgis": PostGISResource(database_url=pg_dsn, geo_schema=pg_schema),
                    "platform": PlatformResource(silver_container=container, geo_schema=pg_schema),
                    "promotion": promotion_resource(settings),
                },
            )
        restart.join()
        assert res.success
        retries = [e for e in res.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert retries and "StorageUnavailableError" in retries[0].step_retry_data.error.to_string()
        report = res.output_for_node("janitor_sweep")
        assert [b["path"] for b in report["staging_blobs"]] == [leftover]
        assert not store.exists(container, leftover)
    finally:
        stop_azurite(private)
