"""The Azurite blob emulator (npm package pinned in package.json), one per checkout."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from geo_platform.lib.errors import ConfigError, StorageUnavailableError
from geo_platform.services._proc import lock, pid_alive, port_open, read_pid, tail
from geo_platform.settings import REPO_ROOT, Settings, azurite_connection_string

AZURITE_ACCOUNT = "devstoreaccount1"


def _azurite_paths(settings: Settings) -> dict[str, Path]:
    base = settings.state_dir / "azurite"
    return {
        "base": base,
        "data": base / "data",
        "pid": base / "azurite.pid",
        "log": base / "azurite.log",
        "main": REPO_ROOT / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js",
    }


def azurite_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.azurite_port}/{AZURITE_ACCOUNT}"


def _azurite_running(settings: Settings) -> int | None:
    pid = read_pid(_azurite_paths(settings)["pid"])
    if pid_alive(pid) and port_open("127.0.0.1", settings.azurite_port):
        return pid
    return None


def ensure_azurite(settings: Settings) -> str:
    """Start the Azurite blob emulator if needed; return its connection string.

    Idempotent: a live PID in the pid file with the port answering means it is already up.
    """
    with lock(settings, "azurite"):
        return _start_azurite(settings)


def _start_azurite(settings: Settings) -> str:
    paths = _azurite_paths(settings)
    conn = azurite_connection_string(settings.azurite_port)
    if _azurite_running(settings):
        return conn
    stop_azurite(settings)  # ours but on another port or not answering: never two on one dir
    if port_open("127.0.0.1", settings.azurite_port):
        raise ConfigError(
            f"port {settings.azurite_port} is in use by a process that is not our Azurite; "
            "set GEO_PLATFORM_AZURITE_PORT to a free port"
        )
    node = shutil.which("node")
    if not node or not paths["main"].exists():
        raise ConfigError("Azurite is not installed: run scripts/install.sh (npm ci)")
    paths["data"].mkdir(parents=True, exist_ok=True)
    server = [
        node, str(paths["main"]), "--blobHost", "127.0.0.1",
        "--blobPort", str(settings.azurite_port), "--location", str(paths["data"]),
        "--disableTelemetry", "--skipApiVersionCheck",
    ]  # fmt: skip
    with paths["log"].open("ab") as log:
        # `sh -c 'echo $$ > pid; exec ...'` records the server's real PID (exec keeps it).
        subprocess.Popen(
            ["sh", "-c", 'echo $$ > "$0"; exec "$@"', str(paths["pid"]), *server],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _azurite_running(settings):
            return conn
        time.sleep(0.1)
    raise StorageUnavailableError(
        f"Azurite did not start within 30 s:\n{tail(paths['log'])}", path=str(paths["log"])
    )


def stop_azurite(settings: Settings) -> bool:
    """Stop our Azurite (by its recorded PID). False if it was not running."""
    paths = _azurite_paths(settings)
    pid = read_pid(paths["pid"])
    if not pid_alive(pid):
        paths["pid"].unlink(missing_ok=True)
        return False
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    paths["pid"].unlink(missing_ok=True)
    return True


def uses_external_azure(settings: Settings) -> bool:
    if settings.azure_account_url:
        return True
    conn = settings.azure_connection_string
    return bool(conn) and "127.0.0.1" not in conn and "localhost" not in conn


def azurite_status(settings: Settings) -> dict[str, Any]:
    pid = _azurite_running(settings)
    return {"running": pid is not None, "pid": pid, "url": azurite_url(settings)}
