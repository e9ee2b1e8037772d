"""Small steps of the COG build: the GDAL copy with error mapping, the source and metadata VRTs,
the nodata of reprojected padding, the valid-data footprint, output profiles, software versions
and checksums. Kept apart from ``cog.py`` so each stays readable; the grid of an output COG is
``grid.GridInfo``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import xml.etree.ElementTree as ET
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyproj
import rasterio
import shapely
from affine import Affine
from pyproj.exceptions import ProjError
from rasterio.features import shapes
from rasterio.shutil import copy as rio_copy
from shapely.geometry import Polygon, shape

from geo_platform.lib.errors import (
    GeoPlatformError,
    UnsupportedFormatError,
    without_local_paths,
)
from geo_platform.lib.raster.footprint import Footprint, footprint_4326, raster_outline
from geo_platform.lib.raster.grid import GridInfo
from geo_platform.lib.raster.inspect import RasterInfo
from geo_platform.lib.raster.opening import GDAL_ERRORS, block_read_error
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.stats import RasterSample

T = TypeVar("T")
METADATA_TAG = "GEO_PLATFORM_SOURCE_METADATA"
"""Tag of the archive tier holding the source's other metadata domains as JSON."""

_WRITE_FAILURES = ("No space left", "Free disk space", "Cannot create", "Permission denied")
# GDAL refusing an option for this raster (not a damaged file): e.g. a predictor on 1-bit data,
# web_optimized on a pixel size no web mercator zoom level matches.
_OPTION_FAILURES = (
    "only supported with",
    "appropriate zoom level",
    "not supported",
    "Illegal value",
    "Invalid value",
)


def translate(
    source: str, dst: Path, options: dict[str, Any], name: str, *, reads_source: bool
) -> None:
    """GDAL COG driver copy; a failed block read of the source (``reads_source``: ``source`` is
    the bronze file or a VRT over it) becomes ``UnreadableFileError`` (``block_read_error``)."""
    try:
        rio_copy(source, str(dst), driver="COG", **options)
    except GDAL_ERRORS as exc:
        dst.unlink(missing_ok=True)
        text = without_local_paths(str(exc), name, source)
        if any(marker in text for marker in _OPTION_FAILURES):
            wanted = {k: v for k, v in options.items() if k != "num_threads"}
            raise UnsupportedFormatError(
                f"GDAL cannot make {dst.name} from this raster with the options {wanted}: {text}",
                name,
            ) from exc
        if reads_source and not any(marker in text for marker in _WRITE_FAILURES):
            raise block_read_error(exc, name, source) from exc
        raise GeoPlatformError(f"writing {dst.name} failed: {text}", path=name) from exc


def source_vrt(info: RasterInfo, vrt: Path, fill: str | None) -> str:
    """A VRT over the source that carries what the file lacks: the CRS when it came from a
    ``.prj`` sidecar or ``assume_crs``, and ``fill`` as every band's nodata (a reprojection then
    pads with it, see ``fill_nodata``). Returns the VRT's path."""
    rio_copy(info.gdal_path, str(vrt), driver="VRT")
    tree = ET.parse(vrt)
    root = tree.getroot()
    if info.crs_source != "dataset":
        srs = root.find("SRS")
        if srs is None:
            srs = ET.Element("SRS")
            root.insert(0, srs)
        srs.text = info.crs_wkt2
        srs.set("dataAxisToSRSAxisMapping", "1,2")
    if fill is not None:
        for band in root.findall("VRTRasterBand"):
            nodata = band.find("NoDataValue")
            if nodata is None:
                nodata = ET.SubElement(band, "NoDataValue")
            nodata.text = fill
    tree.write(vrt)
    return str(vrt)


def metadata_vrt(base: str, vrt: Path, metadata: dict[str, dict[str, str]]) -> str:
    """A VRT over ``base`` whose default metadata also holds the other domains as JSON (under
    ``METADATA_TAG``: GeoTIFF writers drop domains other than the default one)."""
    rio_copy(base, str(vrt), driver="VRT")
    tree = ET.parse(vrt)
    root = tree.getroot()
    meta = next((m for m in root.findall("Metadata") if not m.get("domain")), None)
    if meta is None:
        meta = ET.Element("Metadata")
        root.insert(2, meta)
    item = ET.SubElement(meta, "MDI", key=METADATA_TAG)
    item.text = json.dumps(metadata, sort_keys=True)
    tree.write(vrt)
    return str(vrt)


def fill_nodata(info: RasterInfo) -> str | None:
    """The nodata value given to a reprojected raster that has no nodata, mask or alpha, so
    that the padding around the warped grid is not taken for data: NaN for floating point,
    the type's most negative (signed) or largest (unsigned) value for integers. None for 8- and
    16-bit unsigned data, where GDAL adds an alpha band that it does read as a mask."""
    if info.nodata is not None or info.mask_kind != "none":
        return None
    dtype = info.dtype
    if dtype in ("uint8", "uint16") or dtype.startswith("complex"):
        return None
    if dtype.startswith("float"):
        return "nan"
    limits = np.iinfo(np.dtype(dtype))
    return str(limits.min if limits.min < 0 else limits.max)


def tier_profile(path: Path) -> dict[str, Any]:
    """A JSON-able description of an output COG (for run metadata and debugging)."""
    with rasterio.open(path) as ds:
        structure = ds.tags(ns="IMAGE_STRUCTURE")
        return {
            "width": ds.width,
            "height": ds.height,
            "count": ds.count,
            "dtype": ds.dtypes[0],
            "nodata": ds.nodata,
            "crs": ds.crs.to_string() if ds.crs else None,
            "blocksize": list(ds.block_shapes[0]),
            "overviews": ds.overviews(1),
            "compression": structure.get("COMPRESSION"),
            "predictor": structure.get("PREDICTOR"),
            "interleave": structure.get("INTERLEAVE"),
            "internal_mask": any(f.name == "per_dataset" for f in ds.mask_flag_enums[0]),
        }


def data_footprint(sample: RasterSample, grid: GridInfo, info: RasterInfo) -> Footprint:
    """Outline of the valid pixels (from the sample mask) in EPSG:4326, antimeridian-safe.

    Holes and specks smaller than 0.5% of the largest part are dropped, and the outline is
    simplified to the sample's pixel size. Falls back to the raster edge when the mask is full,
    and to the inspected source outline if the CRS cannot place the mask on the Earth.
    """
    crs = pyproj.CRS.from_wkt(grid.crs_wkt2)
    rows, cols = grid.shape
    try:
        if sample.mask.all():
            return footprint_4326(raster_outline(cols, rows), grid.affine, crs)
        outline = _mask_outline(sample)
        if outline is None:
            return Footprint(info.footprint_4326, info.bbox_4326)
        return footprint_4326(outline, grid.affine, crs)
    except (ValueError, ProjError):
        return Footprint(info.footprint_4326, info.bbox_4326)


def _mask_outline(sample: RasterSample) -> shapely.Geometry | None:
    sx, sy = sample.pixel_scale
    valid = (sample.mask > 0).astype("uint8")
    polys = [
        Polygon(shape(geom).exterior)
        for geom, value in shapes(valid, mask=valid > 0, transform=Affine.scale(sx, sy))
        if value
    ]
    if not polys:
        return None
    largest = max(p.area for p in polys)
    kept = [p for p in polys if p.area >= 0.005 * largest]
    merged = shapely.union_all(kept).simplify(max(sx, sy), preserve_topology=True)
    return merged if not merged.is_empty else None


@cache
def software_versions() -> dict[str, str]:
    """Versions of the software that made the outputs (STAC ``processing:software``)."""
    out = {"GDAL": rasterio.__gdal_version__, "rasterio": rasterio.__version__}
    for package in ("geo_platform", "rio-cogeo", "pystac"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            continue
    return out


def multihash_sha256(path: Path) -> str:
    """SHA-256 of a file as a hex multihash (``1220`` + digest), as ``file:checksum`` wants."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 * 2**20):
            digest.update(chunk)
    return "1220" + digest.hexdigest()


SMALL_RASTER_PIXELS = 2**22
"""Below about 4 megapixels the COG tiers are built single-threaded (see ``threads``)."""
MIN_OVERVIEW_SIDE = 16
"""Rasters thinner than this (pixels, either side) are published without overviews."""


TMP_RAW_LIMIT = 2 * 2**30
"""Largest raster (uncompressed bytes) whose GDAL temporary files are written uncompressed."""


def gdal_env(cache_bytes: int, raw_bytes: int) -> dict[str, Any]:
    """GDAL configuration of a COG build over a raster of ``raw_bytes`` (uncompressed). The COG
    driver computes overviews (and a warped copy when it reprojects) into temporary files that
    it compresses with ZSTD level 9 by default: up to ``TMP_RAW_LIMIT`` they are written
    uncompressed instead, which saves about an eighth of the analysis tier's CPU time and
    leaves every output byte the same."""
    env: dict[str, Any] = {"GDAL_CACHEMAX": cache_bytes, "GDAL_TIFF_INTERNAL_MASK": "YES"}
    if raw_bytes <= TMP_RAW_LIMIT:
        env["COG_TMP_COMPRESSION"] = "NONE"
    return env


def build_env(options: RasterOptions, info: RasterInfo) -> dict[str, Any]:
    """``gdal_env`` of one tier build, with its thread count."""
    env = gdal_env(options.cache_bytes, info.uncompressed_bytes)
    env["GDAL_NUM_THREADS"] = threads(options, info)
    return env


def threads(options: RasterOptions, info: RasterInfo) -> str:
    """GDAL thread count: one thread for small rasters, where starting a worker pool costs more
    than it saves (a 256 x 256 COG is built twice as fast single-threaded)."""
    if options.threads is None and info.width * info.height < SMALL_RASTER_PIXELS:
        return "1"
    return options.num_threads


def with_checksum(tier: T, checksum: str | None) -> T:
    """A tier output (dataclass) with its checksum filled in, once the hasher is done."""
    if checksum is None:
        return tier
    return dataclasses.replace(tier, checksum=checksum)  # type: ignore[type-var]


def lossless_options(
    options: RasterOptions, info: RasterInfo, codec: str, level: int | None
) -> dict[str, Any]:
    """COG driver options of a lossless tier: the codec, a predictor where GDAL can apply one
    (2 for integers, 3 for floating point; none for complex or packed 1- to 12-bit data), the
    level for DEFLATE and ZSTD."""
    opts: dict[str, Any] = {
        "compress": codec.upper(),
        "blocksize": options.blocksize,
        "num_threads": threads(options, info),
        "bigtiff": "IF_SAFER",
    }
    dtype, nbits = info.dtype, info.nbits
    packed = nbits is not None and nbits not in (8, 16, 32, 64)  # predictor unsupported
    predictable = codec.upper() in ("DEFLATE", "ZSTD", "LZW") and not dtype.startswith("c")
    if predictable and not packed:
        opts["predictor"] = 3 if dtype.startswith("float") else 2
    if level is not None and codec.upper() in ("DEFLATE", "ZSTD"):
        opts["level"] = level
    return opts
