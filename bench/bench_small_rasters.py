"""Benchmark reference: many small rasters through a plain Python loop (no Dagster).

    python bench/bench_small_rasters.py [--count 500] [--size 256]

Generates ``count`` small GeoTIFFs (``size`` x ``size``; a mix of 3-band uint8 imagery with
nodata, float32 elevation and palette land cover, each at a different place) under
``bench/out/small_rasters/``, then times the reference the Dagster pipeline is compared with:
for each file, ``build_cog_tiers`` (three validated COG tiers + thumbnail) plus a pystac item
(``build_raster_item``). The Dagster side (sensor/backfill into pgstac) is added by the wiring
benchmark (``bench_small_rasters_pipeline.py``), which imports ``generate`` and ``python_loop``
from here; the target (issue 18) is that the pipeline stays within 1.6x of this loop.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from geo_platform.lib.raster.cog import RasterOptions, build_cog_tiers  # noqa: E402
from geo_platform.lib.stac.raster_item import build_raster_item  # noqa: E402
from geo_platform.lib.types import Provenance  # noqa: E402

OUT = HERE / "out"


def generate(folder: Path, count: int, size: int = 256) -> list[Path]:
    """Write ``count`` small rasters (idempotent: existing files are reused)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:size, 0:size].astype("float32")
    palette = {i: (i * 37 % 256, i * 91 % 256, i * 53 % 256, 255) for i in range(16)}
    paths = []
    for i in range(count):
        kind = ("rgb", "dem", "landcover")[i % 3]
        path = folder / f"{kind}_{i:05d}.tif"
        paths.append(path)
        if path.exists():
            continue
        west, north = 300000 + (i % 40) * size * 10, 5200000 - (i // 40) * size * 10
        profile = {
            "driver": "GTiff",
            "width": size,
            "height": size,
            "crs": "EPSG:32632",
            "transform": from_origin(west, north, 10, 10),
        }
        wave = np.sin((xx + i) / 23.0) * np.cos((yy - i) / 31.0)
        if kind == "rgb":
            data = np.stack([np.clip(120 + 90 * wave + 20 * b, 1, 255) for b in range(3)])
            data = data.astype("uint8")
            data[:, : size // 8, : size // 8] = 0  # a nodata corner
            profile.update(count=3, dtype="uint8", nodata=0)
        elif kind == "dem":
            data = (500 + 300 * wave + rng.normal(0, 2, wave.shape))[None].astype("float32")
            profile.update(count=1, dtype="float32", nodata=-9999.0)
        else:
            data = ((wave + 1) * 7.5).astype("uint8")[None]
            profile.update(count=1, dtype="uint8")
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
            if kind == "landcover":
                dst.write_colormap(1, palette)
    return paths


def python_loop(
    files: list[Path],
    out_root: Path,
    options: RasterOptions | None = None,
    *,
    validate_stac: bool = False,
) -> float:
    """COG tiers + pystac item per file, one after another; returns wall seconds.

    The COGs are always validated (``cog_validate`` is part of ``build_cog_tiers``); the offline
    JSON-schema validation of the item (about 50 ms each) only with ``validate_stac``.
    """
    options = options or RasterOptions()
    start = time.perf_counter()
    for path in files:
        out = out_root / path.stem
        result = build_cog_tiers(path, out, options, f"bronze/small/{path.name}")
        hrefs = {k: f"silver/{path.stem}/{k}.tif" for k in result.published()}
        hrefs["thumbnail"] = f"silver/{path.stem}/thumbnail.png"
        item = build_raster_item(
            result,
            item_id=path.stem,
            collection_id="small",
            hrefs=hrefs,
            provenance=Provenance(source_blob=f"small/{path.name}", source_etag="bench"),
            validate=validate_stac,
        )
        (out / "item.json").write_text(json.dumps(item.to_dict()))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--validate-stac", action="store_true", help="also schema-validate items")
    args = parser.parse_args()
    files = generate(OUT / "small_rasters", args.count, args.size)
    out_root = OUT / "small_rasters_out"
    shutil.rmtree(out_root, ignore_errors=True)
    seconds = python_loop(files, out_root, validate_stac=args.validate_stac)
    what = "validated STAC item" if args.validate_stac else "STAC item"
    print(
        f"plain Python loop: {len(files)} rasters of {args.size}x{args.size}, "
        f"3 COG tiers + thumbnail + {what} each: {seconds:.2f} s "
        f"({1000 * seconds / len(files):.1f} ms per file, {len(files) / seconds:.1f} files/s)"
    )


if __name__ == "__main__":
    main()
