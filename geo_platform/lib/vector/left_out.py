"""What a vector file holds that its vector layers do not publish, each with why and what to do:
raster tiles of a GeoPackage, rasters in a zip of vector files, the images of KML
GroundOverlays, attribute tables without geometry. ``publish_vector`` names them among the
file's layers not published (the file is *partial*), so nothing is dropped silently.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from geo_platform.lib.content import SQLITE_MAGIC, sniff_head
from geo_platform.lib.vector.archive import raster_members
from geo_platform.lib.vector.kml_overlays import (
    ground_overlays,
    network_links,
    unread_kml_members,
)
from geo_platform.lib.vector.sniff import gpkg_attribute_tables, gpkg_raster_tables
from geo_platform.lib.vector.zip_tables import tables_without_coordinates

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
    "footprint is a feature of its layer): a KMZ publishes as a raster only when it holds "
    "north-up GroundOverlays alone (or a superoverlay of tiles), with their images inside it; "
    "upload the overlays as such a KMZ, or gdal_translate the image to a GeoTIFF"
)
NETWORK_LINK = (
    "UnsupportedFormatError: a KML NetworkLink is not followed (the platform publishes what a "
    "file holds and fetches no URL); download what it links to and upload that"
)
KMZ_MEMBER = (
    "UnsupportedFormatError: a KMZ publishes its first KML document only (doc.kml by "
    "convention), as Google Earth and GDAL read it; this one is not read: merge it into that "
    "document, or upload it as a .kml of its own"
)
CSV_TABLE = (
    "NoGeometryError: a CSV without coordinate or WKT columns beside the zip's vector files is "
    "not published (an attribute table?); give it lat/lon or WKT columns, or join it to a layer"
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
        out.update({f"NetworkLink {link}": NETWORK_LINK for link in network_links(path)})
        out.update(dict.fromkeys(unread_kml_members(path), KMZ_MEMBER))
        out.update(dict.fromkeys(gpkg_attribute_tables(path), ATTRIBUTE_TABLE))
        out.update(dict.fromkeys(sqlite_attribute_tables(path), ATTRIBUTE_TABLE))
    out.update(dict.fromkeys(raster_members(path), ZIPPED_RASTER))
    if chosen_layer is None:
        out.update(dict.fromkeys(tables_without_coordinates(path), CSV_TABLE))
    return out


# SpatiaLite's and GDAL's bookkeeping tables (metadata, spatial indexes, styles): not data.
_SQLITE_BOOKKEEPING = (
    "sqlite_", "idx_", "rtree_", "geometry_columns", "views_geometry_columns",
    "virts_geometry_columns", "spatial_ref_sys", "spatialite_", "vector_coverages",
    "raster_coverages", "wms_", "se_", "rl2_", "iso_metadata", "sql_statements_log",
    "data_licenses", "elementarygeometries", "spatialindex", "knn", "topologies", "networks",
    "stored_", "layer_styles", "qgis_projects",
)  # fmt: skip


def sqlite_attribute_tables(path: Path) -> list[str]:
    """The tables without geometry of an SQLite database that is not a GeoPackage (SpatiaLite,
    or GDAL's own SQLite tables), bookkeeping aside; [] for anything else. GDAL's SQLite driver
    lists only the tables ``geometry_columns`` registers."""
    try:
        with path.open("rb") as fh:
            head = fh.read(65_536)
        if not head.startswith(SQLITE_MAGIC) or sniff_head(head) != "SQLite":
            return []
        uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            tables = db.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY 1"
            ).fetchall()
            spatial = {
                str(r[0]).lower() for r in db.execute("SELECT f_table_name FROM geometry_columns")
            }
    except (sqlite3.Error, ValueError, OSError):
        return []
    virtual = [
        str(n).lower() for n, sql in tables if str(sql or "").upper().startswith("CREATE VIRTUAL")
    ]
    return [
        str(name)
        for name, _ in tables
        if str(name).lower() not in spatial
        and not str(name).lower().startswith(_SQLITE_BOOKKEEPING)
        and not any(str(name).lower().startswith(v) for v in virtual)
    ]
