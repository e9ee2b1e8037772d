"""Benchmark: a 40,000 x 40,000 single-band uint16 raster tiled into COGs + MosaicJSON + STAC
items, against ``gdal_translate -of COG -co NUM_THREADS=ALL_CPUS`` (Debian gdal-bin) making one
COG of the same raster, measured in the same run.

Targets (issue 5): peak memory <= 2 GB and wall time <= 1.3x the gdal_translate run.

    python bench/bench_tiling.py [--size 40000] [--tile-size 4096] [--keep]

The input (a DEM-like surface: smooth relief plus fine noise, tiled DEFLATE GeoTIFF) is made in
a child process and cached under bench/out/tiling/. Both contenders run in their own child, under
``/usr/bin/time -v`` (peak RSS of the largest process) while this script samples the summed RSS
of the child's whole process tree (the tiler uses a process pool: the sum is the honest figure).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "tiling"
GDAL_TRANSLATE = "/usr/bin/gdal_translate"


def generate(path: Path, size: int) -> None:
    """Child: write a realistic, compressible uint16 DEM-like raster strip by strip."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(42)
    x = np.arange(size, dtype="float32")
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "uint16",
        "crs": "EPSG:32632",
        "transform": from_origin(300000, 5600000, 10, 10),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "DEFLATE",
        "zlevel": 1,
        "predictor": 2,
        "bigtiff": "YES",
        "num_threads": "ALL_CPUS",
    }
    sx1, sx2, sx3 = np.sin(x / 2900.0), np.sin(x / 610.0 + 1.0), np.sin(x / 97.0)
    tmp = path.with_suffix(".partial.tif")
    with rasterio.Env(GDAL_CACHEMAX=512 * 2**20), rasterio.open(tmp, "w", **profile) as dst:
        for row in range(0, size, 512):
            h = min(512, size - row)
            y = np.arange(row, row + h, dtype="float32")[:, None]
            dem = 1800 + 900 * sx1[None, :] * np.cos(y / 3300.0)
            dem += 250 * sx2[None, :] * np.sin(y / 530.0) + 40 * sx3[None, :] * np.cos(y / 83.0)
            dem += rng.integers(0, 8, size=(h, size), dtype="uint16")
            dst.write(dem.astype("uint16")[None], window=((row, row + h), (0, size)))
    tmp.rename(path)


def ours(src: Path, out: Path, tile_size: int, visual: bool = False) -> None:
    """Child: the platform path - tiles, MosaicJSON, one STAC item per tile (all on disk); with
    ``visual`` also the visualization tier (JPEG tiles, visual MosaicJSON, thumbnail), as
    ``workflows.publish_tiled.publish_tiled`` does by default."""
    from datetime import UTC, datetime

    from geo_platform.lib.raster.mosaic import build_mosaic, sources_from_tiling
    from geo_platform.lib.raster.tiling import TilingOptions, tile_raster
    from geo_platform.lib.stac.tile_item import build_tile_item
    from geo_platform.lib.types import Provenance

    t0 = time.perf_counter()
    result = tile_raster(src, out, "bench", TilingOptions(tile_size=tile_size))
    t1 = time.perf_counter()
    mosaic = build_mosaic(sources_from_tiling(result, lambda t: str(t.path)), name="bench")
    (out / "mosaic.json").write_text(json.dumps(mosaic))
    visual_s = 0.0
    if visual:
        from geo_platform.lib.raster.tiling.visual import build_visual_tier

        tv = time.perf_counter()
        vis = build_visual_tier(result, tiling=TilingOptions(tile_size=tile_size), name="bench")
        visual_mosaic = build_mosaic(
            sources_from_tiling(result, lambda t: str(t.path)), name="bench-visual"
        )
        (out / "mosaic-visual.json").write_text(json.dumps(visual_mosaic))
        visual_s = time.perf_counter() - tv
        assert vis.skipped_reason is None and len(vis.tiles) == len(result.tiles)
    t2 = time.perf_counter()
    prov = Provenance(source_blob="bench/input.tif", source_etag="bench")
    stac = out / "stac"
    stac.mkdir(exist_ok=True)
    when = datetime(2024, 1, 1, tzinfo=UTC)
    for tile in result.tiles:
        item = build_tile_item(
            tile,
            result,
            collection_id="bench",
            href=str(tile.path),
            provenance=prov,
            when=when,
            nodata=0,
        )
        (stac / f"{tile.spec.tile_id}.json").write_text(json.dumps(item))
    t3 = time.perf_counter()
    print(
        json.dumps(
            {
                "tiles": len(result.tiles),
                "tiling_s": round(t1 - t0, 2),
                "mosaic_s": round(t2 - t1 - visual_s, 2),
                "visual_tier_s": round(visual_s, 2),
                "stac_s": round(t3 - t2, 2),
                "quadkeys": len(mosaic["tiles"]),
            }
        )
    )


def _tree_rss(root: int) -> int:
    """Summed RSS (bytes) of ``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def measure(cmd: list[str], label: str) -> dict[str, float | str]:
    """Run ``cmd`` under /usr/bin/time -v; wall time, max single-process RSS, peak tree RSS."""
    peak = [0]
    start = time.perf_counter()
    proc = subprocess.Popen(
        ["/usr/bin/time", "-v", *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"{label} failed ({proc.returncode}):\n{stderr[-3000:]}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    max_rss = int(match.group(1)) * 1024 if match else 0
    return {
        "label": label,
        "wall_s": round(wall, 2),
        "max_process_rss_mb": max_rss // 2**20,
        "peak_tree_rss_mb": peak[0] // 2**20,
        "stdout": stdout.strip()[-500:],
    }


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=40_000)
    parser.add_argument("--tile-size", type=int, default=4096)
    parser.add_argument("--keep", action="store_true", help="keep the outputs")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "generate":
            generate(Path(rest[0]), int(rest[1]))
        else:
            ours(Path(rest[0]), Path(rest[1]), int(rest[2]), visual=kind == "ours-visual")
        return
    OUT.mkdir(parents=True, exist_ok=True)
    src = OUT / f"input_{args.size}.tif"
    me = [sys.executable, str(Path(__file__).resolve()), "--child"]
    if not src.exists():
        gen = measure([*me, "generate", str(src), str(args.size)], "generate input")
        print(f"generated {src.name} in {gen['wall_s']} s ({src.stat().st_size / 2**20:.0f} MB)")
    ref_out, tiles_out = OUT / "reference_cog.tif", OUT / "tiles"
    ref_out.unlink(missing_ok=True)
    shutil.rmtree(tiles_out, ignore_errors=True)
    ref = measure(
        [GDAL_TRANSLATE, "-q", "-of", "COG", "-co", "NUM_THREADS=ALL_CPUS", str(src), str(ref_out)],
        "gdal_translate -of COG -co NUM_THREADS=ALL_CPUS",
    )
    mine = measure(
        [*me, "ours", str(src), str(tiles_out), str(args.tile_size)], "tiles+mosaic+stac"
    )
    shutil.rmtree(tiles_out, ignore_errors=True)
    full = measure(
        [*me, "ours-visual", str(src), str(tiles_out), str(args.tile_size)],
        "tiles+visual tier+mosaics+stac (platform default)",
    )
    print(f"input: {args.size} x {args.size} uint16, {src.stat().st_size / 2**20:.0f} MB on disk")
    for row in (ref, mine, full):
        print(
            f"  {row['label']:<50} wall {row['wall_s']:>7} s   max process RSS "
            f"{row['max_process_rss_mb']:>5} MB   peak tree RSS {row['peak_tree_rss_mb']:>5} MB"
        )
    print(f"  ours: {mine['stdout']}")
    print(f"  ours with the visual tier: {full['stdout']}")
    print(
        f"  output sizes: reference {ref_out.stat().st_size / 2**20:.0f} MB, "
        f"tiles (+ visual) {_dir_size(tiles_out) / 2**20:.0f} MB"
    )
    for row in (mine, full):
        ratio = row["wall_s"] / ref["wall_s"]  # type: ignore[operator]
        print(f"wall ratio {row['label']} / gdal_translate = {ratio:.2f} (target <= 1.3)")
        print(f"peak tree RSS {row['label']} = {row['peak_tree_rss_mb']} MB (target <= 2048)")
    if not args.keep:
        ref_out.unlink(missing_ok=True)
        shutil.rmtree(tiles_out, ignore_errors=True)


if __name__ == "__main__":
    main()
