"""PgBouncer in front of the local cluster, for Dagster's own storage.

dagster-postgres opens a new database connection for every storage call (its SQLAlchemy engines
use NullPool), about a thousand per 25-file pipeline run; each costs a backend start-up. In
session mode PgBouncer hands out pooled server connections instead, which halved the run time of
small-file batches here (bench/bench_small_rasters_pipeline.py). Session mode keeps LISTEN/NOTIFY
working. Only the local cluster gets one; production uses its server's pooler (see deploy/).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from geo_platform.lib.errors import ConfigError, DatabaseUnavailableError
from geo_platform.services._proc import (
    is_root,
    lock,
    pid_alive,
    port_open,
    read_pid,
    run,
    stop_pid_file,
    tail,
)
from geo_platform.settings import Settings

PG_OS_USER = "postgres"


def _paths(settings: Settings) -> dict[str, Path]:
    base = settings.state_dir / "pgbouncer"
    return {
        "base": base,
        "ini": base / "pgbouncer.ini",
        "users": base / "users.txt",
        "pid": base / "pgbouncer.pid",
        "log": base / "pgbouncer.log",
    }


def enabled(settings: Settings) -> bool:
    return settings.local_database and settings.pgbouncer_port > 0 and bool(_binary())


def _binary() -> str | None:
    return shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
    )


def _config(settings: Settings, paths: dict[str, Path]) -> str:
    return f"""[databases]
* = host=127.0.0.1 port={settings.pg_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {settings.pgbouncer_port}
unix_socket_dir =
auth_type = trust
auth_file = {paths["users"]}
pool_mode = session
max_client_conn = 1000
default_pool_size = 20
server_idle_timeout = 60
ignore_startup_parameters = extra_float_digits,options
logfile = {paths["log"]}
pidfile = {paths["pid"]}
"""


def _running(settings: Settings) -> int | None:
    pid = read_pid(_paths(settings)["pid"])
    if pid_alive(pid) and port_open("127.0.0.1", settings.pgbouncer_port):
        return pid
    return None


def ensure_pgbouncer(settings: Settings) -> int | None:
    """Start PgBouncer for the local cluster if needed (idempotent); its port, or None."""
    if not enabled(settings):
        return None
    with lock(settings, "pgbouncer"):
        if _running(settings):
            return settings.pgbouncer_port
        stop_pgbouncer(settings)
        if port_open("127.0.0.1", settings.pgbouncer_port):
            raise ConfigError(
                f"port {settings.pgbouncer_port} is in use by another process; "
                "set GEO_PLATFORM_PGBOUNCER_PORT to a free port (or 0 to do without PgBouncer)"
            )
        paths = _paths(settings)
        paths["base"].mkdir(parents=True, exist_ok=True)
        user = settings.dagster_pg["DAGSTER_PG_USER"]
        paths["users"].write_text(f'"{user}" ""\n')
        paths["ini"].write_text(_config(settings, paths))
        if is_root():
            for p in (paths["base"], paths["users"], paths["ini"]):
                shutil.chown(p, PG_OS_USER, PG_OS_USER)
        cmd = [str(_binary()), "-d", str(paths["ini"])]
        proc = run(["runuser", "-u", PG_OS_USER, "--", *cmd] if is_root() else cmd, timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not _running(settings):
            time.sleep(0.1)
        if not _running(settings):
            raise DatabaseUnavailableError(
                f"PgBouncer did not start ({proc.stderr.strip()[:300]}):\n{tail(paths['log'])}"
            )
        return settings.pgbouncer_port


def stop_pgbouncer(settings: Settings) -> bool:
    return stop_pid_file(_paths(settings)["pid"])


def pgbouncer_status(settings: Settings) -> dict[str, Any]:
    if not enabled(settings):
        return {"running": False, "enabled": False}
    pid = _running(settings)
    return {
        "running": pid is not None,
        "pid": pid,
        "url": f"postgresql://127.0.0.1:{settings.pgbouncer_port}",
        "role": "session pooling for Dagster's storage",
    }
