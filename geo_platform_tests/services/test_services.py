"""Local services: status is honest and secret-free, `up` is idempotent."""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from geo_platform import services as svc
from geo_platform.settings import REPO_ROOT, Settings, load_settings


def test_status_reports_running_services_without_secrets(
    services: dict[str, Any], settings: Settings
) -> None:
    report = svc.status(settings)
    text = json.dumps(report)  # JSON-serialisable
    pg, azurite = report["postgres"], report["azurite"]
    assert pg["running"] is True and isinstance(pg["pid"], int)
    assert pg["url"].startswith("postgresql://") and "data_dir" in pg
    assert azurite["running"] is True and azurite["url"].startswith("http://127.0.0.1:")
    assert report["dagster"]["ui_url"] == f"http://127.0.0.1:{settings.dagster_ui_port}"
    assert "AccountKey" not in text and "Eby8vdM02x" not in text


def test_status_redacts_external_database_and_azure_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An external server that does not answer (port 1): status must say so, not hang or leak.
    monkeypatch.setenv("GEO_PLATFORM_DATABASE_URL", "postgresql://alice:s3cr3t@127.0.0.1:1/geo")
    monkeypatch.setenv("GEO_PLATFORM_BLOB_BACKEND", "azure")
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=topsecretkey==;",
    )
    report = svc.status(load_settings())
    text = json.dumps(report)
    assert "s3cr3t" not in text and "topsecretkey" not in text
    pg = report["postgres"]
    assert pg["url"] == "postgresql://alice:***@127.0.0.1:1/geo"
    assert pg["external"] is True and pg["running"] is False and pg["error"]
    assert report["blob_store"]["backend"] == "azure"


def test_up_twice_is_harmless(
    services: dict[str, Any], tmp_settings: Callable[..., Settings]
) -> None:
    settings = tmp_settings()
    first = svc.up(settings)
    second = svc.up(settings)
    assert first["postgres"]["pid"] == second["postgres"]["pid"] is not None
    assert first["azurite"]["pid"] == second["azurite"]["pid"] is not None
    link = settings.dagster_home / "dagster.yaml"
    assert link.resolve() == (REPO_ROOT / "dagster.yaml").resolve()
    assert settings.blob_root.is_dir()
    with psycopg.connect(settings.database_url) as conn:
        dbs = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        assert {"geo_platform", "dagster"} <= dbs
        assert conn.execute("SELECT pgstac.get_version()").fetchone() is not None
        assert conn.execute("SELECT postgis_lib_version()").fetchone() is not None


def test_postgres_listens_on_loopback_only(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SHOW listen_addresses").fetchone()
    assert row is not None and row[0] == "127.0.0.1"


def test_dagster_home_gets_a_link_to_the_repo_config(tmp_path: Path, settings: Settings) -> None:
    settings = dataclasses.replace(settings, dagster_home=tmp_path / "home")
    home = svc.ensure_dagster_home(settings)
    svc.ensure_dagster_home(settings)  # again: no error, same link
    assert (home / "dagster.yaml").read_text() == (REPO_ROOT / "dagster.yaml").read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_fresh_state_dir_lifecycle(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From nothing: initdb, start, idempotent ensure, move to another port, stop; same for Azurite.

    Uses its own state dir and ports, so the shared services of the session are untouched.
    """
    monkeypatch.delenv("GEO_PLATFORM_DATABASE_URL", raising=False)
    port = _free_port()
    own = dataclasses.replace(
        settings,
        state_dir=tmp_path / "state",
        pg_port=port,
        database_url=f"postgresql://geo_platform@127.0.0.1:{port}/geo_platform",
        azurite_port=_free_port(),
        azurite_queue_port=_free_port(),  # random ports: blob port + 1 may be taken
    )
    try:
        assert svc.ensure_postgres(own) == own.database_url
        pid = svc.status(own)["postgres"]["pid"]
        svc.ensure_postgres(own)
        assert svc.status(own)["postgres"]["pid"] == pid  # not restarted
        with psycopg.connect(own.database_url) as conn:
            assert conn.execute("SHOW fsync").fetchone() == ("off",)  # GEO_PLATFORM_PG_FAST=1

        moved_port = _free_port()
        moved = dataclasses.replace(
            own,
            pg_port=moved_port,
            database_url=f"postgresql://geo_platform@127.0.0.1:{moved_port}/geo_platform",
        )
        svc.ensure_postgres(moved)  # same data dir, new port: restarted there
        with psycopg.connect(moved.database_url) as conn:
            assert conn.execute("SELECT pgstac.get_version()").fetchone() is not None
        assert svc.stop_postgres(moved) is True
        assert svc.stop_postgres(moved) is False
        assert svc.status(moved)["postgres"]["running"] is False

        conn_str = svc.ensure_azurite(own)
        assert f"127.0.0.1:{own.azurite_port}" in conn_str
        assert f"QueueEndpoint=http://127.0.0.1:{own.queue_emulator_port}/" in conn_str
        apid = svc.status(own)["azurite"]["pid"]
        assert svc.status(own)["azurite"]["queue"]["running"] is True  # blob events
        assert svc.ensure_azurite(own) == conn_str and svc.status(own)["azurite"]["pid"] == apid
        assert svc.stop_azurite(own) is True
        assert svc.status(own)["azurite"]["running"] is False
        assert svc.status(own)["azurite"]["queue"]["running"] is False
    finally:
        svc.down(own)
        svc.stop_postgres(own)


def test_pgbouncer_pools_dagster_storage(pg_dsn, settings, tmp_path):
    """Dagster's storage reaches the local cluster through PgBouncer once it runs."""
    import psycopg

    from geo_platform.app.instance import dagster_env
    from geo_platform.services.pgbouncer import ensure_pgbouncer, pgbouncer_status

    assert ensure_pgbouncer(settings) == settings.pgbouncer_port
    assert ensure_pgbouncer(settings) == settings.pgbouncer_port  # idempotent
    assert pgbouncer_status(settings)["running"]
    env = dagster_env(settings)
    assert env["DAGSTER_PG_PORT"] == str(settings.pgbouncer_port)
    with psycopg.connect(
        host="127.0.0.1", port=settings.pgbouncer_port, user=env["DAGSTER_PG_USER"],
        dbname=env["DAGSTER_PG_DB"],
    ) as conn:  # fmt: skip
        assert conn.execute("SELECT current_database()").fetchone()[0] == env["DAGSTER_PG_DB"]
