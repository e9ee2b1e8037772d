"""Debian's redis-server as the Celery broker and result backend, one per checkout.

Started only when steps run on Celery workers (GEO_PLATFORM_EXECUTOR=celery) and no external
Redis is configured (GEO_PLATFORM_REDIS_URL pointing elsewhere). It is the project's own process
(never the system service): loopback only, on GEO_PLATFORM_REDIS_PORT, its PID file and log
under ``<state>/redis`` (named by port). Nothing is persisted (no RDB snapshots, no AOF): a
restart drops queued step messages, which is fine for development and CI and nowhere else
(production uses a managed Redis, see deploy/README.md).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from geo_platform.lib.errors import ConfigError, StorageUnavailableError
from geo_platform.services._proc import lock, pid_alive, port_open, read_pid, stop_pid_file, tail
from geo_platform.settings import Settings, redact_url


def _paths(settings: Settings) -> dict[str, Path]:
    """Files of the server on settings.redis_port (one per port: a second checkout or a test on
    another port never takes over this one's PID file)."""
    base = settings.state_dir / "redis"
    port = settings.redis_port
    return {"base": base, "pid": base / f"redis-{port}.pid", "log": base / f"redis-{port}.log"}


def _binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


def wanted(settings: Settings) -> bool:
    """True when ``services up`` should start our Redis: Celery steps, no external Redis."""
    return settings.executor == "celery" and not settings.external_redis


def ping(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """True if a Redis answers PING on ``host:port`` (RESP inline command, no client library)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _running(settings: Settings) -> int | None:
    pid = read_pid(_paths(settings)["pid"])
    if pid_alive(pid) and ping(settings.redis_port):
        return pid
    return None


def _command(binary: str, settings: Settings, paths: dict[str, Path]) -> list[str]:
    return [
        binary, "--bind", "127.0.0.1", "--port", str(settings.redis_port),
        "--protected-mode", "yes", "--daemonize", "no", "--dir", str(paths["base"]),
        "--save", "", "--appendonly", "no", "--logfile", str(paths["log"]),
    ]  # fmt: skip


def ensure_redis(settings: Settings) -> str:
    """Start our redis-server if needed (idempotent); return its URL (settings.broker_url).

    A live PID in the pid file with the port answering PING means it is up."""
    with lock(settings, f"redis-{settings.redis_port}"):
        if _running(settings):
            return settings.broker_url
        stop_redis(settings)  # ours but not answering: never two on one pid file
        if port_open("127.0.0.1", settings.redis_port):
            raise ConfigError(
                f"port {settings.redis_port} is in use by a process that is not our Redis; "
                "set GEO_PLATFORM_REDIS_PORT to a free port"
            )
        binary = _binary()
        if not binary:
            raise ConfigError("redis-server is not installed: run scripts/install.sh")
        paths = _paths(settings)
        paths["base"].mkdir(parents=True, exist_ok=True)
        # `sh -c 'echo $$ > pid; exec ...'` records the server's real PID (exec keeps it).
        subprocess.Popen(
            ["sh", "-c", 'echo $$ > "$0"; exec "$@"', str(paths["pid"]),
             *_command(binary, settings, paths)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if _running(settings):
                return settings.broker_url
            time.sleep(0.1)
        raise StorageUnavailableError(
            f"redis-server did not start within 15 s:\n{tail(paths['log'])}",
            path=str(paths["log"]),
        )


def stop_redis(settings: Settings) -> bool:
    """Stop our redis-server (by its recorded PID). False if it was not running."""
    return stop_pid_file(_paths(settings)["pid"])


def redis_status(settings: Settings) -> dict[str, Any]:
    """Our Redis (or the external one's redacted URL); no password is ever shown."""
    if settings.external_redis:
        return {"running": None, "external": True, "url": redact_url(settings.redis_url)}
    pid = _running(settings)
    return {
        "running": pid is not None,
        "pid": pid,
        "url": settings.broker_url,
        "wanted": wanted(settings),
    }
