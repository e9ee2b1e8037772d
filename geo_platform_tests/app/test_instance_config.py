"""The repository's dagster.yaml is valid and works against the real local PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, job, op
from dagster._core.instance.config import dagster_instance_config
from psycopg import sql

from geo_platform.settings import REPO_ROOT


def _instance_dir(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").symlink_to(REPO_ROOT / "dagster.yaml")
    return home


def test_dagster_yaml_validates_against_dagster_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {
        "DAGSTER_PG_USER": "u",
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_DB": "d",
        "DAGSTER_PG_PORT": "5432",
    }.items():
        monkeypatch.setenv(key, value)
    config, instance_class = dagster_instance_config(str(_instance_dir(tmp_path)))
    assert instance_class is None
    pg = config["storage"]["postgres"]["postgres_db"]
    # The SQLAlchemy 2.1 pitfall: a bare postgresql:// scheme breaks LISTEN/NOTIFY.
    assert pg["scheme"] == "postgresql+psycopg2"
    assert pg["db_name"] == {"env": "DAGSTER_PG_DB"}
    assert "run_queue" not in config  # cannot be combined with the concurrency block
    assert config["concurrency"]["runs"]["max_concurrent_runs"] >= 1
    assert config["run_retries"] == {
        "enabled": True,
        "max_retries": 2,
        "retry_on_asset_or_op_failure": False,
    }
    assert config["telemetry"] == {"enabled": False}


@pytest.fixture
def scratch_dagster_db(pg_dsn: str, dagster_pg_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A throwaway database for Dagster storage, so tests never touch the developer's history."""
    name = f"dagster_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield {**dagster_pg_env, "DAGSTER_PG_DB": name}
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@op
def _hello() -> int:
    return 42


@job
def _hello_job() -> None:
    _hello()


def test_instance_on_real_postgres_stores_runs_and_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scratch_dagster_db: dict[str, str]
) -> None:
    for key, value in scratch_dagster_db.items():
        monkeypatch.setenv(key, value)
    instance = DagsterInstance.from_config(str(_instance_dir(tmp_path)))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert instance.run_retries_enabled and instance.run_monitoring_enabled
        assert instance.get_runs() == []

        # Executing a job stores a run and its events (the event log NOTIFYs on every write).
        result = _hello_job.execute_in_process(instance=instance)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.status == DagsterRunStatus.SUCCESS
        assert [r.run_id for r in instance.get_runs()] == [result.run_id]
        events = instance.all_logs(result.run_id)
        types = {e.dagster_event.event_type for e in events if e.dagster_event}
        assert {DagsterEventType.RUN_START, DagsterEventType.RUN_SUCCESS} <= types

        # Pools from dagster.yaml are honoured by the concurrency machinery.
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 2
    finally:
        instance.dispose()
