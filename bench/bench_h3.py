"""Benchmark: the global H3 resolution-4 grid (288,122 cells) generated and loaded into PostGIS.

    python bench/bench_h3.py [--resolution 4] [--repeat 3] [--dsn URL] [--format gpkg|fgb]

Measured in the same run, on the same server, each step in its own subprocess (wall time and
peak RSS from ``wait4``, Python start-up and imports included), alternating runs so that
background load hits both alike:

- reference: h3-py + geopandas build the cells (h3 string and integer, resolution, parent,
  center lon/lat, and the ``cell_to_boundary`` polygon) and write a GeoPackage (or FlatGeobuf);
  then ``ogr2ogr -f PostgreSQL --config PG_USE_COPY YES`` loads it (GiST index included);
- ours: ``h3grid.build_grid`` + ``h3_postgis.load_grid`` (binary COPY into a staging table,
  primary key, unique index, GiST index, ANALYZE, swap), with antimeridian-safe MultiPolygons.

Target (issue 6): ours <= 0.7x the reference time, with valid geometries throughout. After the
runs PostGIS itself reports, for both tables, the row count, ``ST_IsValid`` failures and polygon
parts spanning more than 180 degrees of longitude. Tables go to a scratch schema ``bench_h3``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
OGR2OGR = "/usr/bin/ogr2ogr"
SCHEMA = "bench_h3"

REFERENCE = """
import sys, time
t0 = time.perf_counter()
import geopandas as gpd, h3, shapely
res, path, driver = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cells = [c for base in h3.get_res0_cells() for c in h3.cell_to_children(base, res)]
centers = [h3.cell_to_latlng(c) for c in cells]
gdf = gpd.GeoDataFrame(
    {
        "h3": cells,
        "h3_int": [h3.str_to_int(c) for c in cells],
        "resolution": res,
        "parent": [h3.cell_to_parent(c, res - 1) if res else None for c in cells],
        "center_lng": [lng for _, lng in centers],
        "center_lat": [lat for lat, _ in centers],
    },
    geometry=[shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in cells],
    crs="EPSG:4326",
)
gdf.to_file(path, driver=driver, engine="pyogrio")
print(len(gdf), time.perf_counter() - t0)
"""

OURS = """
import sys, time
t0 = time.perf_counter()
import psycopg
from geo_platform.lib.h3.grid import build_grid
from geo_platform.store.h3_postgis import load_grid
dsn, res, schema = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t1 = time.perf_counter()
grid = build_grid(res)
t2 = time.perf_counter()
with psycopg.connect(dsn) as conn:
    load_grid(conn, grid.table, schema=schema, name="our_cells")
    conn.commit()
t3 = time.perf_counter()
print(grid.num_cells, t1 - t0, t2 - t1, t3 - t2)
"""
from _measure import pg_connstring, run  # noqa: E402


def table_facts(dsn: str) -> dict[str, tuple[int, int, int]]:
    """(rows, invalid, parts wider than 180 degrees) of both tables, computed by PostGIS."""
    import psycopg

    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in ("ref_cells", "our_cells"):
            row = conn.execute(
                f"""SELECT count(*), count(*) FILTER (WHERE NOT ST_IsValid(geom)),
                           (SELECT count(*) FROM {SCHEMA}.{table}, LATERAL ST_Dump(geom) d
                            WHERE ST_XMax(d.geom) - ST_XMin(d.geom) > 180)
                    FROM {SCHEMA}.{table}"""
            ).fetchone()
            assert row is not None
            out[table] = (int(row[0]), int(row[1]), int(row[2]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--resolution", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dsn", default="")
    ap.add_argument("--format", choices=["gpkg", "fgb"], default="gpkg")
    args = ap.parse_args()

    sys.path.insert(0, str(REPO))
    import psycopg

    from geo_platform.settings import load_settings

    dsn = args.dsn or load_settings().database_url
    OUT.mkdir(exist_ok=True)
    driver = {"gpkg": "GPKG", "fgb": "FlatGeobuf"}[args.format]
    path = OUT / f"h3_res{args.resolution}.{args.format}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
    build = [sys.executable, "-c", REFERENCE, str(args.resolution), str(path), driver]
    ogr = [
        OGR2OGR, "-f", "PostgreSQL", pg_connstring(dsn), str(path), "-nln", f"{SCHEMA}.ref_cells",
        "-lco", "OVERWRITE=YES", "-lco", "GEOMETRY_NAME=geom", "--config", "PG_USE_COPY", "YES",
    ]  # fmt: skip
    ours = [sys.executable, "-c", OURS, dsn, str(args.resolution), SCHEMA]
    ref_times: list[float] = []
    our_times: list[float] = []
    peaks = {"reference": 0.0, "ours": 0.0}
    for i in range(args.repeat):
        path.unlink(missing_ok=True)
        w_build, rss_build, _ = run(build)
        w_ogr, rss_ogr, _ = run(ogr)
        ref_times.append(w_build + w_ogr)
        peaks["reference"] = max(peaks["reference"], rss_build, rss_ogr)
        w_ours, rss_ours, out_ours = run(ours)
        our_times.append(w_ours)
        peaks["ours"] = max(peaks["ours"], rss_ours)
        _, imp, gen, load = out_ours.split()
        print(
            f"run {i + 1}: reference {ref_times[-1]:5.2f} s (h3-py+geopandas+{args.format} "
            f"{w_build:.2f} s, ogr2ogr {w_ogr:.2f} s) | ours {w_ours:5.2f} s (imports "
            f"{float(imp):.2f}, generate {float(gen):.2f}, load {float(load):.2f}) "
            f"ratio {w_ours / ref_times[-1]:.2f}x"
        )
    facts = table_facts(dsn)
    print("\nPostGIS (rows, invalid, parts spanning > 180 deg):")
    for table, (rows, invalid, wide) in facts.items():
        print(f"  {table:10s} rows {rows:,}  invalid {invalid}  wide parts {wide}")
    ref, ours_med = statistics.median(ref_times), statistics.median(our_times)
    print(
        f"\nmedian: reference {ref:.2f} s, ours {ours_med:.2f} s -> ours/reference "
        f"{ours_med / ref:.2f}x (target <= 0.70x); per run "
        + ", ".join(f"{o / r:.2f}x" for o, r in zip(our_times, ref_times, strict=True))
    )
    print(f"peak RSS: reference {peaks['reference']:.0f} MB, ours {peaks['ours']:.0f} MB")
    ok = facts["our_cells"][1] == 0 and facts["our_cells"][2] <= 2  # only the polar caps
    print("our geometries: " + ("all valid (ST_IsValid), only the 2 polar caps span > 180 deg"
                                if ok else "PROBLEM"))  # fmt: skip
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
