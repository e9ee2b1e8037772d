"""Helpers of the Azure-profile suite (``test_azure_profile.py``): input files made here, uploads
with the Azure SDK, polling with deadlines, anonymous reads and tile URLs."""

from __future__ import annotations

import math
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import morecantile
import numpy as np
import psycopg
import rasterio
from azure.storage.blob import BlobServiceClient
from rasterio.transform import from_bounds
from shapely.geometry import Point, box

from geo_platform.settings import REPO_ROOT
from geo_platform.store import pgstac
from geo_platform.store.catalog import items_of_source

T = TypeVar("T")


def gradient_tif(path: Path, width: int, height: int, bounds: tuple[float, ...]) -> Path:
    """A 3-band uint8 GeoTIFF in EPSG:4326 over ``bounds`` with gradients (tiles are not flat)."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    red = np.broadcast_to(x, (height, width))
    green = np.broadcast_to(y, (height, width))
    blue = (red + green) / 2
    data = np.stack([red, green, blue]).astype(np.uint8)
    profile = {
        "driver": "GTiff", "width": width, "height": height, "count": 3, "dtype": "uint8",
        "crs": "EPSG:4326", "transform": from_bounds(*bounds, width, height),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def two_layer_gpkg(path: Path) -> Path:
    """A GeoPackage with two layers: ``sites`` (5 points) and ``zones`` (2 polygons)."""
    sites = gpd.GeoDataFrame(
        {"name": [f"site {i}" for i in range(5)], "rank": list(range(5))},
        geometry=[Point(7.0 + 0.1 * i, 46.0 + 0.05 * i) for i in range(5)],
        crs="EPSG:4326",
    )
    zones = gpd.GeoDataFrame(
        {"zone": ["north", "south"]},
        geometry=[box(7.0, 46.2, 7.5, 46.5), box(7.0, 45.8, 7.5, 46.1)],
        crs="EPSG:4326",
    )
    sites.to_file(path, layer="sites", driver="GPKG", engine="pyogrio")
    zones.to_file(path, layer="zones", driver="GPKG", engine="pyogrio", append=False)
    return path


def upload(service: BlobServiceClient, container: str, path: str, data: Path | bytes) -> None:
    """Upload like any Azure client would (the SDK, no platform code)."""
    blob = service.get_blob_client(container, path)
    if isinstance(data, bytes):
        blob.upload_blob(data, overwrite=True)
        return
    with data.open("rb") as fh:
        blob.upload_blob(fh, overwrite=True)


def anonymous_status(url: str) -> int:
    """HTTP status of a GET without any credential."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def get(url: str, timeout: float = 60) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return int(resp.status), resp.headers.get("content-type", ""), resp.read()


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    deadline: float,
    alive: Callable[[], None] | None = None,
    every: float = 2.0,
) -> T:
    """``probe()`` until it returns something truthy or ``deadline`` (monotonic) passes."""
    while True:
        if alive is not None:
            alive()
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def source_items(dsn: str, blob: str) -> list[tuple[str, str]]:
    """(collection, id) of every published item of a bronze blob."""
    with psycopg.connect(dsn) as conn:
        return items_of_source(conn, blob)


def read_item(dsn: str, collection: str, item_id: str) -> dict[str, Any] | None:
    with psycopg.connect(dsn) as conn:
        return pgstac.get_item(conn, collection, item_id)


def tile_in(bbox: list[float]) -> morecantile.Tile:
    """A WebMercatorQuad tile at the centre of ``bbox`` about half as wide as the bbox."""
    minx, miny, maxx, maxy = bbox
    zoom = max(0, min(18, int(math.log2(360 / max(maxx - minx, 1e-6))) + 1))
    return morecantile.tms.get("WebMercatorQuad").tile((minx + maxx) / 2, (miny + maxy) / 2, zoom)


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m geo_platform.cli.main ARGS`` in the test's environment."""
    return subprocess.run(
        [sys.executable, "-m", "geo_platform.cli.main", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
