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

import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from geo_platform.lib.errors import TooLargeError
from geo_platform.lib.raster.inspect import dtype_itemsize
from geo_platform.lib.raster.opening import readable_tags


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
            if len(gcps) < 3:  # GDAL's first-order polynomial needs three: left to the refusal
                return None
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
        placed = f"placed by {'GCPs' if gcps else 'RPCs'}"
        refuse_too_large(src, path, max_bytes, placed, " to georectify")
        if src.dtypes[0].startswith("complex") or any(ci.name == "alpha" for ci in src.colorinterp):
            return None  # left to the refusal: no warping of complex or alpha-masked data here
        _write_warped(src, out, **warp)
        driver = src.driver
    return Rectified(out, how, crs.to_string(), driver)


def refuse_too_large(
    src: rasterio.io.DatasetReader, path: Path | str, max_bytes: int, what: str, purpose: str
) -> None:
    size = src.width * src.height * src.count * dtype_itemsize(src.dtypes[0])
    if size > max_bytes:
        raise TooLargeError(
            f"{src.width}x{src.height}x{src.count} {src.dtypes[0]} {what} is "
            f"{size / 2**30:.1f} GiB uncompressed, above the limit of "
            f"{max_bytes / 2**30:.1f} GiB{purpose}",
            path=str(path),
        )


def _write_warped(src: rasterio.io.DatasetReader, out: Path, **warp: Any) -> None:
    """The warp of ``src`` as a tiled DEFLATE GeoTIFF, padding as ``_padding`` says."""
    with WarpedVRT(src, **warp, **_padding(src.dtypes[0], src.nodata)) as vrt:
        _copy_tiled(vrt, out)


def _copy_tiled(vrt: WarpedVRT, out: Path) -> None:
    rasterio.shutil.copy(
        vrt, out, driver="GTiff", tiled=True, blockxsize=512, blockysize=512,
        compress="deflate", bigtiff="if_safer",
    )  # fmt: skip


def north_up(path: Path, out: Path) -> None:
    """``out``: the raster ``path`` (on a rotated geotransform) warped onto a north-up grid in
    its own CRS, nearest neighbour, padded as ``_padding`` says (transparent around)."""
    with rasterio.open(path) as src:
        interp = [c.name for c in src.colorinterp]
        if "alpha" not in interp:
            _write_warped(src, out, crs=src.crs, resampling=Resampling.nearest)
            return
        alpha = interp.index("alpha") + 1  # warped as the alpha it is: transparent around
        with WarpedVRT(src, crs=src.crs, resampling=Resampling.nearest, src_alpha=alpha,
                       dst_alpha=alpha) as vrt:  # fmt: skip
            _copy_tiled(vrt, out)


@functools.lru_cache(maxsize=256)
def geotiff_keeps_crs(wkt: str) -> bool:
    """True when a GeoTIFF can carry the CRS ``wkt`` in its keys (written to a 1x1 GeoTIFF in
    memory and read back, once per CRS). A rotated pole (a CF ``rotated_latitude_longitude``
    grid, PROJ's ``ob_tran``) cannot: GDAL keeps it only in a ``.aux.xml``, which a COG does
    not carry."""
    crs = CRS.from_wkt(wkt)
    path = f"/vsimem/geo_platform_crs_probe_{threading.get_ident()}.tif"
    try:
        with rasterio.open(path, "w", driver="GTiff", width=1, height=1, count=1,
                           dtype="uint8", crs=crs, transform=(1, 0, 9, 0, -1, 9)):  # fmt: skip
            pass
        with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(path) as ds:
            back = ds.crs
    finally:
        if _exists(path):
            rasterio.shutil.delete(path)
    # Only a CRS the GeoTIFF keeps nothing of counts: one read back under other names (an ESRI
    # .prj's NAD83 as EPSG:4269, a compound CRS without its vertical part) is published as is.
    return back is not None


def _exists(path: str) -> bool:
    try:
        return bool(rasterio.shutil.exists(path))
    except Exception:
        return False


def warp_to_lonlat(path: Path | str, out: Path, max_bytes: int) -> Rectified:
    """Warp ``path`` (a grid in a CRS no GeoTIFF can carry, see ``geotiff_keeps_crs``) onto
    EPSG:4326 at the resolution GDAL suggests, nearest neighbour: every published value is a
    source value, on a lon/lat grid clients can place. Padding as for ``rectify``."""
    with rasterio.open(path) as src:
        refuse_too_large(src, path, max_bytes, "to warp", "")
        crs = CRS.from_epsg(4326)
        _write_warped(src, out, crs=crs, resampling=Resampling.nearest)
        with rasterio.open(out, "r+") as dst:  # the warp keeps pixels, not the bands' metadata
            for i in range(1, src.count + 1):
                dst.set_band_description(i, src.descriptions[i - 1] or "")
                dst.update_tags(i, **readable_tags(src, i))
                if src.units[i - 1]:
                    dst.set_band_unit(i, src.units[i - 1])
            extra = dst.count - src.count  # an alpha band the warp added for padding
            dst.scales = (*src.scales, *(1.0,) * extra)
            dst.offsets = (*src.offsets, *(0.0,) * extra)
        name = src.crs.to_dict().get("proj", "") if src.crs else ""
        driver = src.driver
    how = (
        f"warped from its native grid ({name or 'a CRS'} that GeoTIFF cannot carry, such as a "
        "rotated pole) onto EPSG:4326, nearest neighbour: values unchanged, grid resampled"
    )
    return Rectified(out, how, crs.to_string(), driver)


def lonlat_copy_if_needed(path: Path | str, crs_wkt: str, crs_source: str, out: Path,
                          max_bytes: int) -> Rectified | None:  # fmt: skip
    """``warp_to_lonlat`` for a raster whose own CRS (``crs_source`` "dataset") no GeoTIFF
    can carry, else None (the raster is published on its own grid)."""
    if crs_source != "dataset" or geotiff_keeps_crs(crs_wkt):
        return None
    return warp_to_lonlat(path, out, max_bytes)
