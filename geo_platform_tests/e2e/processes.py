"""Dagster processes for end-to-end tests: a daemon, or `dagster dev`, always cleaned up."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from geo_platform.settings import REPO_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"process exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


@contextmanager
def dagster_process(
    args: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m <args>`` from the repo in its own process group, ended (TERM, then KILL)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def daemon(env: dict[str, str], log: Path) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """The Dagster daemon (sensors, automation, backfills, run queue) on the test instance."""
    return dagster_process(["dagster._daemon", "run", "-w", "workspace.yaml"], env, log)


@contextmanager
def dagster_dev(env: dict[str, str], log: Path, timeout: float = 180) -> Iterator[str]:
    """`dagster dev` (UI + daemon) on a free loopback port; yields its base URL once it answers."""
    port = free_port()
    args = ["dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with dagster_process(args, {**env, "GEO_PLATFORM_UI_PORT": str(port)}, log) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/server_info", proc, log, timeout)
        yield url
