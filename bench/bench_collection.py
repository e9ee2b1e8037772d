"""Benchmark: a raster collection of 200 tiles (256 x 256, uint16) in five UTM zones, reprojected
to EPSG:3857 and mosaicked in ONE Dagster run of ``raster_collection`` (COG + STAC item per
file, MosaicJSON, pgstac items + collection mosaic asset + mosaic search). Then one new file is
added and the collection re-run (incremental: one COG, mosaic updated in place).

Reference measured in the same run: a shell-free loop of Debian ``gdalwarp -t_srs EPSG:3857
-of COG`` over the same 200 files (reprojected COGs only: no STAC, no mosaic, no catalog).

    python bench/bench_collection.py [--files 200]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import dagster as dg
import numpy as np
import psycopg
import rasterio
from rasterio.transform import from_origin

from geo_platform import services
from geo_platform.defs.collections.assets import raster_collection
from geo_platform.defs.collections.partitions import raster_collection_partitions
from geo_platform.lib.raster.collection import collection_id_for, partition_key
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource
from geo_platform.settings import load_settings

ZONES = (31, 32, 33, 34, 35)


def make_files(folder: Path, count: int) -> list[Path]:
    """``count`` 256 x 256 uint16 scenes spread over five UTM zones at about 48 N."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:256, 0:256]
    out = []
    for i in range(count):
        zone = ZONES[i % len(ZONES)]
        k = i // len(ZONES)
        data = (1000 + 300 * np.sin((x + 7 * i) / 40.0) * np.cos(y / 30.0)).astype("uint16")
        data += rng.integers(0, 4, data.shape, dtype="uint16")
        path = folder / f"z{zone}_{i:04d}.tif"
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=256,
            height=256,
            count=1,
            dtype="uint16",
            crs=f"EPSG:326{zone}",
            nodata=0,
            transform=from_origin(400000 + (k % 8) * 25600, 5400000 - (k // 8) * 25600, 100, 100),
        ) as dst:
            dst.write(data[None])
        out.append(path)
    return out


def reference(files: list[Path], out: Path) -> float:
    out.mkdir()
    start = time.perf_counter()
    for f in files:
        subprocess.run(
            [
                "/usr/bin/gdalwarp",
                "-q",
                "-t_srs",
                "EPSG:3857",
                "-of",
                "COG",
                "-co",
                "COMPRESS=DEFLATE",
                "-co",
                "PREDICTOR=2",
                str(f),
                str(out / f.name),
            ],
            check=True,
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    dsn = services.ensure_postgres(load_settings())
    with tempfile.TemporaryDirectory(prefix="bench-collection-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "src").mkdir()
        files = make_files(tmp / "src", args.files)
        ref = reference(files, tmp / "ref")
        store = LocalBlobStore(root=str(tmp / "blobs"))
        for c in ("bronze", "silver"):
            store.ensure_container(c)
        prefix = f"bench{uuid.uuid4().hex[:6]}/scenes/"
        for f in files:
            store.upload_file("bronze", prefix + f.name, f)
        store.upload_bytes("bronze", prefix + "_collection.json", b'{"target_crs": "EPSG:3857"}')
        resources = {
            "blob_store": store,
            "pgstac": PgSTACResource(database_url=dsn),
            "platform": PlatformResource(),
        }
        key = partition_key(prefix)
        try:
            with dg.instance_for_test() as inst:
                inst.add_dynamic_partitions(raster_collection_partitions.name, [key])
                start = time.perf_counter()
                res = dg.materialize(
                    [raster_collection], partition_key=key, instance=inst, resources=resources
                )
                full = time.perf_counter() - start
                meta = res.asset_materializations_for_node("raster_collection")[0].metadata
                extra = make_files(tmp / "src", args.files + 1)[-1]
                store.upload_file("bronze", prefix + "new_" + extra.name, extra)
                start = time.perf_counter()
                res2 = dg.materialize(
                    [raster_collection], partition_key=key, instance=inst, resources=resources
                )
                incr = time.perf_counter() - start
                meta2 = res2.asset_materializations_for_node("raster_collection")[0].metadata
        finally:
            with psycopg.connect(dsn) as conn:
                conn.execute("SELECT pgstac.delete_collection(%s)", (collection_id_for(prefix),))
                conn.commit()
    print(f"{args.files} files of 256x256 uint16 in UTM zones {ZONES} -> EPSG:3857")
    print(f"  reference loop gdalwarp -of COG (COGs only)       {ref:7.2f} s")
    print(
        f"  raster_collection, one run (COGs+items+mosaic+pgstac) {full:7.2f} s "
        f"(built {meta['built'].value}, quadkeys {meta['mosaic_quadkeys'].value}, "
        f"mode {meta['mosaic_mode'].value})"
    )
    print(f"  ratio one run / gdalwarp loop = {full / ref:.2f}")
    print(
        f"  +1 file, incremental re-run                        {incr:7.2f} s "
        f"(built {meta2['built'].value}, unchanged {meta2['unchanged'].value}, "
        f"mode {meta2['mosaic_mode'].value})"
    )


if __name__ == "__main__":
    main()
