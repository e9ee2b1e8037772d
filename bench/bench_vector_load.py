"""Benchmark: 1,000,000 points from a GeoPackage into PostGIS, against ogr2ogr.

    python bench/bench_vector_load.py [--rows 1000000] [--repeat 3] [--dsn URL]

Measured in the same run, on the same file and the same server, each in its own subprocess
(wall time and peak RSS from ``wait4``), alternating so that background load hits both alike:

- ``ogr2ogr -f PostgreSQL PG:... --config PG_USE_COPY YES`` (Debian gdal-bin; it builds a GiST
  index and a primary key too);
- our loader: ``publish_vector_file(..., parquet_dir=None)``: read with pyogrio/Arrow, clean,
  binary COPY into a staging table, primary key + GiST index + ANALYZE, swap in one transaction;
- our full publish (also writing the GeoParquet 1.1 copy), for information.

Targets (issue 4): throughput >= 1.5x ogr2ogr (never below 1.0x), peak RSS <= 1 GB. The input
(an int, a float, a text, a date and a bool column) is generated under ``bench/out/``; the
tables go to a scratch schema ``bench_vector`` that is dropped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
OGR2OGR = "/usr/bin/ogr2ogr"
SCHEMA = "bench_vector"

OUR_LOADER = """
import sys, time
from pathlib import Path
import psycopg
from geo_platform.store.vector_load import publish_vector_file
dsn, path, schema, table, parquet = sys.argv[1:6]
start = time.perf_counter()
with psycopg.connect(dsn, autocommit=True) as conn:
    (t,) = publish_vector_file(conn, Path(path), source_name=path, schema=schema,
                               table_base=table, parquet_dir=Path(parquet) if parquet else None)
print(t.rows_loaded, time.perf_counter() - start)
"""
from _measure import pg_connstring, run  # noqa: E402


def generate(path: Path, rows: int) -> Path:
    """Write the benchmark GeoPackage (EPSG:4326 points, five attribute columns)."""
    import geopandas as gpd
    import numpy as np
    import pandas as pd

    if path.exists():
        return path
    rng = np.random.default_rng(42)
    days = pd.to_datetime("2000-01-01") + pd.to_timedelta(rng.integers(0, 9000, rows), unit="D")
    df = gpd.GeoDataFrame(
        {
            "id_int": np.arange(rows, dtype=np.int64),
            "value": rng.random(rows),
            "label": pd.array([f"feature {i}" for i in range(rows)], dtype="string"),
            "day": days.date,
            "flag": rng.random(rows) > 0.5,
        },
        geometry=gpd.points_from_xy(rng.uniform(-180, 180, rows), rng.uniform(-90, 90, rows)),
        crs="EPSG:4326",
    )
    tmp = path.with_name("partial_" + path.name)
    df.to_file(tmp, layer="points", engine="pyogrio", use_arrow=True)
    tmp.rename(path)
    return path


def check_tables(dsn: str, rows: int) -> dict[str, tuple[int, int, list[int]]]:
    """Row count, invalid count and SRIDs of both tables, from PostGIS itself."""
    import psycopg

    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table, geom in (("ogr_points", "geom"), ("our_points", "geom")):
            row = conn.execute(
                f"SELECT count(*), count(*) FILTER (WHERE NOT ST_IsValid({geom})), "
                f"array_agg(DISTINCT ST_SRID({geom})) FROM {SCHEMA}.{table}"
            ).fetchone()
            assert row is not None
            out[table] = (row[0], row[1], row[2])
            if row[0] != rows:
                raise SystemExit(f"{table} has {row[0]} rows, expected {rows}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dsn", default="")
    ap.add_argument("--generate-only", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate_only:
        generate(args.generate_only, args.rows)
        return

    sys.path.insert(0, str(REPO))
    import psycopg

    from geo_platform.settings import load_settings

    dsn = args.dsn or load_settings().database_url
    OUT.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    src = OUT / f"points_{args.rows}.gpkg"
    if not src.exists():  # in a child: ru_maxrss of later children would include our size
        gen = [sys.executable, __file__, "--rows", str(args.rows), "--generate-only", str(src)]
        subprocess.run(gen, check=True)
    ready = time.perf_counter() - t0
    print(f"input: {src} ({src.stat().st_size / 1e6:.0f} MB, ready in {ready:.1f} s)")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
    ogr = [
        OGR2OGR, "-f", "PostgreSQL", pg_connstring(dsn), str(src), "-nln", f"{SCHEMA}.ogr_points",
        "-lco", "OVERWRITE=YES", "-lco", "GEOMETRY_NAME=geom", "--config", "PG_USE_COPY", "YES",
    ]  # fmt: skip
    ours = [sys.executable, "-c", OUR_LOADER, dsn, str(src), SCHEMA, "our_points", ""]
    full = [*ours[:-1], str(OUT / "parquet")]
    results: dict[str, list[tuple[float, float]]] = {"ogr2ogr": [], "ours": [], "ours+parquet": []}
    inner: list[float] = []  # our in-process time, after Python start-up and imports
    for i in range(args.repeat):
        for name, cmd in (("ogr2ogr", ogr), ("ours", ours), ("ours+parquet", full)):
            wall, rss, stdout = run(cmd)
            results[name].append((wall, rss))
            note = ""
            if name == "ours":
                inner.append(float(stdout.split()[1]))
                note = f"  (in-process {inner[-1]:.2f} s)"
            rate = args.rows / wall
            print(f"  run {i + 1} {name:13s} {wall:6.2f} s {rate:9,.0f} rows/s {rss:6.0f} MB{note}")
    print("tables:", check_tables(dsn, args.rows))
    med = {k: statistics.median(w for w, _ in v) for k, v in results.items()}
    peak = {k: max(r for _, r in v) for k, v in results.items()}
    ratios = [o / u for (o, _), (u, _) in zip(results["ogr2ogr"], results["ours"], strict=True)]
    print("\nmedian wall time, throughput and peak RSS:")
    for k in results:
        print(f"  {k:13s} {med[k]:6.2f} s  {args.rows / med[k]:9,.0f} rows/s  {peak[k]:6.0f} MB")
    print(
        f"\nthroughput ratio ours/ogr2ogr: median {med['ogr2ogr'] / med['ours']:.2f}x, "
        f"per run {', '.join(f'{r:.2f}x' for r in ratios)} (target >= 1.5x, never < 1.0x)"
    )
    print(f"with the GeoParquet copy:      median {med['ogr2ogr'] / med['ours+parquet']:.2f}x")
    print(f"excluding our Python start-up: median {med['ogr2ogr'] / statistics.median(inner):.2f}x")
    print(
        f"peak RSS ours: {peak['ours']:.0f} MB, with GeoParquet {peak['ours+parquet']:.0f} MB "
        "(target <= 1024 MB)"
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


if __name__ == "__main__":
    main()
