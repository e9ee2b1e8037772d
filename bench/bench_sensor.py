"""Sensor benchmark: 10,000 new blobs in the local bronze store, one tick.

Measures one evaluation of the bronze sensor on a PostgreSQL-backed Dagster instance (the
production storage), including the partition adds the daemon applies from its result.
Target: under 20 s. Prints the figures and the ratio to the target.

    .venv/bin/python bench/bench_sensor.py [--blobs 10000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg
import psycopg
from psycopg import sql

from geo_platform import services
from geo_platform.app.instance import dagster_env
from geo_platform.definitions import defs
from geo_platform.defs.bronze.sensors import bronze_sensor
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.resources.databases import PlatformResource
from geo_platform.settings import REPO_ROOT, load_settings

TARGET_S = 20.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blobs", type=int, default=10_000)
    args = ap.parse_args()
    settings = load_settings()
    dsn = services.ensure_postgres(settings)
    db = f"dagster_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    tmp = Path(tempfile.mkdtemp(prefix="bench-sensor-"))
    try:
        parts = urlsplit(dsn)
        os.environ.update(
            DAGSTER_PG_HOST=parts.hostname or "127.0.0.1",
            # as the platform does: through PgBouncer when it runs (app.instance.dagster_env)
            DAGSTER_PG_PORT=dagster_env(settings)["DAGSTER_PG_PORT"],
            DAGSTER_PG_USER=parts.username or "",
            DAGSTER_PG_PASSWORD=parts.password or "",
            DAGSTER_PG_DB=db,
        )
        home = tmp / "home"
        home.mkdir()
        shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
        root = tmp / "blobs" / "bronze"
        t0 = time.perf_counter()
        for i in range(args.blobs):
            d = root / "burst" / f"{i // 1000:02d}"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"tile_{i:05d}.tif").write_bytes(b"II*\x00" + b"\x00" * 60)
        print(f"created {args.blobs} blobs in {time.perf_counter() - t0:.1f} s")
        store = LocalBlobStore(root=str(tmp / "blobs"))
        with dg.DagsterInstance.from_config(str(home)) as instance:
            ctx = dg.build_sensor_context(
                instance=instance,
                instance_ref=instance.get_ref(),
                resources={"blob_store": store, "platform": PlatformResource()},
                definitions=defs,
            )
            t0 = time.perf_counter()
            result = bronze_sensor.evaluate_tick(ctx)
            t_eval = time.perf_counter() - t0
            for req in result.dynamic_partitions_requests:
                instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
            t_total = time.perf_counter() - t0
            n_parts = len(instance.get_dynamic_partitions("bronze_raster_files"))
            files = sum(int(r.tags.get("geo_platform/files", 1)) for r in result.run_requests)
            t1 = time.perf_counter()
            again = bronze_sensor.evaluate_tick(
                dg.build_sensor_context(
                    instance=instance,
                    cursor=result.cursor,
                    instance_ref=instance.get_ref(),
                    resources={"blob_store": store, "platform": PlatformResource()},
                    definitions=defs,
                )
            )
            t_idle = time.perf_counter() - t1
        print(f"sensor evaluation: {t_eval:.2f} s; with partition adds: {t_total:.2f} s")
        print(
            f"partitions registered: {n_parts}; runs requested: {len(result.run_requests)} "
            f"covering {files} files; cursor {len(result.cursor or '')} bytes"
        )
        print(f"next tick with nothing new: {t_idle:.2f} s, {len(again.run_requests)} runs")
        ok = t_total < TARGET_S and n_parts == args.blobs and files == args.blobs
        print(f"ratio to the 20 s target: {t_total / TARGET_S:.2f}x ({'OK' if ok else 'MISSED'})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db))
            )


if __name__ == "__main__":
    main()
