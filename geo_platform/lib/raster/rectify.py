"""Rasters placed by ground control points only (no geotransform), put on a north-up grid.

Scanned maps, drone frames and Sentinel-1 GRD GeoTIFFs carry GCPs instead of a geotransform. GDAL
warps them with its GCP transformer (a polynomial fitted to the GCPs, the order chosen from their
number, as ``gdalwarp`` does) onto a north-up grid in the GCPs' CRS, at the resolution GDAL
suggests. The result is written as a tiled, DEFLATE-compressed (lossless) GeoTIFF that the COG
tiers are then built from, like any other raster.

Padding around the warped grid must not read as data: the source's nodata is kept; without one,
8- and 16-bit unsigned data gets an alpha band and other types the nodata ``fill_nodata`` picks
(NaN, or the type's extreme value). A source whose GCPs have no CRS, or that has none, is left
to ``inspect_raster``'s ``NotGeoreferencedError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.vrt import WarpedVRT

from geo_platform.lib.errors import TooLargeError
from geo_platform.lib.raster.inspect import dtype_itemsize

CRS_SOURCE = "gcps"


@dataclass(frozen=True)
class Rectified:
    """The north-up copy of a GCP-georeferenced raster, and how it was made."""

    path: Path
    gcps: int
    crs: str
    driver: str  # the source's


def _padding(dtype: str, nodata: float | None) -> dict[str, object]:
    if nodata is not None:
        return {"nodata": nodata}
    if dtype in ("uint8", "uint16"):
        return {"add_alpha": True}
    if dtype.startswith("float"):
        return {"nodata": float("nan")}
    limits = np.iinfo(np.dtype(dtype))
    return {"nodata": int(limits.min if limits.min < 0 else limits.max)}


def rectify_gcps(path: Path | str, out: Path, max_bytes: int) -> Rectified | None:
    """Warp ``path`` onto a north-up grid if it is placed by GCPs only (see the module
    docstring); None when it has a geotransform, no GCPs, or GCPs without a CRS.
    ``TooLargeError`` when the source alone is above ``max_bytes`` uncompressed."""
    with rasterio.open(path) as src:
        gcps, crs = src.gcps
        if not src.transform.is_identity or not gcps or crs is None:
            return None
        size = src.width * src.height * src.count * dtype_itemsize(src.dtypes[0])
        if size > max_bytes:
            raise TooLargeError(
                f"{src.width}x{src.height}x{src.count} {src.dtypes[0]} placed by GCPs is "
                f"{size / 2**30:.1f} GiB uncompressed, above the limit of "
                f"{max_bytes / 2**30:.1f} GiB to georectify",
                path=str(path),
            )
        if src.dtypes[0].startswith("complex") or any(ci.name == "alpha" for ci in src.colorinterp):
            return None  # left to the refusal: no warping of complex or alpha-masked data here
        with WarpedVRT(src, crs=crs, **_padding(src.dtypes[0], src.nodata)) as vrt:
            rasterio.shutil.copy(
                vrt, out, driver="GTiff", tiled=True, blockxsize=512, blockysize=512,
                compress="deflate", bigtiff="if_safer",
            )  # fmt: skip
        driver = src.driver
    return Rectified(out, len(gcps), crs.to_string(), driver)
