"""500 small rasters dropped into bronze, all published in pgstac through the sensor's batched runs.

    .venv/bin/python bench/bench_small_rasters_pipeline.py [--count 500]

Same run, same files: (1) the plain Python loop of ``bench_small_rasters.py`` (COG tiers +
pystac item per file, no Dagster, no database), then (2) the platform: one bronze sensor tick
on a PostgreSQL-backed Dagster instance adds the partitions and requests pipeline runs batched
by partition range (bronze inventory, COG tiers and pgstac publish in one run per batch); the
runs are executed in this process, as `geo-platform ingest --wait` does.
Prints both times and the ratio (target: <= 3x).
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

import dagster as dg
import psycopg
from bench_small_rasters import OUT, generate, python_loop
from psycopg import sql

from geo_platform import services
from geo_platform.app.ingest import QUIET
from geo_platform.app.instance import dagster_env
from geo_platform.definitions import build_definitions
from geo_platform.defs.bronze.sensors import bronze_sensor
from geo_platform.settings import REPO_ROOT, load_settings


def _instance_home(tmp: Path, dsn: str, db: str) -> Path:
    parts = urlsplit(dsn)
    os.environ.update(
        DAGSTER_PG_HOST=parts.hostname or "127.0.0.1",
        # as the platform does: through PgBouncer when it runs (app.instance.dagster_env)
        DAGSTER_PG_PORT=dagster_env(load_settings())["DAGSTER_PG_PORT"],
        DAGSTER_PG_USER=parts.username or "", DAGSTER_PG_PASSWORD=parts.password or "",
        DAGSTER_PG_DB=db,
    )  # fmt: skip
    home = tmp / "home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


def pipeline(files: list[Path], tmp: Path, prefix: str) -> tuple[float, int, int]:
    """Returns (seconds, runs launched, items in pgstac)."""
    settings = load_settings()
    dsn = services.ensure_postgres(settings)
    db = f"dagster_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    try:
        home = _instance_home(tmp, dsn, db)
        os.environ["GEO_PLATFORM_BLOB_ROOT"] = str(tmp / "blobs")
        defs = build_definitions(load_settings())
        store = defs.resources["blob_store"]
        store.ensure_container("bronze")
        for f in files:  # dropped into bronze before the clock starts
            store.upload_file("bronze", f"{prefix}/{f.name}", f)
        runs = 0
        with dg.DagsterInstance.from_config(str(home)) as instance:
            start = time.perf_counter()
            ctx = dg.build_sensor_context(
                instance=instance, instance_ref=instance.get_ref(),
                resources=defs.resources, definitions=defs,
            )  # fmt: skip
            tick = bronze_sensor.evaluate_tick(ctx)
            for req in tick.dynamic_partitions_requests:
                instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
            per_job: dict[str, float] = {}
            for rr in tick.run_requests:
                for job in [rr.job_name]:  # the pipeline job: every stage in one run
                    t0 = time.perf_counter()
                    result = defs.resolve_job_def(job).execute_in_process(
                        instance=instance, run_config=QUIET, tags=rr.tags,
                        partition_key=rr.partition_key, raise_on_error=False,
                    )  # fmt: skip
                    runs += 1
                    per_job[job] = per_job.get(job, 0.0) + time.perf_counter() - t0
                    if not result.success:
                        raise SystemExit(f"run {result.run_id} of {job} failed")
            seconds = time.perf_counter() - start
            print("seconds per stage:", {k: round(v, 1) for k, v in per_job.items()})
        with psycopg.connect(dsn) as conn:
            n = conn.execute(
                "SELECT count(*) FROM pgstac.items WHERE content->'properties'->>"
                "'geo_platform:source_blob' LIKE %s", (f"{prefix}/%",),
            ).fetchone()[0]  # fmt: skip
            conn.execute(
                "SELECT pgstac.delete_collection(id) FROM pgstac.collections WHERE id = %s",
                (prefix,),
            )
            conn.commit()
        return seconds, runs, n
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db))
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=500)
    args = ap.parse_args()
    files = generate(OUT / "small_rasters", args.count)
    loop_out = OUT / "small_rasters_out"
    shutil.rmtree(loop_out, ignore_errors=True)
    loop_s = python_loop(files, loop_out)
    print(f"plain Python loop (COG tiers + pystac item): {loop_s:.1f} s")
    tmp = Path(tempfile.mkdtemp(prefix="bench-small-"))
    try:
        prefix = f"bench{uuid.uuid4().hex[:6]}"
        pipe_s, runs, items = pipeline(files, tmp, prefix)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"platform (sensor tick + {runs} batched runs, published in pgstac): {pipe_s:.1f} s; "
        f"items in pgstac: {items}/{len(files)}"
    )
    ratio = pipe_s / loop_s
    verdict = "OK" if ratio <= 3 else "MISSED"
    print(f"ratio platform / plain loop: {ratio:.2f}x (target <= 3x: {verdict})")


if __name__ == "__main__":
    main()
