"""Reset for development: wipe all local state for a clean start.

Why: after experiments a developer wants the platform as freshly installed, without hunting
down tables, catalogue entries, Dagster runs and silver files one by one. ``reset`` drops and
recreates the platform database (PostGIS tables, pgstac re-migrated) and the Dagster storage
database, empties the local blob root and Dagster's local files (compute logs, artifacts).

It refuses unless it is sure the state is local and disposable: without ``yes``; when
``GEO_PLATFORM_DATABASE_URL`` points at a database the platform does not manage; when the blob
backend is Azure (a real account or Azurite: both are "not a folder we own"). Stop the daemon
and the UI first: their database connections are terminated. The command is
``geo-platform services reset --yes`` (``geo_platform.cli.services``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from geo_platform.lib.errors import ConfigError
from geo_platform.services.postgres import ensure_postgres
from geo_platform.settings import REPO_ROOT, Settings

KEEP_IN_DAGSTER_HOME = {"dagster.yaml", "workspace.yaml"}


def refusal(settings: Settings, yes: bool) -> str | None:
    """Why ``reset`` would refuse, or None when it may go ahead."""
    if not yes:
        return "refusing to wipe local state without --yes"
    if not settings.local_database:
        return (
            "refusing: GEO_PLATFORM_DATABASE_URL points at a database the platform does not "
            "manage; reset only wipes the local development cluster"
        )
    if settings.blob_backend != "local":
        return (
            f"refusing: the blob backend is {settings.blob_backend!r}; reset only empties a "
            "local folder (GEO_PLATFORM_BLOB_BACKEND=local)"
        )
    root = settings.blob_root.resolve()
    if root == Path(root.anchor) or root == Path.home().resolve() or REPO_ROOT.is_relative_to(root):
        return f"refusing: blob root {root} is not a dedicated data folder"
    return None


def _admin_url(url: str) -> str:
    return urlsplit(url)._replace(path="/postgres").geturl()


def _drop_databases(settings: Settings) -> list[str]:
    platform_db = urlsplit(settings.database_url).path.lstrip("/") or "geo_platform"
    dagster_db = settings.dagster_pg["DAGSTER_PG_DB"]
    dropped = []
    with psycopg.connect(_admin_url(settings.database_url), autocommit=True) as conn:
        for db in dict.fromkeys([platform_db, dagster_db]):
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db))
            )
            dropped.append(db)
    return dropped


def _empty_folder(folder: Path, keep: set[str] | None = None) -> int:
    """Delete everything inside ``folder`` (except names in ``keep``); return how many entries."""
    if not folder.is_dir():
        return 0
    removed = 0
    for entry in folder.iterdir():
        if keep and entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        removed += 1
    return removed


def reset(settings: Settings, yes: bool) -> dict[str, Any]:
    """Wipe local state (see the module docstring); ``ConfigError`` when it refuses."""
    why = refusal(settings, yes)
    if why:
        raise ConfigError(why)
    ensure_postgres(settings)  # the server must run to drop databases
    dropped = _drop_databases(settings)
    ensure_postgres(settings)  # recreates the databases and migrates pgstac
    blobs = _empty_folder(settings.blob_root)
    settings.blob_root.mkdir(parents=True, exist_ok=True)
    dagster_files = _empty_folder(settings.dagster_home, KEEP_IN_DAGSTER_HOME)
    return {
        "databases_recreated": dropped,
        "blob_entries_removed": blobs,
        "blob_root": str(settings.blob_root),
        "dagster_home_entries_removed": dagster_files,
    }
