"""Benchmark: the whole path a user runs, `geo-platform ingest --wait`, against the reference tool.

    python bench/bench_e2e.py points   [--rows 1000000] [--repeat 3]   # vs ogr2ogr
    python bench/bench_e2e.py polygons [--rows 200000]  [--repeat 3]   # vs ogr2ogr
    python bench/bench_e2e.py raster   [--size 10000]   [--repeat 3]   # vs gdal_translate

Each round runs the reference, then ours, each in its own subprocess (wall time and peak RSS from
``wait4``; Python start-up, imports, the upload into bronze, the Dagster run, PostGIS/COG tiers,
GeoParquet, STAC items and the pgstac publish all included), with the 1-minute load average
printed beside every figure. Ratios are the median over rounds of the ratio within a round.

- points/polygons: ``ogr2ogr -f PostgreSQL --config PG_USE_COPY YES`` (Debian gdal-bin; GiST
  index and primary key too) against ours, which also writes the GeoParquet copy, the STAC item
  and checks the table in PostGIS. Target (issue 18): ours >= 1.0x ogr2ogr's throughput.
- raster: ``gdal_translate -of COG -co COMPRESS=DEFLATE -co NUM_THREADS=ALL_CPUS`` against our
  three tiers, thumbnail, STAC item and pgstac publish. Target: ours <= 1.8x, peak RSS <= 1 GB.

Ours runs on a scratch Dagster database, a scratch blob root and a scratch PostGIS schema (all
removed at the end); its items go to pgstac under a scratch collection, deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))

from _measure import load_average, paired_median, pg_connstring, run, verdict  # noqa: E402

OGR2OGR = "/usr/bin/ogr2ogr"
GDAL_TRANSLATE = "/usr/bin/gdal_translate"
SCHEMA = "bench_e2e"
GEO_PLATFORM = str(Path(sys.executable).with_name("geo-platform"))


def _generate(case: str, args: argparse.Namespace) -> Path:
    """The input file (generated once under bench/out/, in a child process)."""
    OUT.mkdir(exist_ok=True)
    if case == "points":
        path = OUT / f"points_{args.rows}.gpkg"
        gen = [HERE / "bench_vector_load.py", "--rows", str(args.rows), "--generate-only", path]
    elif case == "polygons":
        path = OUT / f"polygons_{args.rows}.gpkg"
        gen = [HERE / "bench_vector_load.py", "--case", "polygons", "--rows", str(args.rows),
               "--generate-only", path]  # fmt: skip
    else:
        path = OUT / f"cog_src_{args.size}.tif"
        code = (
            "import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path; "
            "from bench_cog import generate; generate(Path(sys.argv[2]), int(sys.argv[3]))"
        )
        gen = ["-c", code, str(HERE), str(path), str(args.size)]
    if not path.exists():
        subprocess.run([sys.executable, *map(str, gen)], check=True, cwd=REPO)
    return path


class Scratch:
    """A Dagster home and database, a blob root and a PostGIS schema for our side."""

    def __init__(self) -> None:
        sys.path.insert(0, str(REPO))
        from geo_platform.settings import load_settings

        self.settings = load_settings()
        self.dsn = self.settings.database_url
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
        self.db = f"dagster_bench_{uuid.uuid4().hex[:8]}"
        self.prefix = f"benche2e{uuid.uuid4().hex[:6]}"
        home = self.tmp / "home"
        home.mkdir()
        shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
        pg = dict(self.settings.dagster_pg)
        pg["DAGSTER_PG_DB"] = self.db
        self.env = {
            **os.environ,
            **pg,
            "DAGSTER_HOME": str(home),
            "GEO_PLATFORM_BLOB_ROOT": str(self.tmp / "blobs"),
            "GEO_PLATFORM_GEO_SCHEMA": SCHEMA,
            # Built in full even when the same content is published elsewhere in this database
            # (the lookup still runs; the default, link, would time pointer items only).
            "GEO_PLATFORM_DUPLICATES": "publish",
            "PYTHONPATH": str(REPO),
        }
        # As on an installed platform, Python caches the compiled modules (a pip install
        # compiles them; the warm-up run writes them here): a shell that sets
        # PYTHONDONTWRITEBYTECODE would otherwise recompile geo_platform on every run.
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self._sql(f'CREATE DATABASE "{self.db}"')
        self._sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        self._sql(f"CREATE SCHEMA {SCHEMA}")

    def _sql(self, statement: str, params: tuple = ()) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(statement, params)  # type: ignore[arg-type]

    def ingest(self, path: Path) -> list[str]:
        return [GEO_PLATFORM, "ingest", "--wait", "--json", "--prefix", self.prefix, str(path)]

    def check(self, stdout: str) -> None:
        results = json.loads(stdout)
        bad = [r for r in results if r["status"] != "published"]
        if bad:
            raise SystemExit(f"ingest did not publish: {bad}")
        # A file whose content is already published elsewhere gets pointer items only (the
        # default duplicates=link): that would time nothing, so every file must have outputs.
        empty = [r["file"] for r in results if not (r["tables"] or r["blobs"])]
        if empty:
            raise SystemExit(f"published as duplicates of earlier content, nothing built: {empty}")

    def close(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(
                "SELECT pgstac.delete_collection(id) FROM pgstac.collections WHERE id LIKE %s",
                (self.prefix + "%",),
            )
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        shutil.rmtree(self.tmp, ignore_errors=True)


def _run_env(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return run(cmd)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _reference(case: str, src: Path, dsn: str) -> list[str]:
    if case == "raster":
        return [GDAL_TRANSLATE, "-q", "-of", "COG", "-co", "COMPRESS=DEFLATE",
                "-co", "NUM_THREADS=ALL_CPUS", str(src), str(OUT / "e2e_ref.tif")]  # fmt: skip
    return [OGR2OGR, "-f", "PostgreSQL", pg_connstring(dsn), str(src), "-nln",
            f"{SCHEMA}.ogr_ref", "-lco", "OVERWRITE=YES", "-lco", "GEOMETRY_NAME=geom",
            "--config", "PG_USE_COPY", "YES"]  # fmt: skip


def _warm_up(scratch: Scratch, case: str) -> None:
    """One small file through the pipeline first: the scratch Dagster database gets its schema
    and the page cache holds the code, as on a platform that has been running."""
    small = scratch.tmp / ("warm.tif" if case == "raster" else "warm.geojson")
    if case == "raster":
        code = (
            "import sys, numpy as np, rasterio; from rasterio.transform import from_origin\n"
            "with rasterio.open(sys.argv[1], 'w', driver='GTiff', width=64, height=64, count=1,"
            " dtype='uint8', crs='EPSG:32633', transform=from_origin(400000, 5500000, 1, 1)) as d:"
            " d.write((np.arange(4096) % 251).reshape(1, 64, 64).astype('uint8'))"
        )
        subprocess.run([sys.executable, "-c", code, str(small)], check=True)
    else:
        feature = {"type": "Feature", "properties": {"a": 1},
                   "geometry": {"type": "Point", "coordinates": [1.0, 2.0]}}  # fmt: skip
        small.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    _, _, out = _run_env(scratch.ingest(small), scratch.env)
    scratch.check(out)


def _profile(py_spy: str, scratch: Scratch, src: Path, case: str) -> None:
    """One more run of ours under py-spy (collapsed stacks in bench/out/profile_<case>.txt:
    ``sort -t' ' -k2`` or a flame graph tool reads them)."""
    out = OUT / f"profile_{case}.txt"
    cmd = [py_spy, "record", "--format", "raw", "--rate", "50", "--subprocesses",
           "--nonblocking", "--idle", "--threads", "-o", str(out), "--",
           *scratch.ingest(src)]  # fmt: skip
    wall, _, _ = _run_env(cmd, scratch.env)
    print(f"  profiled run: {wall:.2f} s -> {out}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("case", choices=("points", "polygons", "raster"))
    ap.add_argument("--rows", type=int, default=0)
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--py-spy", default="", help="py-spy binary: profile one more run of ours")
    args = ap.parse_args()
    args.rows = args.rows or (1_000_000 if args.case == "points" else 200_000)
    src = _generate(args.case, args)
    print(f"input: {src} ({src.stat().st_size / 1e6:.0f} MB); {os.cpu_count()} CPUs", flush=True)
    scratch = Scratch()
    ref_label = "gdal_translate" if args.case == "raster" else "ogr2ogr"
    walls: dict[str, list[float]] = {ref_label: [], "ours": []}
    rss: dict[str, list[float]] = {ref_label: [], "ours": []}
    loads: list[float] = []
    try:
        _warm_up(scratch, args.case)
        for i in range(args.repeat):
            for label, cmd in ((ref_label, _reference(args.case, src, scratch.dsn)),
                               ("ours", scratch.ingest(src))):  # fmt: skip
                load = load_average()
                loads.append(load)
                wall, peak, stdout = _run_env(cmd, scratch.env)
                if label == "ours":
                    scratch.check(stdout)
                walls[label].append(wall)
                rss[label].append(peak)
                print(f"  round {i + 1} {label:15s} {wall:6.2f} s {peak:6.0f} MB  "
                      f"(load {load:.2f})", flush=True)  # fmt: skip
        if args.py_spy:
            _profile(args.py_spy, scratch, src, args.case)
    finally:
        scratch.close()
    report(args.case, ref_label, walls, rss, loads)


def report(
    case: str,
    ref_label: str,
    walls: dict[str, list[float]],
    rss: dict[str, list[float]],
    loads: list[float],
) -> None:
    load = f"load average {min(loads):.2f}-{max(loads):.2f} (median {statistics.median(loads):.2f})"
    print(f"\nmedian wall: {ref_label} {statistics.median(walls[ref_label]):.2f} s, "
          f"ours {statistics.median(walls['ours']):.2f} s; peak RSS ours "
          f"{max(rss['ours']):.0f} MB; {load}")  # fmt: skip
    if case == "raster":
        ratio = paired_median(walls["ours"], walls[ref_label])
        ok = ratio <= 1.8 and max(rss["ours"]) <= 1024
        print(f"raster end to end: {ratio:.2f}x gdal_translate wall (target <= 1.80x, "
              f"peak RSS <= 1024 MB) {verdict(ok)} [{load}]")  # fmt: skip
    else:
        ratio = paired_median(walls[ref_label], walls["ours"])
        print(f"{case} end to end: {ratio:.2f}x ogr2ogr throughput (target >= 1.00x) "
              f"{verdict(ratio >= 1.0)} [{load}]")  # fmt: skip


if __name__ == "__main__":
    main()
