"""File kinds by name: the extensions of rasters and vectors, and of the sidecar files that travel
with another file (``lib.bronze.classify`` decides from these; content decides for the rest).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

from geo_platform.lib.compressed import COMPRESSED_EXTENSIONS

RASTER_EXTENSIONS = frozenset(
    {".tif", ".tiff", ".gtif", ".geotiff", ".jp2", ".j2k", ".img", ".grib", ".grib2", ".grb",
     ".grb2", ".hgt", ".asc", ".nc", ".png", ".jpg", ".jpeg", ".webp", ".bil", ".dem", ".ecw",
     ".cog", ".gif", ".nc4", ".h5", ".hdf5", ".he5", ".ntf", ".nitf", ".dt0", ".dt1", ".dt2",
     ".bsq", ".bip", ".flt", ".mbtiles", ".grd", ".sdat", ".rst", ".xyz", ".kea", ".bt", ".ter",
     ".ers", ".sid", ".bmp"}
)  # fmt: skip
VECTOR_EXTENSIONS = frozenset(
    {".geojson", ".json", ".geojsonl", ".geojsons", ".ndjson", ".gpkg", ".shp", ".zip", ".csv",
     ".kml", ".kmz", ".fgb", ".parquet", ".geoparquet", ".gml", ".gpx", ".topojson", ".dxf",
     ".tab", ".mif", ".xlsx", ".ods", ".osm", ".pbf", ".sqlite", ".arrow", ".feather", ".arrows",
     ".ipc"}
)  # fmt: skip
# Single-file vectors that may arrive compressed (``roads.geojson.gz``, ``lib.compressed``).
COMPRESSED_VECTORS = VECTOR_EXTENSIONS - {".zip", ".shp", ".tab", ".mif", ".kmz", ".xlsx", ".ods"}
# Companions of another file: never a partition of their own.
SHAPEFILE_SIDECARS = frozenset(
    {".dbf", ".shx", ".prj", ".cpg", ".sbn", ".sbx", ".qix", ".fix", ".shp.xml", ".atx", ".ain",
     ".aih"}
)  # fmt: skip
RPC_TEXT = "_rpc.txt"
"""A satellite scene's RPCs as text beside it: ``scene_RPC.TXT`` for ``scene.tif`` (GDAL reads
it when the image holds none), named by the stem and a suffix, not an extension."""
RASTER_SIDECARS = frozenset(
    {".aux.xml", ".ovr", ".jgw", ".jpgw", ".jpegw", ".tfw", ".tifw", ".tiffw", ".wld", ".pgw",
     ".pngw", ".gfw", ".gifw", ".j2w", ".jp2w", ".bpw", ".bmpw", ".msk", ".rrd", ".aux", ".hdr",
     ".xml", ".idx", ".md5", ".sha256", ".rpb", ".sgrd", ".mgrd", ".rdc", ".ref", ".lbl", ".ige",
     RPC_TEXT, ".clr", ".stx", ".imd", ".pvl"}  # a BIL's colours and statistics, satellite metadata
)  # fmt: skip
# MapInfo TAB (.dat attributes, .map geometry, .id/.ind indexes; a .map without its .tab may be
# a PCRaster raster: ``mapinfo_map_files``), MIF (.mid), GML (.xsd, .gfs);
# what GIS tools save beside a layer: QGIS projection, style and metadata, SLD, ArcGIS layer
# files, a charset note (.cst), a CSV's column types (.csvt).
VECTOR_SIDECARS = frozenset(
    {".dat", ".map", ".id", ".ind", ".mid", ".xsd", ".gfs", ".qpj", ".qml", ".qmd", ".sld",
     ".lyr", ".lyrx", ".cst", ".csvt"}
)  # fmt: skip
SIDECARS = SHAPEFILE_SIDECARS | RASTER_SIDECARS | VECTOR_SIDECARS
MULTI_EXTENSIONS = (".aux.xml", ".shp.xml", ".hgt.zip", ".gdb.zip", ".tar.gz", ".tar.bz2",
                    ".tar.xz", ".tar.zst", RPC_TEXT)  # fmt: skip


def extension(path: str) -> str:
    """Lowercase extension, aware of double extensions such as '.aux.xml' and '.hgt.zip'."""
    name = posixpath.basename(path).lower()
    for multi in MULTI_EXTENSIONS:
        if name.endswith(multi) and len(name) > len(multi):
            return multi
    return posixpath.splitext(name)[1]


ENVI_DATA_EXTENSIONS = frozenset({"", ".dat", ".bin", ".raw"})
"""Names ENVI gives the data file beside its ``.hdr`` (no extension is ENVI's default)."""


def envi_data_files(paths: Iterable[str]) -> set[str]:
    """The blobs among ``paths`` that are the data files of ENVI rasters: named without an
    extension or ``.dat``/``.bin``/``.raw``, with a ``.hdr`` of the same stem beside them and no
    MapInfo table (``.tab``, whose attributes a ``.dat`` also holds). By name alone such a
    file is unrecognised binary (or a MapInfo sidecar); its header makes it a raster."""
    paths = list(paths)
    lowered = {p.lower() for p in paths}
    out = set()
    for path in paths:
        stem, ext = posixpath.splitext(path)
        named = ext.lower() in ENVI_DATA_EXTENSIONS
        if named and f"{stem}.hdr".lower() in lowered and f"{stem}.tab".lower() not in lowered:
            out.add(path)
    return out


def ers_data_files(paths: Iterable[str]) -> set[str]:
    """The blobs among ``paths`` that are the data files of ER Mapper rasters: named like an
    ``.ers`` header beside them, without an extension (GDAL opens the header, which names its
    data file so). They travel with the header as its sidecars (``sidecar_names``)."""
    paths = list(paths)
    headers = {posixpath.splitext(p)[0].lower() for p in paths if extension(p) == ".ers"}
    return {p for p in paths if extension(p) == "" and p.lower() in headers}


def raster_tab_files(paths: Iterable[str]) -> set[str]:
    """The MapInfo ``.tab`` blobs among ``paths`` that place a raster: a ``.tab`` beside a
    raster of the same stem (``map.jpg`` and ``map.tab``: GDAL reads the control points and
    CoordSys from it), without the ``.map``/``.dat`` of a MapInfo vector table."""
    paths = list(paths)
    stems: dict[str, set[str]] = {}
    for p in paths:
        stem, ext = posixpath.splitext(p.lower())
        stems.setdefault(stem, set()).add(ext)
    out = set()
    for p in paths:
        stem, ext = posixpath.splitext(p.lower())
        beside = stems[stem]
        if ext == ".tab" and beside & RASTER_EXTENSIONS and not beside & {".map", ".dat"}:
            out.add(p)
    return out


def mapinfo_map_files(paths: Iterable[str]) -> set[str]:
    """The ``.map`` blobs among ``paths`` that are the geometry of a MapInfo table: a ``.tab``
    of the same stem beside them. Any other ``.map`` is judged by its content: a PCRaster
    raster (``content``: its CSF header), or else a MapInfo part whose table is elsewhere."""
    paths = list(paths)
    tabs = {posixpath.splitext(p)[0].lower() for p in paths if extension(p) == ".tab"}
    return {p for p in paths if extension(p) == ".map" and posixpath.splitext(p)[0].lower() in tabs}


def listed_roles(paths: Iterable[str]) -> dict[str, str]:
    """What a file is by what is listed beside it, where its name alone cannot tell:
    ``"raster"`` for an ENVI data file (``envi_data_files``), ``"sidecar"`` for an ER Mapper
    data file (``ers_data_files``), a MapInfo ``.tab`` that places a raster
    (``raster_tab_files``) and the ``.map`` of a MapInfo table (``mapinfo_map_files``)."""
    paths = list(paths)
    beside = ers_data_files(paths) | raster_tab_files(paths) | mapinfo_map_files(paths)
    roles = dict.fromkeys(beside, "sidecar")
    roles.update(dict.fromkeys(envi_data_files(paths), "raster"))
    return roles


def sidecar_stem(path: str) -> str:
    """What sidecars of ``path`` start with: ``roads`` (``roads.shp``), ``dem`` (``dem.asc.xz``)."""
    stem = posixpath.splitext(posixpath.basename(path))[0]
    return posixpath.splitext(stem)[0] if extension(path) in COMPRESSED_EXTENSIONS else stem


def sidecar_names(path: str, existing: Iterable[str]) -> list[str]:
    """Blobs next to ``path`` that belong to it (same stem): a shapefile's parts, a world file,
    the extensionless data file of an ER Mapper ``.ers`` header, the MapInfo ``.tab`` placing
    a raster."""
    folder = posixpath.dirname(path)
    stem = sidecar_stem(path).lower()
    ers = extension(path) == ".ers"
    existing = list(existing)
    tabs = raster_tab_files([path, *existing]) if extension(path) in RASTER_EXTENSIONS else set()
    out = []
    for other in existing:
        if other == path or posixpath.dirname(other) != folder:
            continue
        base = posixpath.basename(other).lower()
        ext = extension(other)
        named = ext in SIDECARS and (base.startswith(stem + ".") or base == stem + RPC_TEXT)
        if named or (ers and base == stem) or other in tabs:  # tabs: ``raster_tab_files``
            out.append(other)
    return sorted(out)
