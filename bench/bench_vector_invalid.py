"""Benchmark: 100,000 polygons of which 5% are invalid (bow-ties) into PostGIS, all valid.

    python bench/bench_vector_invalid.py [--rows 100000] [--repeat 3] [--dsn URL]

Each run in its own subprocess (wall time and peak RSS from ``wait4``), on the same file and
server:

- our loader (``publish_vector_file(..., parquet_dir=None)``): repairs the bow-ties with
  ``make_valid(method="structure")`` keeping polygons, promotes to MultiPolygon, loads;
- reference: ``ogr2ogr -makevalid -nlt PROMOTE_TO_MULTI --config PG_USE_COPY YES`` (Debian
  gdal-bin), for scale.

Checked in PostGIS afterwards: every row loaded, ``ST_IsValid`` everywhere, one geometry type.
The input GeoPackage (EPSG:4326 squares and bow-ties, an int and a text column) is generated
under ``bench/out/``; tables go to a scratch schema that is dropped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_vector_load import OGR2OGR, OUT, REPO, pg_connstring, run  # noqa: E402

SCHEMA = "bench_vector_invalid"
OUR_LOADER = """
import sys, time
from pathlib import Path
import psycopg
from geo_platform.store.vector_load import publish_vector_file
dsn, path, schema, table = sys.argv[1:5]
start = time.perf_counter()
with psycopg.connect(dsn, autocommit=True) as conn:
    (t,) = publish_vector_file(conn, Path(path), source_name=path, schema=schema,
                               table_base=table, parquet_dir=None)
print(t.rows_read, t.rows_loaded, t.repaired, t.invalid_dropped, time.perf_counter() - start)
"""


def generate(path: Path, rows: int, invalid_share: float = 0.05) -> Path:
    """Small squares on a grid; every 20th is a bow-tie (self-intersecting) instead."""
    import geopandas as gpd
    import numpy as np
    import shapely

    if path.exists():
        return path
    side = int(np.ceil(np.sqrt(rows)))
    i = np.arange(rows)
    x0 = -170 + (i % side) * (340 / side)
    y0 = -80 + (i // side) * (160 / side)
    d = 0.8 * min(340, 160) / side

    def ring(*corners: tuple[float, float]) -> np.ndarray:  # (rows, len(corners), 2)
        return np.stack([np.stack([x0 + dx * d, y0 + dy * d], axis=-1) for dx, dy in corners], 1)

    square = ring((0, 0), (1, 0), (1, 1), (0, 1), (0, 0))
    bowtie = ring((0, 0), (1, 1), (1, 0), (0, 1), (0, 0))
    bad = (i % round(1 / invalid_share)) == 0
    rings = np.where(bad[:, None, None], bowtie, square)  # (rows, 5, 2)
    geoms = shapely.polygons(rings)
    df = gpd.GeoDataFrame(
        {"id_int": i, "name": [f"parcel {k}" for k in i]}, geometry=geoms, crs="EPSG:4326"
    )
    tmp = path.with_name("partial_" + path.name)
    df.to_file(tmp, layer="parcels", engine="pyogrio", use_arrow=True, geometry_type="Polygon")
    tmp.rename(path)
    return path


def check(dsn: str, table: str) -> tuple[int, int, list[str]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT count(*), count(*) FILTER (WHERE NOT ST_IsValid(geom)), "
            f"array_agg(DISTINCT GeometryType(geom)) FROM {SCHEMA}.{table}"
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
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
    src = OUT / f"polygons_{args.rows}_5pct_invalid.gpkg"
    if not src.exists():
        gen = [sys.executable, __file__, "--rows", str(args.rows), "--generate-only", str(src)]
        subprocess.run(gen, check=True)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
    ours = [sys.executable, "-c", OUR_LOADER, dsn, str(src), SCHEMA, "our_parcels"]
    ogr = [
        OGR2OGR, "-f", "PostgreSQL", pg_connstring(dsn), str(src), "-nln", f"{SCHEMA}.ogr_parcels",
        "-lco", "OVERWRITE=YES", "-lco", "GEOMETRY_NAME=geom", "-makevalid",
        "-nlt", "PROMOTE_TO_MULTI", "--config", "PG_USE_COPY", "YES",
    ]  # fmt: skip
    times: dict[str, list[float]] = {"ours": [], "ogr2ogr -makevalid": []}
    peak: dict[str, float] = {}
    inner: list[float] = []
    for i in range(args.repeat):
        for name, cmd in (("ours", ours), ("ogr2ogr -makevalid", ogr)):
            wall, rss, stdout = run(cmd)
            if name == "ours":
                inner.append(float(stdout.split()[-1]))
            times[name].append(wall)
            peak[name] = max(peak.get(name, 0.0), rss)
            rate = args.rows / wall
            print(f"  run {i + 1} {name:18s} {wall:6.2f} s {rate:9,.0f} rows/s {rss:5.0f} MB")
    counts = subprocess.run(ours, capture_output=True, text=True, check=True, cwd=REPO)
    read, loaded, repaired, dropped = map(int, counts.stdout.split()[:4])
    ours_db, ogr_db = check(dsn, "our_parcels"), check(dsn, "ogr_parcels")
    print(f"\nours: read {read}, loaded {loaded}, repaired {repaired}, dropped {dropped}")
    print(f"PostGIS ours:    rows={ours_db[0]} invalid={ours_db[1]} types={ours_db[2]}")
    print(f"PostGIS ogr2ogr: rows={ogr_db[0]} invalid={ogr_db[1]} types={ogr_db[2]}")
    for name, values in times.items():
        med = statistics.median(values)
        rate = args.rows / med
        print(f"{name:18s} median {med:6.2f} s ({rate:,.0f} rows/s), peak {peak[name]:.0f} MB")
    ratio = statistics.median(times["ogr2ogr -makevalid"]) / statistics.median(times["ours"])
    print(f"throughput ratio ours/ogr2ogr -makevalid: {ratio:.2f}x")
    in_proc = statistics.median(inner)
    print(
        f"ours in-process (after Python start-up and imports): {in_proc:.2f} s, ratio "
        f"{statistics.median(times['ogr2ogr -makevalid']) / in_proc:.2f}x"
    )
    ok = ours_db[0] == args.rows and ours_db[1] == 0 and len(ours_db[2]) == 1
    print("all loaded and valid:", "YES" if ok else "NO")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
