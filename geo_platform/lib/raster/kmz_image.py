"""The raster of a KMZ exported for Google Earth (``lib.kml_overlay``), as a GeoTIFF on the map.

- One GroundOverlay: its picture (PNG, JPEG, GIF, a GeoTIFF...) carries no georeferencing of
  its own that Google Earth reads; its ``LatLonBox`` places it, north-up, its edges on the box's
  edges, in WGS84 longitude/latitude. The picture is copied with the geotransform of that box.
- A superoverlay (a tile pyramid): GDAL's KMLSUPEROVERLAY driver reads its finest level.

Either way the result is a tiled, DEFLATE-compressed (lossless) GeoTIFF in EPSG:4326 that the
COG tiers are then built from, like from any raster, with bands, colour table, nodata and alpha
as the pictures have them (transparent parts of a PNG stay transparent). Pictures and KML files
are read from the KMZ itself: an image or a link outside it (a URL, a path out of it) was
refused already (``kml_overlay.member_of``), so nothing is fetched or read from elsewhere.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning

from geo_platform.lib.gdal_paths import vsizip
from geo_platform.lib.kml_overlay import Pyramid, read_kmz_raster
from geo_platform.lib.raster.opening import open_raster
from geo_platform.lib.raster.rectify import Rectified, refuse_too_large


def placed_overlay(kmz: Path, name: str, out: Path, max_bytes: int) -> Rectified:
    """``out``: the KMZ's raster as a GeoTIFF (module docstring). ``UnsupportedFormatError``
    for a KMZ that is not one GroundOverlay alone or a superoverlay (its message says why),
    ``UnreadableFileError`` for a corrupt one, ``TooLargeError`` above ``max_bytes``."""
    raster, member = read_kmz_raster(kmz, name)
    if isinstance(raster, Pyramid):
        return _pyramid(kmz, name, raster, out, max_bytes)
    with open_raster(vsizip(kmz, member), f"{name} ({member})") as src:
        refuse_too_large(src, name, max_bytes, f"GroundOverlay image {member!r}", "")
        _copy(src, out)
        width, height, driver = src.width, src.height, src.driver
    with warnings.catch_warnings():  # the copy has no geotransform until this sets it
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        placed = rasterio.open(out, "r+")
    with placed:
        placed.crs = CRS.from_epsg(4326)
        res_x = (raster.east - raster.west) / width
        res_y = (raster.north - raster.south) / height
        placed.transform = Affine(res_x, 0.0, raster.west, 0.0, -res_y, raster.north)
    how = (
        f"placed by the LatLonBox of the KMZ's GroundOverlay {raster.name!r} ({member}: "
        f"north {raster.north:g}, south {raster.south:g}, east {raster.east:g}, "
        f"west {raster.west:g}, EPSG:4326)"
    )
    return Rectified(out, how, "EPSG:4326", f"KMZ ({driver})")


def _pyramid(kmz: Path, name: str, pyramid: Pyramid, out: Path, max_bytes: int) -> Rectified:
    with open_raster(str(kmz), name, driver="KMLSUPEROVERLAY") as src:
        refuse_too_large(src, name, max_bytes, "superoverlay", "")
        _copy(src, out)
        crs = src.crs.to_string() if src.crs else "EPSG:4326"
    how = (
        f"read from the KMZ's superoverlay ({pyramid.kmls} KML files of tiles under "
        f"{pyramid.root}) at its finest level, by GDAL's KMLSUPEROVERLAY driver"
    )
    return Rectified(out, how, crs, "KMZ (KMLSUPEROVERLAY)")


def _copy(src: rasterio.io.DatasetReader, out: Path) -> None:
    rasterio.shutil.copy(
        src, out, driver="GTiff", tiled=True, blockxsize=512, blockysize=512,
        compress="deflate", bigtiff="if_safer",
    )  # fmt: skip
