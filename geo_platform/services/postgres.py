"""The project's own PostgreSQL 15 + PostGIS + pgstac cluster (or a check of an external one).

The cluster lives in ``state_dir/pg/data``, listens on 127.0.0.1 only and trusts loopback
connections (no password): local development and CI only. As root, ``initdb``/``pg_ctl`` run as
the ``postgres`` OS user, which owns the data folder.
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from geo_platform.lib.errors import ConfigError, DatabaseUnavailableError
from geo_platform.services._proc import is_root, lock, pid_alive, port_open, read_pid, run, tail
from geo_platform.services.access import ensure_access, ensure_production_database
from geo_platform.services.pgstac_migrate import ensure_pgstac
from geo_platform.settings import Settings, redact_url
from geo_platform.store import db

PG_SUPERUSER = "geo_platform"
PG_DATABASES = ("geo_platform", "dagster")
PG_OS_USER = "postgres"
_PG_BIN_CANDIDATES = (Path("/usr/lib/postgresql/15/bin"),)


def _pg_bin(name: str) -> str:
    """Path of a PostgreSQL server binary (Debian keeps them out of PATH)."""
    for directory in _PG_BIN_CANDIDATES:
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if found:
        return found
    raise ConfigError(
        f"PostgreSQL binary {name!r} not found: run scripts/install.sh "
        "(installs postgresql-15 and postgresql-15-postgis-3)"
    )


def _as_pg_user(cmd: list[str]) -> list[str]:
    """initdb and pg_ctl refuse to run as root: run them as the postgres OS user then."""
    return ["runuser", "-u", PG_OS_USER, "--", *cmd] if is_root() else cmd


def _url_with_db(url: str, db: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


# --- PostgreSQL ------------------------------------------------------------------------------
def _pg_paths(settings: Settings) -> dict[str, Path]:
    base = settings.state_dir / "pg"
    return {"base": base, "data": base / "data", "log": base / "log" / "postgresql.log"}


def _make_reachable(path: Path) -> None:
    """Let the postgres OS user traverse to ``path`` (adds o+x, never read, to its ancestors)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _prepare_pg_dirs(settings: Settings) -> dict[str, Path]:
    paths = _pg_paths(settings)
    paths["log"].parent.mkdir(parents=True, exist_ok=True)
    paths["data"].mkdir(parents=True, exist_ok=True)
    paths["data"].chmod(0o700)
    if is_root():
        _make_reachable(paths["base"])
        for p in [paths["base"], *paths["base"].rglob("*")]:
            shutil.chown(p, PG_OS_USER, PG_OS_USER)
    return paths


def _server_conf(settings: Settings) -> str:
    lines = [
        "# Written by geo_platform.services on every start; edit settings, not this file.",
        "listen_addresses = '127.0.0.1'",
        f"port = {settings.pg_port}",
        "unix_socket_directories = ''",
        "max_connections = 200",
        "shared_buffers = '256MB'",
        "max_wal_size = '2GB'",
        "log_min_messages = warning",
    ]
    if settings.pg_fast:  # throwaway dev/test data only: a crash can corrupt the cluster
        lines += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
    return "\n".join(lines) + "\n"


def _initdb(data: Path) -> None:
    result = run(
        _as_pg_user(
            [
                _pg_bin("initdb"),
                "-D",
                str(data),
                "-U",
                PG_SUPERUSER,
                "--auth=trust",  # loopback-only, local development: see module docstring
                "-E",
                "UTF8",
                "--no-locale",
            ]
        )
    )
    if result.returncode != 0:
        raise ConfigError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")
    conf = data / "postgresql.conf"
    with conf.open("a") as fh:
        fh.write("\ninclude_if_exists = 'geo_platform.conf'\n")


def _pg_running(data: Path) -> bool:
    if not (data / "PG_VERSION").exists():
        return False
    return run(_as_pg_user([_pg_bin("pg_ctl"), "status", "-D", str(data)])).returncode == 0


def _pg_port(data: Path) -> int | None:
    """The port a running server listens on (line 4 of postmaster.pid)."""
    try:
        return int((data / "postmaster.pid").read_text().splitlines()[3])
    except (OSError, ValueError, IndexError):
        return None


def _pg_start(settings: Settings, paths: dict[str, Path]) -> None:
    conf = paths["data"] / "geo_platform.conf"
    conf.write_text(_server_conf(settings))
    if is_root():
        shutil.chown(conf, PG_OS_USER, PG_OS_USER)
    if port_open("127.0.0.1", settings.pg_port):
        raise ConfigError(
            f"port {settings.pg_port} is already in use by another process; "
            "set GEO_PLATFORM_PG_PORT to a free port"
        )
    cmd = [_pg_bin("pg_ctl"), "start", "-D", str(paths["data"]), "-l", str(paths["log"])]
    cmd += ["-w", "-t", "60"]
    # New session: a Ctrl-C in the terminal or the end of a test run must not kill the server.
    result = run(_as_pg_user(cmd), start_new_session=True)
    if result.returncode != 0:
        raise DatabaseUnavailableError(
            f"PostgreSQL did not start: {result.stderr.strip()}\n{tail(paths['log'])}",
            path=str(paths["data"]),
        )


def _ensure_databases(settings: Settings) -> None:
    with db.connect(
        _url_with_db(settings.database_url, "postgres"), what="PostgreSQL", autocommit=True
    ) as conn:
        existing = {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}
        for name in PG_DATABASES:
            if name not in existing:
                conn.execute(
                    psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name))
                )


def ensure_postgres(settings: Settings) -> str:
    """Make the platform database reachable and return its URL.

    With ``GEO_PLATFORM_DATABASE_URL`` set, nothing is started: the external server is only
    checked. Otherwise the project's own cluster is created on first use, started if it is not
    running (a second call is a cheap no-op), and given the ``geo_platform`` and ``dagster``
    databases with pgstac migrated, plus the production database (``geo_platform_prod``, its own
    pgstac) and the least-privilege roles (``geo_platform.services.access``).
    """
    if not settings.local_database:
        with db.connect(settings.database_url, what="PostgreSQL", autocommit=True) as conn:
            conn.execute("SELECT 1")
        return settings.database_url
    with lock(settings, "postgres"):
        paths = _pg_paths(settings)
        if _pg_running(paths["data"]) and _pg_port(paths["data"]) != settings.pg_port:
            stop_postgres(settings)  # started earlier on another port: move it
        if not _pg_running(paths["data"]):
            paths = _prepare_pg_dirs(settings)
            if not (paths["data"] / "PG_VERSION").exists():
                _initdb(paths["data"])
            _pg_start(settings, paths)
        _ensure_databases(settings)
        ensure_pgstac(settings)
        # The production target and the least-privilege roles (geo_platform.services.access).
        ensure_production_database(settings)
        ensure_access(settings, lock_dagster_db="dagster")
    return settings.database_url


def stop_postgres(settings: Settings) -> bool:
    """Stop the project's cluster (fast shutdown). False if it was not running or is external."""
    if not settings.local_database:
        return False
    data = _pg_paths(settings)["data"]
    if not _pg_running(data):
        return False
    cmd = [_pg_bin("pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w", "-t", "60"]
    result = run(_as_pg_user(cmd))
    if result.returncode != 0:
        raise DatabaseUnavailableError(f"pg_ctl stop failed: {result.stderr.strip()}")
    return True


def postgres_status(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {"url": redact_url(settings.database_url)}
    if not settings.local_database:
        out["external"] = True
        try:
            with db.connect(
                settings.database_url, timeout=3, what="PostgreSQL", autocommit=True
            ) as conn:
                conn.execute("SELECT 1")
            out["running"] = True
        except DatabaseUnavailableError as exc:
            out["running"], out["error"] = False, exc.message
        return out
    paths = _pg_paths(settings)
    out["external"] = False
    out["data_dir"] = str(paths["data"])
    out["log"] = str(paths["log"])
    # postmaster.pid's first line is the postmaster's own PID, written by the server itself.
    pid = read_pid(paths["data"] / "postmaster.pid") if paths["data"].exists() else None
    out["pid"] = pid if pid_alive(pid) else None
    out["running"] = out["pid"] is not None and port_open("127.0.0.1", settings.pg_port)
    return out
