"""Shared by the benchmarks: run a command in a child process and measure it.

Linux charges a child the parent's RSS at fork/exec time too, so benchmark parents stay small
(no geopandas/pyarrow imported before measuring) and the real work runs in the child.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str]) -> tuple[float, float, str]:
    """Run ``cmd`` from the repo with it on PYTHONPATH; return (wall s, peak RSS MB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    out, err = proc.stdout, proc.stderr
    stdout = out.read().decode() if out else ""  # small outputs: no pipe deadlock
    stderr = err.read().decode() if err else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[:3]} failed:\n{stderr[-2000:]}")
    return wall, usage.ru_maxrss / 1024, stdout


def pg_connstring(dsn: str) -> str:
    """The ``PG:`` connection string of ogr2ogr for a postgresql:// URL."""
    p = urlsplit(dsn)
    parts = {
        "host": p.hostname or "127.0.0.1",
        "port": str(p.port or 5432),
        "dbname": p.path.lstrip("/"),
        "user": p.username or "",
        "password": p.password or "",
    }
    return "PG:" + " ".join(f"{k}={v}" for k, v in parts.items() if v)


def load_average() -> float:
    """The machine's 1-minute load average, printed beside every figure (noisy when > cores)."""
    return os.getloadavg()[0]


def paired_median(ours: list[float], reference: list[float]) -> float:
    """Median over rounds of ours / reference of the same round: robust to load drifting
    between rounds (each round measures both sides back to back)."""
    import statistics

    return statistics.median(o / r for o, r in zip(ours, reference, strict=True))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
