"""`geo-platform services reset --yes`: refuses unless state is local and disposable; wipes it."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import tempfile
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from geo_platform import services as svc
from geo_platform.app.health import check_database, healthy
from geo_platform.cli.services import reset_command
from geo_platform.lib.errors import ConfigError
from geo_platform.services.reset import refusal, reset
from geo_platform.settings import REPO_ROOT, Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_refuses_without_yes(settings: Settings, tmp_path: Path) -> None:
    own = dataclasses.replace(settings, blob_root=tmp_path / "blobs")
    with pytest.raises(ConfigError, match="without --yes"):
        reset(own, yes=False)
    result = CliRunner().invoke(reset_command, [])
    assert result.exit_code != 0 and "without --yes" in result.output


def test_refuses_an_external_database(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEO_PLATFORM_DATABASE_URL", "postgresql://u:p@db.example.org/geo")
    own = dataclasses.replace(settings, blob_root=tmp_path / "blobs")
    with pytest.raises(ConfigError, match="does not manage"):
        reset(own, yes=True)
    result = CliRunner().invoke(reset_command, ["--yes"])
    assert result.exit_code != 0 and "does not manage" in result.output


def test_refuses_azure_and_odd_blob_roots(settings: Settings, tmp_path: Path) -> None:
    azure = dataclasses.replace(settings, blob_backend="azure", blob_root=tmp_path / "b")
    with pytest.raises(ConfigError, match="'azure'"):
        reset(azure, yes=True)
    for root in (REPO_ROOT, REPO_ROOT.parent, Path("/")):
        odd = dataclasses.replace(settings, blob_root=root)
        assert refusal(odd, yes=True) and "not a dedicated" in str(refusal(odd, yes=True))


@pytest.mark.slow
def test_reset_wipes_a_throwaway_cluster_and_health_sees_it_stop(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster of its own (state dir and port): the shared services are never touched.

    The state dir is not under pytest's tmp_path: pytest sessions running in parallel reset
    /tmp/pytest-of-<user> to mode 0700, which locks the postgres OS user out of the data dir.
    """
    for var in (
        "GEO_PLATFORM_DATABASE_URL",
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_PORT",
        "DAGSTER_PG_USER",
        "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_DB",
    ):
        monkeypatch.delenv(var, raising=False)
    port = _free_port()
    state = Path(tempfile.mkdtemp(prefix="geo-platform-reset-"))
    own = dataclasses.replace(
        settings,
        state_dir=state,
        pg_port=port,
        database_url=f"postgresql://geo_platform@127.0.0.1:{port}/geo_platform",
        blob_root=state / "blobs",
        dagster_home=state / "dagster_home",
        blob_backend="local",
    )
    try:
        url = svc.ensure_postgres(own)
        _plant_state(own, url)
        summary = reset(own, yes=True)
        assert summary["databases_recreated"] == ["geo_platform", "dagster"]
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('geo.roads')").fetchone() == (None,)
            assert conn.execute("SELECT count(*) FROM pgstac.collections").fetchone() == (0,)
            assert conn.execute("SELECT pgstac.get_version()").fetchone() is not None
        dagster_url = url.rsplit("/", 1)[0] + "/dagster"
        with psycopg.connect(dagster_url) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            ).fetchone()
            assert tables == (0,)
        assert own.blob_root.is_dir() and not any(own.blob_root.iterdir())
        assert sorted(p.name for p in own.dagster_home.iterdir()) == ["dagster.yaml"]

        # Health on the same cluster: up, then stopped.
        assert healthy(check_database(own))
        assert svc.stop_postgres(own) is True
        down = {c.name: c for c in check_database(own)}
        assert not down["database"].ok and str(port) in down["database"].detail
        assert not down["pgstac"].ok and not healthy(down.values())
    finally:
        svc.stop_postgres(own)
        shutil.rmtree(state, ignore_errors=True)


def _plant_state(own: Settings, url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS geo")
        conn.execute("CREATE TABLE geo.roads (id int)")
        conn.execute(
            """SELECT pgstac.create_collection('{"type": "Collection", "id": "c",
               "stac_version": "1.1.0", "description": "d", "license": "other", "links": [],
               "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                          "temporal": {"interval": [[null, null]]}}}'::jsonb)"""
        )
    with psycopg.connect(url.rsplit("/", 1)[0] + "/dagster", autocommit=True) as conn:
        conn.execute("CREATE TABLE runs (id int)")
    (own.blob_root / "bronze" / "a").mkdir(parents=True)
    (own.blob_root / "bronze" / "a" / "x.tif").write_bytes(b"x")
    svc.ensure_dagster_home(own)
    (own.dagster_home / "storage").mkdir()
    (own.dagster_home / "storage" / "log.txt").write_text("old")
