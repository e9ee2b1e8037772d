"""Local services for development, tests and CI: PostgreSQL/PostGIS/pgstac, Azurite and, for
Celery steps, Redis.

Why this exists: the platform needs a PostgreSQL with PostGIS and pgstac (for the catalog and for
Dagster's own storage) and, to exercise the Azure blob backend, the Azurite emulator. Both run as
project-owned processes whose data lives under ``settings.state_dir`` so that a checkout is
self-contained and ``make clean-state`` really resets everything.

Security note: the local cluster listens on 127.0.0.1 only and trusts every loopback connection
(no password). That is acceptable for a developer box or a CI runner and nowhere else; point
``GEO_PLATFORM_DATABASE_URL`` at a real server for anything shared.

This package never imports dagster (the CLI uses it before any code location is loaded).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from geo_platform.services.access import access_status
from geo_platform.services.azurite import (
    azurite_status,
    azurite_url,
    ensure_azurite,
    stop_azurite,
    uses_external_azure,
)
from geo_platform.services.pgbouncer import ensure_pgbouncer, pgbouncer_status, stop_pgbouncer
from geo_platform.services.pgstac_migrate import ensure_pgstac, pgstac_version
from geo_platform.services.postgres import ensure_postgres, postgres_status, stop_postgres
from geo_platform.services.redis import ensure_redis, redis_status, stop_redis
from geo_platform.services.redis import wanted as redis_wanted
from geo_platform.settings import REPO_ROOT, Settings, redact_connection_string

__all__ = [
    "down",
    "ensure_azurite",
    "ensure_dagster_home",
    "ensure_pgstac",
    "ensure_postgres",
    "ensure_redis",
    "pgstac_version",
    "status",
    "stop_azurite",
    "stop_postgres",
    "stop_redis",
    "up",
]


# --- Dagster home ----------------------------------------------------------------------------
def ensure_dagster_home(settings: Settings) -> Path:
    """Create DAGSTER_HOME with a ``dagster.yaml`` that points at the repository's one.

    The environment a Dagster process needs is ``geo_platform.app.instance.dagster_env``."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    source = REPO_ROOT / "dagster.yaml"
    target = home / "dagster.yaml"
    if target.is_symlink() and target.resolve() == source.resolve():
        return home
    if target.exists() or target.is_symlink():
        target.unlink()
    try:
        target.symlink_to(source)
    except OSError:
        shutil.copyfile(source, target)
    return home


# --- public entry points ---------------------------------------------------------------------
def blob_status(settings: Settings) -> dict[str, Any]:
    if settings.blob_backend == "azure":
        if settings.azure_account_url:
            location = settings.azure_account_url
        elif settings.azure_connection_string:
            location = redact_connection_string(settings.azure_connection_string)
        else:
            location = azurite_url(settings)
        return {"backend": "azure", "location": location}
    return {"backend": settings.blob_backend, "location": str(settings.blob_root)}


def status(settings: Settings) -> dict[str, Any]:
    """What runs and where, as JSON-serialisable data without any secret."""
    return {
        "postgres": postgres_status(settings),
        "pgbouncer": pgbouncer_status(settings),
        "azurite": azurite_status(settings),
        "redis": redis_status(settings),
        "blob_store": blob_status(settings),
        "dagster": {
            "home": str(settings.dagster_home),
            "ui_url": f"http://127.0.0.1:{settings.dagster_ui_port}",
        },
        "state_dir": str(settings.state_dir),
        # Staging and production (redacted URLs, containers) and the role names: services.access.
        "targets": access_status(settings),
    }


def up(settings: Settings) -> dict[str, Any]:
    """Start whatever is missing (PostgreSQL, Azurite unless a real Azure account is configured),
    prepare DAGSTER_HOME, and return ``status``. Calling it again is cheap and harmless."""
    # The Azure blob SDK (a fifth of a second, aiohttp with it) only for `services up`: every
    # process that prepares a Dagster instance imports this package.
    from geo_platform.services.blob_containers import ensure_containers

    settings.state_dir.mkdir(parents=True, exist_ok=True)
    ensure_postgres(settings)
    ensure_pgbouncer(settings)
    if not uses_external_azure(settings):
        ensure_azurite(settings)
    if redis_wanted(settings):  # the Celery broker (GEO_PLATFORM_EXECUTOR=celery)
        ensure_redis(settings)
    if settings.blob_backend == "local":
        settings.blob_root.mkdir(parents=True, exist_ok=True)
    containers = ensure_containers(settings)  # Azure: bronze, silver, production (private)
    ensure_dagster_home(settings)
    state = status(settings)
    if containers:
        state["blob_store"]["containers"] = containers
    return state


def down(settings: Settings) -> dict[str, Any]:
    """Stop the project's own servers (never an external database)."""
    stopped = {
        "pgbouncer": stop_pgbouncer(settings),
        "postgres": stop_postgres(settings),
        "azurite": stop_azurite(settings),
        "redis": stop_redis(settings),
    }
    return {"stopped": stopped, **status(settings)}
