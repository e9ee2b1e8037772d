"""The Azurite emulator (npm package pinned in package.json), one per checkout: its blob service
and its queue service (blob events for the event sensor), each a process of its own.

Two processes rather than Azurite's combined entry point: each has its own port
(GEO_PLATFORM_AZURITE_PORT, GEO_PLATFORM_AZURITE_QUEUE_PORT), PID file and log, so a blob
emulator already running is kept when the queue service is added, and the table service (not
used) takes no port. Both keep their data under ``<state>/azurite/data`` (separate files).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geo_platform.lib.errors import ConfigError, StorageUnavailableError
from geo_platform.services._proc import lock, pid_alive, port_open, read_pid, stop_pid_file, tail
from geo_platform.settings import REPO_ROOT, Settings, azurite_connection_string

AZURITE_ACCOUNT = "devstoreaccount1"
_DIST = REPO_ROOT / "node_modules" / "azurite" / "dist" / "src"


@dataclass(frozen=True)
class _Service:
    """One Azurite service: ``blob`` or ``queue``."""

    name: str
    port: int
    pid: Path
    log: Path
    main: Path
    data: Path

    def command(self, node: str) -> list[str]:
        return [
            node, str(self.main), f"--{self.name}Host", "127.0.0.1",
            f"--{self.name}Port", str(self.port), "--location", str(self.data),
            "--disableTelemetry", "--skipApiVersionCheck",
        ]  # fmt: skip


def _services(settings: Settings) -> list[_Service]:
    base = settings.state_dir / "azurite"
    data = base / "data"
    return [
        _Service(
            "blob", settings.azurite_port, base / "azurite.pid", base / "azurite.log",
            _DIST / "blob" / "main.js", data,
        ),
        _Service(
            "queue", settings.queue_emulator_port, base / "azurite-queue.pid",
            base / "azurite-queue.log", _DIST / "queue" / "main.js", data,
        ),
    ]  # fmt: skip


def azurite_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.azurite_port}/{AZURITE_ACCOUNT}"


def azurite_queue_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.queue_emulator_port}/{AZURITE_ACCOUNT}"


def _running(service: _Service) -> int | None:
    pid = read_pid(service.pid)
    if pid_alive(pid) and port_open("127.0.0.1", service.port):
        return pid
    return None


def ensure_azurite(settings: Settings) -> str:
    """Start Azurite's blob and queue services if needed, and create the queue of blob events
    (GEO_PLATFORM_EVENT_QUEUE) if one is configured; return the connection string.

    Idempotent: a live PID in a service's pid file with its port answering means it is up.
    """
    with lock(settings, "azurite"):
        for service in _services(settings):
            _start(service)
    conn = azurite_connection_string(settings.azurite_port, settings.queue_emulator_port)
    if settings.event_queue:
        from geo_platform.store.queue import EventQueue  # requests, azure-core: only here

        queue = EventQueue(queue_name=settings.event_queue, connection_string=conn)
        queue.ensure_queue()
        queue.close()
    return conn


def _start(service: _Service) -> None:
    if _running(service):
        return
    _stop(service)  # ours but on another port or not answering: never two on one pid file
    if port_open("127.0.0.1", service.port):
        variable = "GEO_PLATFORM_AZURITE_" + ("PORT" if service.name == "blob" else "QUEUE_PORT")
        raise ConfigError(
            f"port {service.port} is in use by a process that is not our Azurite "
            f"{service.name} service; set {variable} to a free port"
        )
    node = shutil.which("node")
    if not node or not service.main.exists():
        raise ConfigError("Azurite is not installed: run scripts/install.sh (npm ci)")
    service.data.mkdir(parents=True, exist_ok=True)
    with service.log.open("ab") as log:
        # `sh -c 'echo $$ > pid; exec ...'` records the server's real PID (exec keeps it).
        subprocess.Popen(
            ["sh", "-c", 'echo $$ > "$0"; exec "$@"', str(service.pid), *service.command(node)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _running(service):
            return
        time.sleep(0.1)
    raise StorageUnavailableError(
        f"Azurite's {service.name} service did not start within 30 s:\n{tail(service.log)}",
        path=str(service.log),
    )


def stop_azurite(settings: Settings) -> bool:
    """Stop our Azurite services (by their recorded PIDs). False if none was running."""
    stopped = [_stop(service) for service in _services(settings)]
    return any(stopped)


def _stop(service: _Service) -> bool:
    return stop_pid_file(service.pid)


def uses_external_azure(settings: Settings) -> bool:
    if settings.azure_account_url:
        return True
    conn = settings.azure_connection_string
    return bool(conn) and "127.0.0.1" not in conn and "localhost" not in conn


def azurite_status(settings: Settings) -> dict[str, Any]:
    blob, queue = (_running(service) for service in _services(settings))
    return {
        "running": blob is not None,
        "pid": blob,
        "url": azurite_url(settings),
        "queue": {"running": queue is not None, "pid": queue, "url": azurite_queue_url(settings)},
    }
