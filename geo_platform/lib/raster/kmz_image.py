"""The image of a KMZ that is one GroundOverlay (``lib.kml_overlay``), placed on the map.

A GroundOverlay's picture (PNG, JPEG, GIF, a GeoTIFF...) carries no georeferencing of its own
that Google Earth reads: its ``LatLonBox`` places it, north-up, its edges on the box's edges, in
WGS84 longitude/latitude. ``placed_overlay`` writes the picture as a tiled, DEFLATE-compressed
(lossless) GeoTIFF in EPSG:4326 with the geotransform of that box, and the COG tiers are then
built from it like from any raster. Bands, colour table, nodata and alpha are kept as the
picture has them (transparent parts of a PNG stay transparent).

The picture is read through ``/vsizip/`` from the KMZ itself; an overlay whose image is not in
the KMZ (a URL, a path outside it) was already refused (``kml_overlay.member_of``): nothing is
fetched or read from elsewhere.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning

from geo_platform.lib.errors import UnreadableFileError, UnsupportedFormatError
from geo_platform.lib.gdal_paths import vsizip
from geo_platform.lib.kml_overlay import NotAnOverlay, kmz_overlay
from geo_platform.lib.raster.opening import open_raster
from geo_platform.lib.raster.rectify import Rectified, refuse_too_large


def placed_overlay(kmz: Path, name: str, out: Path, max_bytes: int) -> Rectified:
    """``out``: the KMZ's GroundOverlay image placed by its LatLonBox (module docstring).
    ``UnsupportedFormatError`` for a KMZ that is not one GroundOverlay alone (its message says
    why), ``UnreadableFileError`` for a corrupt one, ``TooLargeError`` above ``max_bytes``."""
    try:
        with zipfile.ZipFile(kmz) as archive:
            overlay, member = kmz_overlay(archive)
    except NotAnOverlay as exc:
        raise UnsupportedFormatError(
            f"not a KMZ of one north-up GroundOverlay alone, which a KMZ must be to publish as a "
            f"raster: {exc}",
            path=name,
        ) from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableFileError(f"corrupt KMZ archive: {exc}", path=name) from exc
    with open_raster(vsizip(kmz, member), f"{name} ({member})") as src:
        refuse_too_large(src, name, max_bytes, f"GroundOverlay image {member!r}", "")
        rasterio.shutil.copy(
            src, out, driver="GTiff", tiled=True, blockxsize=512, blockysize=512,
            compress="deflate", bigtiff="if_safer",
        )  # fmt: skip
        width, height, driver = src.width, src.height, src.driver
    with warnings.catch_warnings():  # the copy has no geotransform until this sets it
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        placed = rasterio.open(out, "r+")
    with placed:
        placed.crs = CRS.from_epsg(4326)
        res_x, res_y = (
            (overlay.east - overlay.west) / width,
            (overlay.north - overlay.south) / height,
        )
        placed.transform = Affine(res_x, 0.0, overlay.west, 0.0, -res_y, overlay.north)
    how = (
        f"placed by the LatLonBox of the KMZ's GroundOverlay {overlay.name!r} ({member}: "
        f"north {overlay.north:g}, south {overlay.south:g}, east {overlay.east:g}, "
        f"west {overlay.west:g}, EPSG:4326)"
    )
    return Rectified(out, how, "EPSG:4326", f"KMZ ({driver})")
