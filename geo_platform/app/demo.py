"""`geo-platform demo`: sample data into bronze, the whole pipeline, a readable summary.

The demo makes its own small sample files (so it works on any machine) and adds a few real
files from the sample data folder (GEO_PLATFORM_SAMPLE_DATA or ``--sample-data``; by default
``../shared/testdata`` beside the checkout), including one broken file to show how failures are
reported. The summary says where it looked and how many real files it found, so a clone without
that folder does not silently publish only the synthetic files.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from geo_platform.settings import load_settings

if TYPE_CHECKING:
    from geo_platform.app.ingest import Track

REAL_SAMPLES = {
    "rasters/rgb_uint8/RGB.byte.tif": "demo/rasters/landsat",
    "rasters/dem_float32/dem-hills.tiff": "demo/rasters/dem",
    "rasters/palette/storml_tcc.tif": "demo/rasters/canopy",
    "vectors/gpkg_multilayer/ynp_features.gpkg": "demo/vectors/yellowstone",
    "vectors/shp_zip_with_prj/naturalearth_lowres.zip": "demo/vectors/world",
    "vectors/csv_latlon/airports.csv": "demo/vectors/airports",
    "rasters/corrupt/RGB.byte.truncated-50pct.tif": "demo/broken",
}
EXPECTED_FAILURES = {"demo/broken/RGB.byte.truncated-50pct.tif"}


def make_samples(folder: Path) -> Path:
    """Write synthetic sample files under ``folder`` laid out as they will be in bronze."""
    import geopandas as gpd
    import rasterio
    from rasterio.transform import from_origin
    from shapely.geometry import Point

    rdir = folder / "demo" / "rasters" / "synthetic"
    rdir.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:512, 0:512]
    bands = np.stack([(xx // 2) % 256, (yy // 2) % 256, ((xx + yy) // 4) % 256]).astype("uint8")
    profile = {"driver": "GTiff", "width": 512, "height": 512, "count": 3, "dtype": "uint8",
               "crs": "EPSG:32633", "transform": from_origin(500000, 5300000, 10, 10)}  # fmt: skip
    with rasterio.open(rdir / "gradient.tif", "w", **profile) as dst:
        dst.write(bands)
    vdir = folder / "demo" / "vectors" / "synthetic"
    vdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(42)
    pts = [
        Point(x, y) for x, y in zip(rng.uniform(5, 15, 200), rng.uniform(45, 55, 200), strict=True)
    ]
    gdf = gpd.GeoDataFrame({"value": rng.integers(0, 100, 200)}, geometry=pts, crs="EPSG:4326")
    gdf.to_file(vdir / "random_points.geojson", driver="GeoJSON")
    return folder


def collect_real_samples(folder: Path, source: Path) -> dict[str, Any]:
    """Copy the real samples found under ``source`` into ``folder``; what was found and not."""
    found, missing = [], []
    for rel, dest in REAL_SAMPLES.items():
        src = source / rel
        if not src.is_file():
            missing.append(rel)
            continue
        target = folder / dest
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target / src.name)
        found.append(rel)
    return {"dir": str(source), "exists": source.is_dir(), "found": found, "missing": missing}


def run_demo(track: Track[Any] | None = None, sample_data: Path | None = None) -> dict[str, Any]:
    """Start the services, ingest the samples with ``wait`` and summarize the outcome
    (``track`` shows the upload's progress, see ``app.ingest.Track``). Real samples come from
    ``sample_data`` (default: the GEO_PLATFORM_SAMPLE_DATA setting)."""
    from geo_platform import services
    from geo_platform.app.ingest import run_ingest

    settings = load_settings()
    services.up(settings)
    with tempfile.TemporaryDirectory(prefix="geo-demo-") as tmp:
        folder = make_samples(Path(tmp))
        samples = collect_real_samples(folder, sample_data or settings.sample_data_dir)
        results = run_ingest([folder / "demo"], "demo", wait=True, track=track)
    rows = [r.as_dict() for r in results]
    unexpected = [r for r in rows if r["status"] == "failed" and r["blob"] not in EXPECTED_FAILURES]
    status = services.status(settings)
    return {
        "sample_data": samples,
        "files": rows,
        "published": sum(r["status"] == "published" for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        "skipped": sum(r["status"] == "skipped" for r in rows),
        "unexpected_failures": unexpected,
        "dagster_ui": status.get("dagster", {}).get("ui_url"),
        "database": status.get("postgres", {}).get("url"),
        "blob_store": status.get("blob_store") or status.get("blobs"),
    }
