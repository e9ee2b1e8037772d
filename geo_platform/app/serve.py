"""Serving what the platform publishes with existing engines, on loopback, as the reader role.

Why: geospatial people use STAC clients, tile URLs and OGC API Features, not our code. Three
off-the-shelf servers read one target's database directly, so there is no home-made API:

- ``stac``: stac-fastapi-pgstac, the STAC API over pgstac (search by bbox, datetime, CQL2),
  behind ``app.stac_api`` (a 3-D bbox is searched as 2-D instead of failing);
- ``tiles``: titiler-pgstac, COG tiles of one item and mosaic tiles of a pgstac search, with a
  database pool that fails fast (``app.serve_apps.tiler_app``);
- ``features``: tipg, OGC API Features (and vector tiles) over the ``geo`` schema of PostGIS,
  which finds a new table on its first request (``app.serve_apps.features_app``);
- ``files`` (local blob backend only): the target's silver container over HTTP with Range
  requests (``app.files_server``), which is where asset hrefs point
  (``<public base>/<container>/<path>``, see ``lib.links``).

``target`` is ``staging`` (``GEO_PLATFORM_DATABASE_URL``, container ``silver``) or
``production`` (``GEO_PLATFORM_PRODUCTION_DATABASE_URL``, ``silver-prod``). The servers always
connect as the **reader role** (``geo_reader``: ``pgstac_read``, SELECT on ``geo``, TEMPORARY
on the database), never as the superuser or the pipelines' role, so what works here works with
the privileges a deployment gives its serving pods (``services.access`` grants them).

Each runs as a background ``uvicorn`` process (``sys.executable -m uvicorn``) bound to 127.0.0.1,
with its pid file, target and log under ``settings.state_dir / "serve"``. ``start`` is idempotent
(a live pid of the same target whose health URL answers is left alone; another target's servers
are restarted), waits until every server is healthy and fails with the log tail if one dies or
does not answer in time.

This module never imports dagster (the CLI uses it before any code location is loaded).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from geo_platform.app.files_server import DIRS_VARIABLE
from geo_platform.app.stac_api import PEERS_VARIABLE
from geo_platform.lib import links
from geo_platform.lib.errors import ConfigError, GeoPlatformError
from geo_platform.lib.stac.alternates import VSIAZ
from geo_platform.lib.stac.alternates import vsiaz_alternate as vsiaz_alternate
from geo_platform.services._proc import lock, pid_alive, port_open, read_pid, stop_pid_file, tail
from geo_platform.settings import Settings, azurite_connection_string, redact_url

SERVERS: tuple[str, ...] = ("stac", "tiles", "features", "files")
TARGETS: tuple[str, ...] = ("staging", "production")
HOST = "127.0.0.1"
_LOG_ROTATE_BYTES = 10_000_000

# GDAL settings titiler recommends for reading COGs over HTTP (local files ignore them). The
# caller's environment wins, so AZURE_* / GDAL_* / RIO_TILER_STAC_ALTERNATE_KEY pass through.
_GDAL_DEFAULTS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": "2",
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": "5000000",
}


# Azure: STAC assets keep their https blob URL as ``href`` (for STAC clients) and carry
# ``alternate: {"vsiaz": {"href": "/vsiaz/<container>/<path>"}}`` (alternate-assets extension),
# which the pipeline adds where items reach pgstac (``lib.stac.alternates.vsiaz_alternate``,
# ``store.tiler_access``). The tiler reads that alternate through GDAL's /vsiaz/, which
# authenticates with a connection string, a SAS (AZURE_STORAGE_SAS_TOKEN) or a managed /
# workload identity (AZURE_STORAGE_ACCOUNT).
TILER_ALTERNATE_KEY = VSIAZ


class ServerStartError(GeoPlatformError):
    """A server process exited or did not become healthy in time (the message has its log)."""


@dataclass(frozen=True)
class ServerSpec:
    """How to run one server: the uvicorn target, its port, health path and environment."""

    name: str
    app: str
    factory: bool
    port: int
    health_path: str
    env: Mapping[str, str]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def _db_env(database_url: str) -> dict[str, str]:
    """The database as the PG* variables (stac-fastapi) and as DATABASE_URL (titiler, tipg)."""
    parts = urlsplit(database_url)
    if parts.scheme not in {"postgresql", "postgres"} or not parts.hostname:
        raise ConfigError(
            f"the database URL {redact_url(database_url)!r} is not a postgresql:// URL with a host"
        )
    env = {
        "PGUSER": unquote(parts.username or "postgres"),
        "PGPASSWORD": unquote(parts.password or ""),
        "PGHOST": parts.hostname,
        "PGPORT": str(parts.port or 5432),
        "PGDATABASE": parts.path.lstrip("/") or "postgres",
        "DATABASE_URL": database_url,
    }
    sslmode = parse_qs(parts.query).get("sslmode")
    if sslmode:  # e.g. Azure Flexible Server: ?sslmode=require (asyncpg and libpq read PGSSLMODE)
        env["PGSSLMODE"] = sslmode[-1]
    return env


def _tiler_storage_env(settings: Settings) -> dict[str, str]:
    """GDAL credentials for Azure-backed assets (none for the local backend: plain paths)."""
    if settings.blob_backend != "azure":
        return {}
    env = {"RIO_TILER_STAC_ALTERNATE_KEY": TILER_ALTERNATE_KEY}
    if settings.azure_connection_string:
        env["AZURE_STORAGE_CONNECTION_STRING"] = settings.azure_connection_string
    elif settings.azure_account_url:  # managed identity / workload identity via GDAL
        host = urlsplit(settings.azure_account_url).hostname or ""
        env["AZURE_STORAGE_ACCOUNT"] = host.split(".")[0]  # <account>.blob.core.windows.net
    else:
        env["AZURE_STORAGE_CONNECTION_STRING"] = azurite_connection_string(settings.azurite_port)
    return env


def target_container(settings: Settings, target: str) -> str:
    """The silver container of a target (``silver`` or ``silver-prod`` by default)."""
    _check_target(target)
    return settings.production_container if target == "production" else settings.silver_container


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise ConfigError(f"unknown target {target!r}; choose from {list(TARGETS)}")


def server_specs(settings: Settings, target: str = "staging") -> dict[str, ServerSpec]:
    """The servers for these settings and target (ports from GEO_PLATFORM_*_PORT), each
    connecting as the reader role; ``files`` only for the local blob backend."""
    _check_target(target)
    db = _db_env(settings.role_url("reader", target))
    stac_env = {
        **db,
        "ENABLE_TRANSACTIONS_EXTENSIONS": "false",  # read-only: the pipeline publishes
        "STAC_FASTAPI_TITLE": "geo_platform STAC API",
        "STAC_FASTAPI_DESCRIPTION": "Rasters and vector datasets published by geo_platform",
        "STAC_FASTAPI_LANDING_ID": "geo_platform",
    }
    tiles_env = {
        **db,
        **_GDAL_DEFAULTS,
        **_tiler_storage_env(settings),
        "TITILER_PGSTAC_API_DEBUG": "false",
        # No retry: each try waits up to GEO_PLATFORM_TILER_DB_TIMEOUT (database down: 4 x 30 s).
        "TITILER_PGSTAC_API_RETRY": "0",
    }
    features_env = {
        **db,
        "TIPG_DB_SCHEMAS": json.dumps([settings.geo_schema]),
        # A new table answers its first request (serve_apps.CatalogOnMiss); dropped or changed
        # ones are seen within a minute (tipg re-reads its whole catalog).
        "TIPG_CATALOG_TTL": "60",
        "TIPG_MAX_FEATURES_PER_QUERY": "10000",
    }
    specs = {
        "stac": ServerSpec(
            "stac", "geo_platform.app.stac_api:create_app", True, settings.stac_port,
            "/_mgmt/health", stac_env,
        ),
        "tiles": ServerSpec(
            "tiles", "geo_platform.app.serve_apps:tiler_app", False, settings.tiler_port,
            "/healthz", tiles_env,
        ),
        "features": ServerSpec(
            "features", "geo_platform.app.serve_apps:features_app", False, settings.features_port,
            "/healthz", features_env,
        ),
    }  # fmt: skip
    if settings.blob_backend == "local":
        container = target_container(settings, target)
        folder = str(Path(settings.blob_root).resolve() / container)
        specs["files"] = ServerSpec(
            "files", "geo_platform.app.files_server:create_app", True, settings.files_port,
            "/healthz", {DIRS_VARIABLE: json.dumps({container: folder})},
        )  # fmt: skip
    # The STAC API's /healthz answers for the whole stack (load balancers): it checks its peers.
    peers = {n: f"{s.url}{s.health_path}" for n, s in specs.items() if n != "stac"}
    stac_env[PEERS_VARIABLE] = json.dumps(peers)
    return specs


def serve_dir(settings: Settings) -> Path:
    return settings.state_dir / "serve"


def _pid_file(settings: Settings, name: str) -> Path:
    return serve_dir(settings) / f"{name}.pid"


def _log_file(settings: Settings, name: str) -> Path:
    return serve_dir(settings) / f"{name}.log"


def _healthy(spec: ServerSpec, timeout: float = 2.0) -> bool:
    """GET the health URL on loopback; True on HTTP 200."""
    try:
        with urllib.request.urlopen(spec.url + spec.health_path, timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _target_file(settings: Settings, name: str) -> Path:
    return serve_dir(settings) / f"{name}.target"


def _running_pid(settings: Settings, spec: ServerSpec) -> int | None:
    pid = read_pid(_pid_file(settings, spec.name))
    return pid if pid_alive(pid) else None


def _recorded_target(settings: Settings, name: str) -> str | None:
    try:
        return _target_file(settings, name).read_text().strip() or None
    except OSError:
        return None


def _names(names: Iterable[str] | None, specs: Mapping[str, ServerSpec]) -> list[str]:
    """The chosen servers that exist for this backend (default: all of them)."""
    chosen = list(SERVERS if names is None else names)
    unknown = sorted(set(chosen) - set(SERVERS))
    if unknown:
        raise ConfigError(f"unknown server(s) {unknown}; choose from {list(SERVERS)}")
    return [name for name in chosen if name in specs]


def _command(spec: ServerSpec) -> list[str]:
    cmd = [sys.executable, "-m", "uvicorn", spec.app, "--host", HOST, "--port", str(spec.port)]
    cmd += ["--workers", "1", "--log-level", "info", "--no-server-header"]
    return [*cmd, "--factory"] if spec.factory else cmd


_KNOBS = ("GDAL_", "VSI_", "TIPG_CATALOG", "TIPG_MAX", "STAC_FASTAPI_", "TITILER_PGSTAC_API_")


def _launch(settings: Settings, spec: ServerSpec) -> None:
    """Start one server in its own session; ``sh`` writes the real PID then ``exec``s uvicorn."""
    folder = serve_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ}
    for key, value in spec.env.items():
        if key.startswith(_KNOBS):
            env.setdefault(key, value)  # tuning knobs: the caller may override
        else:
            env[key] = value
    log_path = _log_file(settings, spec.name)
    if log_path.exists() and log_path.stat().st_size > _LOG_ROTATE_BYTES:
        log_path.replace(log_path.with_suffix(".log.1"))  # keep one previous log, bounded
    with log_path.open("ab") as log:
        subprocess.Popen(
            ["sh", "-c", 'echo $$ > "$0"; exec "$@"', str(_pid_file(settings, spec.name)),
             *_command(spec)],
            cwd=folder,  # the servers read a ".env" in their working directory: keep it ours
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip


def _wait_healthy(settings: Settings, spec: ServerSpec, timeout: float) -> int:
    """Wait for the pid file and a healthy answer; raise with the log tail otherwise."""
    deadline = time.monotonic() + timeout
    log = _log_file(settings, spec.name)
    while time.monotonic() < deadline:
        pid = read_pid(_pid_file(settings, spec.name))
        if pid is not None and not pid_alive(pid):
            raise ServerStartError(f"{spec.name} server exited:\n{tail(log)}", path=str(log))
        if pid is not None and _healthy(spec, timeout=1.0):
            return pid
        time.sleep(0.2)
    _stop_one(settings, spec.name)
    raise ServerStartError(
        f"{spec.name} server not healthy at {spec.url}{spec.health_path} within {timeout:.0f} s:"
        f"\n{tail(log)}",
        path=str(log),
    )


def start(
    settings: Settings,
    names: Iterable[str] | None = None,
    timeout: float = 60.0,
    target: str = "staging",
) -> dict[str, Any]:
    """Start the chosen servers (default: all) for ``target`` unless already up; ``status``.

    Servers start in parallel and are then awaited one by one (each within ``timeout``). A port
    held by a process that is not ours is a ``ConfigError`` naming the variable to change.
    Servers of ours that serve the other target are restarted for this one.
    """
    specs = server_specs(settings, target)
    chosen = _names(names, specs)
    with lock(settings, "serve"):
        launched = []
        for name in chosen:
            spec = specs[name]
            same_target = _recorded_target(settings, name) == target
            if same_target and _running_pid(settings, spec) and _healthy(spec):
                continue
            _stop_one(settings, name)  # ours but unhealthy, another target, or a stale pid file
            if port_open(HOST, spec.port):
                raise ConfigError(
                    f"port {spec.port} for the {name} server is in use by another process; set "
                    f"GEO_PLATFORM_{_PORT_VARS[name]} to a free port"
                )
            _launch(settings, spec)
            _target_file(settings, name).write_text(target)
            launched.append(spec)
        for spec in launched:
            _wait_healthy(settings, spec, timeout)
    return status(settings)


_PORT_VARS = {
    "stac": "STAC_PORT",
    "tiles": "TILER_PORT",
    "features": "FEATURES_PORT",
    "files": "FILES_PORT",
}


def _stop_one(settings: Settings, name: str, timeout: float = 10.0) -> bool:
    _target_file(settings, name).unlink(missing_ok=True)
    return stop_pid_file(_pid_file(settings, name), grace=timeout)


def stop(settings: Settings, names: Iterable[str] | None = None) -> dict[str, bool]:
    """Stop our servers by their recorded PIDs; value: name -> whether it was running."""
    with lock(settings, "serve"):
        return {name: _stop_one(settings, name) for name in _names(names, server_specs(settings))}


def status(settings: Settings) -> dict[str, Any]:
    """Per server: running (pid alive and healthy), pid, url, target, role, log (JSON-ready, no
    secrets)."""
    out: dict[str, Any] = {}
    for name, spec in server_specs(settings).items():
        pid = _running_pid(settings, spec)
        running = bool(pid) and _healthy(spec)
        out[name] = {
            "running": running,
            "pid": pid,
            "url": spec.url,
            "docs": None if name == "files" else spec.url + "/api.html",
            "target": _recorded_target(settings, name) if running else None,
            "role": settings.reader_role,
            "log": str(_log_file(settings, name)),
        }
    return out


# --- links for the CLI, tests and the README (the pure builders are in lib.links) ------------
def item_links(
    settings: Settings, collection_id: str, item_id: str, asset: str | None = None
) -> dict[str, str]:
    """``lib.links.item_links`` for the servers of these settings."""
    stac, tiles = links.local_url(settings.stac_port), links.local_url(settings.tiler_port)
    return links.item_links(stac, tiles, collection_id, item_id, asset)


def collection_links(
    settings: Settings, collection_id: str, asset: str | None = None
) -> dict[str, str]:
    """``lib.links.collection_links`` for the servers of these settings."""
    stac, tiles = links.local_url(settings.stac_port), links.local_url(settings.tiler_port)
    return links.collection_links(stac, tiles, collection_id, asset)


def features_links(settings: Settings, table: str) -> dict[str, str]:
    """``lib.links.features_links`` of a table of the ``geo`` schema."""
    return links.features_links(links.local_url(settings.features_port), settings.geo_schema, table)
