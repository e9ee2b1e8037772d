"""Benchmark: 1,000,000 points aggregated to H3 resolution 8, DuckDB pipeline vs geopandas.

    python bench/bench_h3_aggregate.py [--points 1000000] [--resolution 8] [--repeat 3]

Both sides read the same GeoParquet file, count points per cell, attach the cell polygons and
write the cells as GeoParquet, each in its own subprocess (Python start-up and imports included;
the in-process time is printed too), alternating runs:

- ours: ``analytics.aggregate_to_h3`` (WKB coordinates read with numpy, h3-py per point, the
  GROUP BY in DuckDB over an Arrow stream, vectorized antimeridian-safe cell polygons);
- geopandas: ``read_parquet``, ``h3.latlng_to_cell`` over the x/y arrays, ``groupby().size()``,
  ``cell_to_boundary`` polygons, ``to_parquet``.

Two inputs: points in a 1 x 0.6 degree box (a city region: about 140 points per cell) and points
spread over the globe (nearly one point per cell). The outputs are compared cell by cell.
Inputs are generated under ``bench/out/``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"

OURS = """
import sys, time
t0 = time.perf_counter()
from geo_platform.store.analytics import aggregate_to_h3
src, res, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t1 = time.perf_counter()
stats = aggregate_to_h3(src, res, out)
print(stats.cells, stats.points, time.perf_counter() - t1)
"""

GEOPANDAS = """
import sys, time
t0 = time.perf_counter()
import geopandas as gpd, h3, numpy as np, shapely
src, res, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t1 = time.perf_counter()
gdf = gpd.read_parquet(src)
f = h3.latlng_to_cell
cells = [f(y, x, res) for x, y in zip(gdf.geometry.x.tolist(), gdf.geometry.y.tolist())]
counts = gdf.assign(h3=cells).groupby("h3").size().rename("point_count").reset_index()
polys = [shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in counts.h3]
gpd.GeoDataFrame(counts, geometry=polys, crs="EPSG:4326").to_parquet(out)
print(len(counts), int(counts.point_count.sum()), time.perf_counter() - t1)
"""
from _measure import run  # noqa: E402


def generate(path: Path, n: int, box: tuple[float, float, float, float]) -> Path:
    if path.exists():
        return path
    import geopandas as gpd
    import numpy as np

    rng = np.random.default_rng(8)
    w, s, e, north = box
    # Uniform on the sphere for the global case (no pile-up at the poles).
    lat = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(s)), np.sin(np.radians(north)), n)))
    gdf = gpd.GeoDataFrame(
        {"id": np.arange(n)},
        geometry=gpd.points_from_xy(rng.uniform(w, e, n), lat),
        crs="EPSG:4326",
    )
    gdf.to_parquet(path, schema_version="1.1.0")
    return path


def same_counts(ours: Path, theirs: Path) -> bool:
    import pyarrow.parquet as pq

    a = pq.read_table(ours, columns=["h3", "point_count"]).to_pydict()
    b = pq.read_table(theirs, columns=["h3", "point_count"]).to_pydict()
    return dict(zip(a["h3"], a["point_count"], strict=True)) == dict(
        zip(b["h3"], b["point_count"], strict=True)
    )


def bench(name: str, src: Path, args: argparse.Namespace) -> None:
    ours_out, gp_out = OUT / f"agg_{name}_ours.parquet", OUT / f"agg_{name}_gpd.parquet"
    ours = [sys.executable, "-c", OURS, str(src), str(args.resolution), str(ours_out)]
    gp = [sys.executable, "-c", GEOPANDAS, str(src), str(args.resolution), str(gp_out)]
    times: dict[str, list[float]] = {"geopandas": [], "ours": []}
    inner: dict[str, list[float]] = {"geopandas": [], "ours": []}
    peak = {"geopandas": 0.0, "ours": 0.0}
    cells = 0
    for _ in range(args.repeat):
        for label, cmd in (("geopandas", gp), ("ours", ours)):
            wall, rss, stdout = run(cmd)
            n_cells, points, seconds = stdout.strip().splitlines()[-1].split()
            if int(points) != args.points:
                raise SystemExit(f"{label}: {points} points counted, expected {args.points}")
            cells = int(n_cells)
            times[label].append(wall)
            inner[label].append(float(seconds))
            peak[label] = max(peak[label], rss)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_in = {k: statistics.median(v) for k, v in inner.items()}
    print(f"\n{name}: {args.points:,} points -> {cells:,} cells at resolution {args.resolution}")
    for k in times:
        print(
            f"  {k:9s} wall {med[k]:5.2f} s (in-process {med_in[k]:5.2f} s), "
            f"peak RSS {peak[k]:5.0f} MB; runs " + ", ".join(f"{t:.2f}" for t in times[k])
        )
    print(
        f"  speed-up vs geopandas: {med['geopandas'] / med['ours']:.2f}x wall, "
        f"{med_in['geopandas'] / med_in['ours']:.2f}x in-process; "
        f"same counts per cell: {same_counts(ours_out, gp_out)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--resolution", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    inputs = {
        "regional": generate(OUT / f"pts_region_{args.points}.parquet", args.points,
                             (14.0, 49.7, 15.0, 50.3)),
        "global": generate(OUT / f"pts_global_{args.points}.parquet", args.points,
                           (-180.0, -90.0, 180.0, 90.0)),
    }  # fmt: skip
    for name, src in inputs.items():
        bench(name, src, args)


if __name__ == "__main__":
    main()
