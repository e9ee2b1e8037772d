"""Root fixtures: real local services (PostgreSQL/PostGIS/pgstac, Azurite), started once.

Tests use the real servers, never mocks. Services are started on demand: a test that only asks
for ``pg_dsn`` does not need Node/Azurite, and vice versa. Start-up is idempotent and guarded by a
file lock, so parallel pytest sessions and an already running ``make services-up`` are fine.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

# Throwaway data: a faster, crash-unsafe cluster is fine for tests (only applies at start-up).
os.environ.setdefault("GEO_PLATFORM_PG_FAST", "1")
# Tests publish the same shared test files under many names into one catalogue: publish each
# in full (tests of duplicate linking choose "link" explicitly).
os.environ.setdefault("GEO_PLATFORM_DUPLICATES", "publish")

from geo_platform import services as platform_services
from geo_platform.settings import REPO_ROOT, Settings, load_settings

TESTDATA = REPO_ROOT.parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings from the environment of the test session (defaults: the repo's .state)."""
    return load_settings()


def in_ci() -> bool:
    """True on a CI runner (``CI=true``, set by GitHub Actions, GitLab CI and most others)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The shared test data folder (beside the repository, never an absolute machine path).

    Missing on a developer machine: the tests that need it are skipped. Missing in CI: they
    fail, because a CI run that skips every real file would pass without testing them.
    """
    if not TESTDATA.is_dir():
        message = f"shared test data not found at {TESTDATA}"
        if in_ci():
            pytest.fail(f"{message}: CI must provide ../shared/testdata beside the checkout")
        pytest.skip(message)
    return TESTDATA


@pytest.fixture(scope="session")
def pg_dsn(settings: Settings) -> str:
    """URL of the platform database (PostGIS + pgstac installed), started if needed."""
    return platform_services.ensure_postgres(settings)


@pytest.fixture(scope="session")
def dagster_pg_env(pg_dsn: str, settings: Settings) -> dict[str, str]:
    """DAGSTER_PG_* variables for Dagster's own storage database (the ``dagster`` database)."""
    return dict(settings.dagster_pg)


@pytest.fixture(scope="session")
def azurite_connection_string(settings: Settings) -> str:
    """Connection string of the local Azurite emulator, started if needed."""
    return platform_services.ensure_azurite(settings)


@pytest.fixture(scope="session")
def services(pg_dsn: str, azurite_connection_string: str, settings: Settings) -> dict[str, Any]:
    """Both services up; the value is ``services.status`` (JSON-like, no secrets)."""
    return platform_services.status(settings)


@pytest.fixture
def pg_conn(pg_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A fresh autocommit connection to the platform database, closed after the test."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def pg_schema(pg_dsn: str) -> Iterator[str]:
    """A unique, empty schema for one test, dropped (cascade) afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def tmp_settings(settings: Settings, tmp_path: Path) -> Callable[..., Settings]:
    """Build Settings isolated in ``tmp_path`` (blob root, DAGSTER_HOME), same database.

    Call it with field overrides: ``tmp_settings(blob_backend="azure")``.
    """

    def make(**overrides: Any) -> Settings:
        base = dataclasses.replace(
            settings,
            blob_root=tmp_path / "blobs",
            dagster_home=tmp_path / "dagster_home",
        )
        return dataclasses.replace(base, **overrides)

    return make
