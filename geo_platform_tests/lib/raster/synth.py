"""Rasters synthesized on the fly for the raster tests (small, deterministic)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.shutil import copy as rio_copy
from rasterio.transform import Affine, from_origin

from geo_platform_tests.fixtures.helpers import TESTDATA

RASTERS = TESTDATA / "rasters"
UTM33 = "EPSG:32633"


def gradient(count: int, height: int, width: int, dtype: str = "uint8") -> np.ndarray:
    """Smooth, compressible test pattern with a little deterministic noise."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:height, 0:width]
    bands = [
        (
            100
            + 80 * np.sin(xx / 37.0 + b) * np.cos(yy / 53.0)
            + rng.integers(-3, 4, (height, width))
        )
        for b in range(count)
    ]
    return np.clip(np.stack(bands), 0, 255).astype(dtype)


def write_tif(path: Path, data: np.ndarray, **profile: Any) -> Path:
    """A GeoTIFF in UTM 33N with 10 m pixels unless ``profile`` says otherwise."""
    count, height, width = data.shape
    base: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": str(data.dtype),
        "crs": UTM33,
        "transform": from_origin(500000, 5000000, 10, 10),
    }
    base.update(profile)
    with rasterio.open(path, "w", **base) as dst:
        dst.write(data)
    return path


def damage_block(path: Path, col: int, row: int) -> Path:
    """Overwrite the data of band 1's block (``col``, ``row``) past its first 8 bytes (a zlib
    or JPEG header): the file opens, the block fails when it is decoded."""
    with rasterio.open(path) as ds:
        offset = int(ds.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=1))
        size = int(ds.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=1))
    raw = bytearray(path.read_bytes())
    raw[offset + 8 : offset + size] = b"\xff" * (size - 8)
    path.write_bytes(bytes(raw))
    return path


def corrupt_one_tile(path: Path) -> Path:
    """A tiled, deflated GeoTIFF that opens fine but whose tile (1, 1) is garbage."""
    write_tif(
        path,
        gradient(1, 1024, 1024),
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="deflate",
    )
    damage_block(path, 1, 1)
    return path


def jpeg_with_world_file(folder: Path, prj: str | None = "valid") -> Path:
    """photo.jpg + photo.jgw (+ photo.prj: 'valid' ESRI WKT, 'garbage', or None)."""
    folder.mkdir(parents=True, exist_ok=True)
    mem = folder / "tmp_src.tif"
    write_tif(mem, gradient(3, 120, 160), crs=None, transform=from_origin(0, 0, 1, 1))
    jpg = folder / "photo.jpg"
    rio_copy(str(mem), str(jpg), driver="JPEG")
    mem.unlink()
    for extra in folder.glob("photo.jpg.aux.xml"):
        extra.unlink()
    (folder / "photo.jgw").write_text("10\n0\n0\n-10\n500005\n5000005\n")
    if prj == "valid":
        (folder / "photo.prj").write_text(pyproj.CRS.from_epsg(32633).to_wkt("WKT1_ESRI"))
    elif prj == "garbage":
        (folder / "photo.prj").write_text("this is not a CRS")
    return jpg


def srtm_zip(folder: Path) -> Path:
    """A zipped SRTM3 tile N45E006.hgt (1201 x 1201 int16), like NASA's downloads."""
    folder.mkdir(parents=True, exist_ok=True)
    tif = folder / "src.tif"
    heights = (np.arange(1201 * 1201, dtype=np.int32).reshape(1, 1201, 1201) % 3000).astype("int16")
    write_tif(
        tif,
        heights,
        crs="EPSG:4326",
        transform=from_origin(5.9995833, 46.0004167, 1 / 1200, 1 / 1200),
    )
    hgt = folder / "N45E006.hgt"
    rio_copy(str(tif), str(hgt), driver="SRTMHGT")
    archive = folder / "N45E006.SRTMGL3.hgt.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(hgt, "N45E006.hgt")
    hgt.unlink()
    tif.unlink()
    return archive


def gcp_only(path: Path) -> Path:
    """A raster georeferenced by GCPs only (no geotransform)."""
    gcps = [
        GroundControlPoint(row=0, col=0, x=10.0, y=50.0),
        GroundControlPoint(row=0, col=64, x=10.1, y=50.0),
        GroundControlPoint(row=64, col=0, x=10.0, y=49.9),
    ]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=64,
        height=64,
        count=1,
        dtype="uint8",
        gcps=gcps,
        crs="EPSG:4326",
    ) as dst:
        dst.write(gradient(1, 64, 64))
    return path


def huge_sparse_tif(path: Path, side: int = 200_000) -> Path:
    """A sparse tiled GeoTIFF declaring a side x side x 1 uint8 raster (37 GiB uncompressed at
    the default side) that is only a few hundred kilobytes on disk (no tile is written)."""
    profile = {
        "driver": "GTiff", "width": side, "height": side, "count": 1, "dtype": "uint8",
        "crs": UTM33, "transform": Affine(1, 0, 500000, 0, -1, 5000000), "tiled": True,
        "blockxsize": 1024, "blockysize": 1024, "sparse_ok": True, "bigtiff": "YES",
    }  # fmt: skip
    with rasterio.open(path, "w", **profile):
        pass
    return path
