"""Benchmark: COG tiers of a 10,000 x 10,000 x 3 uint8 raster against the reference tools.

    python bench/bench_cog.py [--size 10000] [--repeat 3]

Measured in the same run, each in its own subprocess (wall time and peak RSS from ``wait4``):

- ``gdal_translate -of COG -co COMPRESS=DEFLATE -co NUM_THREADS=ALL_CPUS`` (Debian gdal-bin),
- ``rio cogeo create --cog-profile deflate`` (rio-cogeo from the venv),
- our analysis tier alone (``build_cog_tiers`` with ``tiers=("analysis",)``: includes inspection,
  statistics, footprint, thumbnail and checksum),
- our three tiers plus the validated STAC item written to JSON.

Targets (issue 3): analysis <= 1.1x gdal_translate wall time and <= 1 GB peak RSS; (issue 18)
all three tiers + STAC item <= 1.6x gdal_translate, peak RSS <= 1 GB. Ratios are the median over
rounds of the ratio within a round; the 1-minute load average is printed beside every figure.
The input is generated window by window under ``bench/out/`` (smooth gradients plus +-3 noise:
compressible like real imagery, not random).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
GDAL_TRANSLATE = "/usr/bin/gdal_translate"
RIO = str(Path(sys.executable).with_name("rio"))


def generate(path: Path, size: int) -> Path:
    """Write the benchmark GeoTIFF (uncompressed, striped, pixel interleaved) window by window."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    if path.exists():
        return path
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:32633",
        "transform": from_origin(400000, 5500000, 1.0, 1.0),
    }
    rng = np.random.default_rng(42)
    x = np.arange(size, dtype=np.float32)
    tmp = path.with_suffix(".partial.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        for row in range(0, size, 500):
            rows = min(500, size - row)
            y = np.arange(row, row + rows, dtype=np.float32)[:, None]
            base = 100 + 60 * np.sin(x / 700.0)[None, :] * np.cos(y / 900.0)
            base = base + 40 * np.sin((x[None, :] + y) / 2500.0)
            for band in range(3):
                noise = rng.integers(-3, 4, size=(rows, size), dtype=np.int16)
                data = np.clip(base * (0.8 + 0.15 * band) + noise, 0, 255).astype("uint8")
                dst.write(data, band + 1, window=Window(0, row, size, rows))
    tmp.rename(path)
    return path


@dataclass(frozen=True)
class Run:
    """One measured run: wall seconds, CPU seconds (user + sys) and peak RSS in MB."""

    wall: float
    cpu: float
    rss: float


def run(cmd: list[str]) -> Run:
    """Run ``cmd`` in a subprocess and measure it with ``wait4`` (its own rusage)."""
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the tree this script is in, not the venv's
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{stderr[-2000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def worker(mode: str, src: Path, out: Path) -> None:
    """Our side, run in a subprocess: the analysis tier alone, or all tiers plus the item."""
    from geo_platform.lib.raster.cog import RasterOptions, build_cog_tiers
    from geo_platform.lib.stac.raster_item import build_raster_item
    from geo_platform.lib.types import Provenance

    tiers = ("analysis",) if mode == "analysis" else ("analysis", "visualization", "archive")
    result = build_cog_tiers(src, out, RasterOptions(tiers=tiers), f"bench/{src.name}")
    if mode == "all":
        hrefs = {k: f"{k}.tif" for k in result.published()} | {"thumbnail": "thumbnail.png"}
        item = build_raster_item(
            result,
            item_id="bench",
            collection_id="bench",
            hrefs=hrefs,
            provenance=Provenance(source_blob=src.name, source_etag="bench"),
        )
        (out / "item.json").write_text(json.dumps(item.to_dict()))
    (out / "timings.json").write_text(json.dumps(result.timings))


def output_size(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", nargs=3, metavar=("MODE", "SRC", "OUT"))
    args = parser.parse_args()
    if args.worker:
        mode, src, out = args.worker
        worker(mode, Path(src), Path(out))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    src = generate(OUT / f"cog_src_{args.size}.tif", args.size)
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    me = [sys.executable, str(Path(__file__).resolve()), "--worker"]
    cases = {
        "gdal_translate COG DEFLATE": (
            [
                GDAL_TRANSLATE,
                "-q",
                "-of",
                "COG",
                "-co",
                "COMPRESS=DEFLATE",
                "-co",
                "NUM_THREADS=ALL_CPUS",
                str(src),
                str(OUT / "ref_gdal.tif"),
            ],
            OUT / "ref_gdal.tif",
        ),
        "rio cogeo create (deflate)": (
            [
                RIO,
                "cogeo",
                "create",
                "--cog-profile",
                "deflate",
                "-q",
                str(src),
                str(OUT / "ref_rio.tif"),
            ],
            OUT / "ref_rio.tif",
        ),
        "ours: analysis tier": (
            [*me, "analysis", str(src), str(OUT / "ours_analysis")],
            OUT / "ours_analysis",
        ),
        "ours: 3 tiers + STAC item": (
            [*me, "all", str(src), str(OUT / "ours_all")],
            OUT / "ours_all",
        ),
    }
    results: dict[str, list[Run]] = {k: [] for k in cases}
    sizes: dict[str, float] = {}
    loads: list[float] = []
    for rep in range(args.repeat):
        for label, (cmd, target) in cases.items():
            if target.is_dir():
                shutil.rmtree(target)
            target.unlink(missing_ok=True)
            loads.append(os.getloadavg()[0])
            results[label].append(run(cmd))
            sizes[label] = output_size(target)
            last = results[label][-1]
            print(
                f"  run {rep + 1}/{args.repeat} {label}: {last.wall:.2f} s {last.rss:.0f} MB "
                f"(load {loads[-1]:.2f})",
                flush=True,
            )
    report(results, sizes, src, args.size, loads)


def _paired(results: dict[str, list[Run]], label: str, ref: str, attr: str = "wall") -> float:
    """Median over rounds of (ours / reference of the same round): robust to load drifting."""
    pairs = zip(results[label], results[ref], strict=True)
    return statistics.median(getattr(o, attr) / getattr(r, attr) for o, r in pairs)


def report(
    results: dict[str, list[Run]], sizes: dict[str, float], src: Path, size: int, loads: list[float]
) -> None:
    ref_label = "gdal_translate COG DEFLATE"
    load = f"load average {min(loads):.2f}-{max(loads):.2f} (median {statistics.median(loads):.2f})"
    print(
        f"\n{size}x{size}x3 uint8, source {src.stat().st_size / 2**20:.0f} MiB, "
        f"{os.cpu_count()} CPUs; load average now {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'case':28} {'wall med':>9} {'wall min':>9} {'CPU med':>9} {'peak RSS':>9} "
        f"{'output':>9} {'wall/gdal':>9} {'CPU/gdal':>9}"
    )
    for label, runs in results.items():
        wall_ratio = _paired(results, label, ref_label)
        cpu_ratio = _paired(results, label, ref_label, "cpu")
        print(
            f"{label:28} {statistics.median(r.wall for r in runs):7.2f} s "
            f"{min(r.wall for r in runs):7.2f} s {statistics.median(r.cpu for r in runs):7.2f} s "
            f"{max(r.rss for r in runs):6.0f} MB {sizes[label]:5.0f} MiB "
            f"{wall_ratio:8.2f}x {cpu_ratio:8.2f}x"
        )
    timings = json.loads((OUT / "ours_all" / "timings.json").read_text())
    print(f"\nstep timings of the last 3-tier run (s): {timings}")
    print("ratios: median over rounds of ours / gdal_translate of the same round")
    analysis = _paired(results, "ours: analysis tier", ref_label)
    both = _paired(results, "ours: 3 tiers + STAC item", ref_label)
    rss = max(r.rss for r in results["ours: analysis tier"])
    rss_all = max(r.rss for r in results["ours: 3 tiers + STAC item"])
    print(
        f"analysis tier: {analysis:.2f}x gdal_translate wall (target <= 1.10x) "
        f"{'PASS' if analysis <= 1.1 else 'FAIL'}; peak {rss:.0f} MB (target <= 1024 MB) "
        f"{'PASS' if rss <= 1024 else 'FAIL'} [{load}]"
    )
    print(
        f"3 tiers + STAC item: {both:.2f}x gdal_translate wall (target <= 1.60x), peak "
        f"{rss_all:.0f} MB (target <= 1024 MB) "
        f"{'PASS' if both <= 1.6 and rss_all <= 1024 else 'FAIL'} [{load}]"
    )
    rio = _paired(results, "ours: analysis tier", "rio cogeo create (deflate)")
    print(f"ours analysis tier vs rio cogeo create: {rio:.2f}x wall")


if __name__ == "__main__":
    main()
