"""A PostgreSQL-backed Dagster instance (the production configuration), per test module."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from geo_platform.settings import REPO_ROOT


@pytest.fixture(scope="module")
def pg_instance_env(pg_dsn: str, tmp_path_factory) -> Iterator[dict[str, str]]:
    """DAGSTER_HOME with the repo's dagster.yaml, storage in a fresh PostgreSQL database."""
    db = f"dagster_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    from urllib.parse import urlsplit

    parts = urlsplit(pg_dsn)
    env = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": parts.hostname or "127.0.0.1",
        "DAGSTER_PG_PORT": str(parts.port or 5432),
        "DAGSTER_PG_USER": parts.username or "postgres",
        "DAGSTER_PG_PASSWORD": parts.password or "",
        "DAGSTER_PG_DB": db,
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        # The storage schema first, from one process: a daemon and a CLI started side by side
        # on the fresh database would otherwise both create it, and one could fail with "type
        # snapshots already exists" (seen in the Azure profile's setup).
        with dg.DagsterInstance.from_config(str(home)):
            pass
        yield env
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db))
            )


@pytest.fixture(scope="module")
def pg_instance(pg_instance_env) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.from_config(pg_instance_env["DAGSTER_HOME"]) as inst:
        yield inst


@pytest.fixture
def local_blob_root(tmp_path: Path) -> Path:
    root = tmp_path / "blobs"
    root.mkdir()
    return root
