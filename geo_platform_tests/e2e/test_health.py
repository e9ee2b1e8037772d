"""`geo-platform health`: fails honestly when something is down, passes when everything is up."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from geo_platform.app.health import (
    EXIT_NOT_ORCHESTRATING,
    EXIT_SERVICES_DOWN,
    check_all,
    check_blob_store,
    exit_code,
    healthy,
)
from geo_platform.cli.health import health
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.settings import load_settings
from geo_platform_tests.e2e.processes import daemon, free_port

# Like every end-to-end module: `make test-quick` (-m "not slow") leaves it out.
pytestmark = pytest.mark.slow


def _by_name(payload: dict) -> dict[str, dict]:
    return {c["name"]: c for c in payload["checks"]}


def test_health_fails_when_the_database_is_down(monkeypatch, tmp_path):
    port = free_port()  # nothing listens there: a stopped database
    monkeypatch.setenv("GEO_PLATFORM_DATABASE_URL", f"postgresql://geo:pw@127.0.0.1:{port}/geo")
    monkeypatch.setenv("GEO_PLATFORM_BLOB_ROOT", str(tmp_path / "blobs"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    for var in (
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_PORT",
        "DAGSTER_PG_USER",
        "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_DB",
    ):
        monkeypatch.delenv(var, raising=False)
    start = time.monotonic()
    result = CliRunner().invoke(health, ["--json"])
    assert time.monotonic() - start < 60
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    checks = _by_name(payload)
    assert payload["healthy"] is False
    for name in ("database", "postgis", "pgstac", "dagster_storage", "daemon"):
        assert checks[name]["status"] == "FAIL", name
    assert str(port) in checks["database"]["detail"]
    assert "pw" not in result.output  # the password never shows
    # The blob store is a local folder here and works: its checks pass on their own.
    assert checks["blob:bronze"]["status"] == "ok" and checks["blob:silver"]["status"] == "ok"


def test_blob_probe_fails_when_a_container_cannot_be_written(tmp_path):
    root = tmp_path / "blobs"
    (root / "bronze").mkdir(parents=True)
    (root / "silver").mkdir()
    store = LocalBlobStore(root=str(root))
    settings = load_settings()
    assert all(c.ok for c in check_blob_store(settings, store))
    assert list(root.rglob("*.probe")) == []  # probes are cleaned up
    shutil.rmtree(root / "silver")
    (root / "silver").write_text("not a folder")  # even root cannot write into this
    checks = {c.name: c for c in check_blob_store(settings, store)}
    assert checks["blob:bronze"].ok and not checks["blob:silver"].ok
    assert checks["blob:silver"].detail


def test_without_a_daemon_the_daemon_check_fails(pg_instance, pg_dsn, tmp_path, monkeypatch):
    monkeypatch.setenv("GEO_PLATFORM_BLOB_ROOT", str(tmp_path / "blobs"))
    settings = load_settings()
    checks = {c.name: c for c in check_all(settings, instance=pg_instance)}
    for name in ("database", "postgis", "pgstac", "blob:bronze", "blob:silver", "dagster_storage"):
        assert checks[name].ok, (name, checks[name].detail)
    assert not checks["daemon"].ok and "heartbeat" in checks["daemon"].detail
    # No daemon, no running sensor: health never contradicts itself.
    for name in ("sensor:bronze_sensor", "sensor:silver_automation"):
        assert not checks[name].ok and "no daemon is running" in checks[name].detail
    assert not healthy(checks.values())
    # Services up, orchestration down: its own exit code.
    assert exit_code(checks.values()) == EXIT_NOT_ORCHESTRATING == 2
    # Skipping is explicit and never shown as passing; unverified sensors say so.
    skipped = {c.name: c for c in check_all(settings, instance=pg_instance, skip=["daemon"])}
    assert skipped["daemon"].skipped and skipped["daemon"].status == "skipped"
    assert "not verified" in skipped["sensor:bronze_sensor"].detail
    assert healthy(skipped.values()) and exit_code(skipped.values()) == 0


def test_health_passes_when_everything_is_up(pg_instance_env, pg_instance, tmp_path):
    env = {**os.environ, **pg_instance_env, "GEO_PLATFORM_BLOB_ROOT": str(tmp_path / "blobs")}
    log_path = tmp_path / "daemon.log"
    with daemon(env, log_path) as proc:
        _wait_for_heartbeats(pg_instance, proc, log_path)
        result = CliRunner().invoke(health, ["--json"], env=env)
        payload = json.loads(result.output)
        assert result.exit_code == 0, json.dumps(payload, indent=1)
        assert all(c["status"] == "ok" for c in payload["checks"])
        assert len(payload["checks"]) == 9
        table = CliRunner().invoke(health, [], env=env)
        assert table.exit_code == 0 and "healthy" in table.output


def test_a_failing_sensor_is_unhealthy_and_shows_its_error(pg_instance_env, pg_instance, tmp_path):
    """The daemon runs, but every bronze_sensor tick fails (its blob store is unreachable):
    health says so, with the error, and exits 2 (services up, orchestration not)."""
    env = {
        **os.environ,
        **pg_instance_env,
        "GEO_PLATFORM_BLOB_BACKEND": "azure",
        "AZURE_STORAGE_CONNECTION_STRING": (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
            f"BlobEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;"
        ),
    }
    log_path = tmp_path / "daemon.log"
    with daemon(env, log_path) as proc:
        _wait_for_heartbeats(pg_instance, proc, log_path)
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            result = CliRunner().invoke(
                health, ["--json", "--skip", "blob:bronze", "--skip", "blob:silver"], env=env
            )
            sensor = _by_name(json.loads(result.output))["sensor:bronze_sensor"]
            # a tick that ran before the code server answered fails with "unreachable" first
            if sensor["status"] == "FAIL" and "StorageUnavailableError" in sensor["detail"]:
                break
            time.sleep(3)
        assert sensor["status"] == "FAIL", sensor
        assert "last tick" in sensor["detail"] and "failed: " in sensor["detail"], sensor
        assert "StorageUnavailableError" in sensor["detail"], sensor  # the sensor's own error
        assert _by_name(json.loads(result.output))["daemon"]["status"] == "ok"
        assert result.exit_code == EXIT_NOT_ORCHESTRATING, result.output


def test_services_down_is_exit_code_1() -> None:
    from geo_platform.app.health import Check

    down = [Check("database", False, "cannot connect"), Check("daemon", False, "no heartbeat")]
    assert exit_code(down) == EXIT_SERVICES_DOWN == 1
    assert exit_code([Check("daemon", False, "no heartbeat")]) == 2
    assert exit_code([Check("database", True, "ok")]) == 0


def _wait_for_heartbeats(instance: dg.DagsterInstance, daemon: subprocess.Popen, log: Path):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert daemon.poll() is None, log.read_text()[-3000:]
        statuses = instance.get_daemon_statuses()
        if statuses and all(s.healthy for s in statuses.values()):
            return
        time.sleep(2)
    raise AssertionError(f"daemons not healthy: {instance.get_daemon_statuses()}")


@pytest.mark.azurite
def test_blob_probe_on_azurite(azurite_connection_string, settings):
    from azure.storage.blob import BlobServiceClient

    from geo_platform.resources.blob_store import AzureBlobStore

    store = AzureBlobStore(connection_string=azurite_connection_string)
    own = dataclasses.replace(
        settings,
        bronze_container="hb-" + uuid.uuid4().hex[:8],
        silver_container="hs-" + uuid.uuid4().hex[:8],
    )
    service = BlobServiceClient.from_connection_string(azurite_connection_string)
    try:
        missing = {c.name: c for c in check_blob_store(own, store)}
        assert not missing[f"blob:{own.bronze_container}"].ok  # no such container: a failure
        store.ensure_container(own.bronze_container)
        store.ensure_container(own.silver_container)
        checks = check_blob_store(own, store)
        assert all(c.ok for c in checks), checks
        assert "azure" in checks[0].detail
        assert list(store.list_blobs(own.bronze_container)) == []
    finally:
        for name in (own.bronze_container, own.silver_container):
            if service.get_container_client(name).exists():
                service.delete_container(name)


@pytest.mark.azurite
def test_a_missing_azure_container_is_named_with_what_to_do(azurite_connection_string) -> None:
    import dataclasses

    from geo_platform.store.blobs.azure import AzureBlobStore

    store = AzureBlobStore(connection_string=azurite_connection_string)
    settings = dataclasses.replace(
        load_settings(), bronze_container="no-such-bronze", silver_container="no-such-silver"
    )
    checks = {c.name: c for c in check_blob_store(settings, store)}
    detail = checks["blob:no-such-bronze"].detail
    assert not checks["blob:no-such-bronze"].ok
    assert "the container 'no-such-bronze' does not exist: create it" in detail
    assert "az storage container create -n no-such-bronze" in detail
