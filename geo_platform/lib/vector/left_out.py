"""What a vector file holds that its vector layers do not publish, each with why and what to do:
raster tiles of a GeoPackage, rasters in a zip of vector files, the images of KML
GroundOverlays, attribute tables without geometry. ``publish_vector`` names them among the
file's layers not published (the file is *partial*), so nothing is dropped silently.
"""

from __future__ import annotations

from pathlib import Path

from geo_platform.lib.vector.archive import raster_members
from geo_platform.lib.vector.kml_overlays import ground_overlays
from geo_platform.lib.vector.sniff import gpkg_attribute_tables, gpkg_raster_tables

GPKG_RASTER = (
    "UnsupportedFormatError: raster tiles of a GeoPackage are not published; convert them to a "
    "GeoTIFF (gdal_translate -of COG) and upload that"
)
ZIPPED_RASTER = (
    "UnsupportedFormatError: a raster in a zip of vector files is not published; upload it on "
    "its own, or in a zip without vector files"
)
OVERLAY_IMAGE = (
    "UnsupportedFormatError: the image of a KML GroundOverlay is not published as a raster (its "
    "footprint is a feature of its layer); gdal_translate the KMZ to a GeoTIFF and upload that"
)
ATTRIBUTE_TABLE = (
    "NoGeometryError: an attribute table without geometry is not published (each published "
    "table is a spatial layer with its STAC item); join it to a layer first"
)


def left_out(path: Path, chosen_layer: str | None = None) -> dict[str, str]:
    """Name -> "ErrorClass: why" of what ``path`` holds besides its vector layers. With a
    ``chosen_layer`` (the ``layer`` option) only the file's rasters are named."""
    out = dict.fromkeys(gpkg_raster_tables(path), GPKG_RASTER)
    if chosen_layer is None:
        out.update({f"GroundOverlay {o}": OVERLAY_IMAGE for o in ground_overlays(path)})
        out.update(dict.fromkeys(gpkg_attribute_tables(path), ATTRIBUTE_TABLE))
    out.update(dict.fromkeys(raster_members(path), ZIPPED_RASTER))
    return out
