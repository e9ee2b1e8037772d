"""Rasters placed by ground control points or RPCs only (no geotransform), put on a north-up grid.

Scanned maps, drone frames and Sentinel-1 GRD GeoTIFFs carry GCPs instead of a geotransform. GDAL
warps them with its GCP transformer (a polynomial fitted to the GCPs, the order chosen from their
number, as ``gdalwarp`` does) onto a north-up grid in the GCPs' CRS, at the resolution GDAL
suggests. Satellite scenes delivered as sensor geometry (Pleiades, WorldView, SPOT "primary"
products) carry RPCs instead: GDAL's RPC transformer orthorectifies them onto WGS84 lon/lat
(``gdalwarp -rpc``) at one constant height, the RPCs' own ``HEIGHT_OFF`` (the scene's mean
height), since no DEM is given; the lineage says so, as relief displaces pixels by its height
difference times the view angle's tangent. The result is written as a tiled,
DEFLATE-compressed (lossless) GeoTIFF that the COG tiers are then built from, like any other
raster.

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
from rasterio.crs import CRS
from rasterio.vrt import WarpedVRT

from geo_platform.lib.errors import TooLargeError
from geo_platform.lib.raster.inspect import dtype_itemsize


@dataclass(frozen=True)
class Rectified:
    """The north-up copy of a raster placed by GCPs or RPCs, and how it was made."""

    path: Path
    how: str  # a step of the item's lineage
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


def rectify(path: Path | str, out: Path, max_bytes: int) -> Rectified | None:
    """Warp ``path`` onto a north-up grid if it is placed by GCPs or RPCs only (see the module
    docstring); None when it has a geotransform, or neither GCPs with a CRS nor RPCs.
    ``TooLargeError`` when the source alone is above ``max_bytes`` uncompressed."""
    with rasterio.open(path) as src:
        gcps, crs = src.gcps
        if not src.transform.is_identity:
            return None
        if gcps and crs is not None:
            how = f"georectified from {len(gcps)} GCPs ({crs.to_string()}, GDAL's GCP polynomial)"
            warp: dict[str, object] = {"crs": crs}
        elif src.rpcs is not None and not gcps:
            height = float(src.rpcs.height_off)
            how = (
                f"orthorectified from RPCs onto EPSG:4326 at a constant height of {height:g} m "
                "(the RPCs' HEIGHT_OFF; no DEM: relief shifts pixels)"
            )
            crs = CRS.from_epsg(4326)
            warp = {"crs": crs, "RPC_HEIGHT": height}
        else:
            return None
        size = src.width * src.height * src.count * dtype_itemsize(src.dtypes[0])
        if size > max_bytes:
            raise TooLargeError(
                f"{src.width}x{src.height}x{src.count} {src.dtypes[0]} placed by "
                f"{'GCPs' if gcps else 'RPCs'} is {size / 2**30:.1f} GiB uncompressed, above "
                f"the limit of {max_bytes / 2**30:.1f} GiB to georectify",
                path=str(path),
            )
        if src.dtypes[0].startswith("complex") or any(ci.name == "alpha" for ci in src.colorinterp):
            return None  # left to the refusal: no warping of complex or alpha-masked data here
        with WarpedVRT(src, **warp, **_padding(src.dtypes[0], src.nodata)) as vrt:
            rasterio.shutil.copy(
                vrt, out, driver="GTiff", tiled=True, blockxsize=512, blockysize=512,
                compress="deflate", bigtiff="if_safer",
            )  # fmt: skip
        driver = src.driver
    return Rectified(out, how, crs.to_string(), driver)
