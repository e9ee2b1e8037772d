"""500 small rasters dropped into bronze, all published in pgstac through the sensor's batched runs.

    .venv/bin/python bench/bench_small_rasters_pipeline.py [--count 500]

Same run, same files, paired rounds: (1) the plain Python loop of ``bench_small_rasters.py``
(COG tiers + pystac item per file, no Dagster, no database), then (2) the platform: one bronze
sensor tick on a PostgreSQL-backed Dagster instance adds the partitions and requests pipeline
runs batched by partition range (bronze inventory, COG tiers and pgstac publish in one run per
batch); the runs are executed in this process, as `geo-platform ingest --wait` does. Each round
checks that pgstac holds one item per file with the assets the loop made for it.

    .venv/bin/python bench/bench_small_rasters_pipeline.py [--count 500] [--repeat 3]

Prints every figure with the 1-minute load average beside it and the median over rounds of the
ratio within a round (target, issue 18: <= 1.6x).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
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
from geo_platform.app.instance import dagster_env, dagster_instance
from geo_platform.definitions import build_definitions
from geo_platform.defs.bronze.sensors import bronze_sensor
from geo_platform.settings import REPO_ROOT, load_settings


def _instance_home(tmp: Path, dsn: str, db: str) -> Path:
    parts = urlsplit(dsn)
    env = dagster_env(load_settings())  # as `geo-platform ingest` runs (app.instance)
    os.environ.update(
        DAGSTER_PG_HOST=parts.hostname or "127.0.0.1",
        # as the platform does: through PgBouncer when it runs, event writes batched
        DAGSTER_PG_PORT=env["DAGSTER_PG_PORT"],
        DAGSTER_EVENT_BATCH_SIZE=env["DAGSTER_EVENT_BATCH_SIZE"],
        DAGSTER_PG_USER=parts.username or "", DAGSTER_PG_PASSWORD=parts.password or "",
        DAGSTER_PG_DB=db,
    )  # fmt: skip
    home = tmp / "home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


def pipeline(files: list[Path], tmp: Path, prefix: str) -> tuple[float, int, dict[str, list[str]]]:
    """Returns (seconds, runs launched, {source file name: asset keys} of the items in pgstac)."""
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
        os.environ["DAGSTER_HOME"] = str(home)
        # as `geo-platform ingest` opens it (app.instance): storages keep their connections open
        with dagster_instance(load_settings()) as instance:
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
            rows = conn.execute(
                "SELECT content->'properties'->>'geo_platform:source_blob', "
                "ARRAY(SELECT jsonb_object_keys(content->'assets')) FROM pgstac.items "
                "WHERE content->'properties'->>'geo_platform:source_blob' LIKE %s",
                (f"{prefix}/%",),
            ).fetchall()
            n = {Path(source).name: sorted(keys) for source, keys in rows}
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


def loop_assets(out_root: Path, files: list[Path]) -> dict[str, list[str]]:
    """{source file name: asset keys} of the items the plain loop wrote."""
    out = {}
    for f in files:
        item = json.loads((out_root / f.stem / "item.json").read_text())
        out[f.name] = sorted(item["assets"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    files = generate(OUT / "small_rasters", args.count)
    loop_out = OUT / "small_rasters_out"
    loops: list[float] = []
    pipes: list[float] = []
    loads: list[float] = []
    for i in range(args.repeat):
        shutil.rmtree(loop_out, ignore_errors=True)
        loads.append(os.getloadavg()[0])
        loops.append(python_loop(files, loop_out))
        expected = loop_assets(loop_out, files)
        print(f"  round {i + 1} plain loop: {loops[-1]:.1f} s (load {loads[-1]:.2f})", flush=True)
        tmp = Path(tempfile.mkdtemp(prefix="bench-small-"))
        try:
            prefix = f"bench{uuid.uuid4().hex[:6]}"
            loads.append(os.getloadavg()[0])
            pipe_s, runs, items = pipeline(files, tmp, prefix)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        pipes.append(pipe_s)
        same = items == expected
        print(
            f"  round {i + 1} platform (sensor tick + {runs} batched runs): {pipe_s:.1f} s "
            f"(load {loads[-1]:.2f}); items in pgstac {len(items)}/{len(files)}, "
            f"same assets as the loop: {same}",
            flush=True,
        )
        if not same:
            missing = sorted(set(expected) - set(items))[:5]
            differ = [k for k in expected if k in items and items[k] != expected[k]][:5]
            raise SystemExit(f"outputs differ: missing {missing}, other assets {differ}")
    ratio = statistics.median(p / lo for p, lo in zip(pipes, loops, strict=True))
    load = f"load average {min(loads):.2f}-{max(loads):.2f} (median {statistics.median(loads):.2f})"
    print(
        f"median: plain loop {statistics.median(loops):.1f} s, platform "
        f"{statistics.median(pipes):.1f} s"
    )
    verdict = "PASS" if ratio <= 1.6 else "FAIL"
    print(f"500 small rasters: {ratio:.2f}x the plain loop (target <= 1.60x) {verdict} [{load}]")


if __name__ == "__main__":
    main()
