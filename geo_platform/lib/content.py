"""What a file is, judged from its first bytes: the extension is only a hint.

The rule, as users see it:

1. A blob whose extension the platform knows (``.tif``, ``.cog``, ``.gpkg``, ``.zip``...) is
   classified by its name, for free; the bronze stage then opens it by its content, so a
   ``.tif`` that is not a raster fails there with a ``FormatMismatchError``.
2. A blob with an unknown extension, or none, is a *candidate*: the bronze sensor reads its first
   ``HEAD_BYTES`` once per etag and classifies it with ``content_kind``. Rasters: TIFF and
   BigTIFF (so GeoTIFF and COG), JPEG 2000, GRIB, ERDAS Imagine, PNG, JPEG, GIF, WebP, BMP, netCDF,
   HDF5, NITF, DTED, PCIDSK, PCRaster and Arc/Info ASCII grids. Vectors: SQLite (GeoPackage),
   FlatGeobuf, Parquet, Arrow IPC (Feather) files and streams, zip archives, GeoJSON, GeoJSON
   sequences, TopoJSON, Esri JSON, KML, GPX, GML, DXF, and CSV whose header names coordinate or
   WKT columns. Anything else is
   reported once as unsupported (with what the content looked like).
3. A zip is a vector source (Shapefiles, FileGDB, GeoPackage...) unless its name says it holds
   a raster: ``N45E006.hgt.zip``, ``dem.tif.zip`` (see ``bronze.classify``). A zip with an
   unknown extension is judged by the member names its first bytes show: raster members make
   it a raster, vector members a vector, an office document (``.docx``, ``.odt``, ``.jar``...)
   is unsupported, and a zip that shows neither is taken as a vector source.
4. A tar, plain or compressed, is judged by the member names its first bytes show; another
   compressed stream (gzip, bzip2, xz, zstd) by its decompressed first bytes. bzip2 decodes whole
   blocks (up to 900 KB): see ``wants_longer_head``.
"""

from __future__ import annotations

import csv
import re
import struct
from pathlib import Path

from geo_platform.lib.archive_members import (
    nested_member_names,
    tar_kind,
    zip_kind,
    zip_member_names,
)
from geo_platform.lib.compressed import codec_of_head, decompress_head, inner_name
from geo_platform.lib.errors import EmptyFileError
from geo_platform.lib.naming import ascii_fold
from geo_platform.lib.tarred import is_tar, member_names
from geo_platform.lib.types import BlobClass
from geo_platform.lib.vector.geomtext import is_geometry_text
from geo_platform.lib.vector.options import DEFAULT_LAT_NAMES, DEFAULT_LON_NAMES, DEFAULT_WKT_NAMES

HEAD_BYTES = 64 * 1024
"""How much of a candidate blob the sensor reads to recognise it."""
LONG_HEAD_BYTES = 1024 * 1024  # of a bzip2 candidate whose HEAD_BYTES hold no whole block
SQLITE_MAGIC = b"SQLite format 3\x00"
VRT_ALONE = (
    "a GDAL VRT references other files and is not published on its own; upload a zip holding "
    "the .vrt and the files it references"
)
"""Why a VRT blob is unsupported (by its ``.vrt`` name, or by its content): the files it names
are not in bronze beside it, or are paths on someone else's machine."""

_MAGIC: list[tuple[bytes, str]] = [
    (b"II*\x00", "GTiff"),
    (b"MM\x00*", "GTiff"),
    (b"II+\x00", "GTiff"),  # BigTIFF
    (b"MM\x00+", "GTiff"),
    (b"\x00\x00\x00\x0cjP  ", "JP2OpenJPEG"),
    (b"\xff\x4f\xff\x51", "JP2OpenJPEG"),  # raw J2K codestream
    (b"GRIB", "GRIB"),
    (b"EHFA_HEADER_TAG", "HFA"),
    (b"PK\x03\x04", "ZIP"),
    (b"PK\x05\x06", "ZIP"),  # empty zip
    (SQLITE_MAGIC, "GPKG"),  # or "SQLite": ``_sqlite_kind``
    (b"fgb\x03", "FlatGeobuf"),
    (b"PAR1", "Parquet"),
    (b"ARROW1", "Arrow"),  # Arrow IPC file (Feather V2); a stream: ``is_arrow_stream``
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"\x00\x00\x27\x0a", "ESRI Shapefile"),
    (b"CDF\x01", "netCDF"),
    (b"CDF\x02", "netCDF"),
    (b"\x89HDF\r\n\x1a\n", "netCDF"),
    (b"NITF", "NITF"),
    (b"NSIF", "NITF"),
    (b"UHL1", "DTED"),
    (b"PCIDSK  ", "PCIDSK"),
    (b"DSBB", "GSBG"),  # Surfer 6 binary grid
    (b"DSRB", "GS7BG"),  # Surfer 7 binary grid
    (b"DSAA", "GSAG"),  # Surfer ASCII grid
    (b"RIFF", "WEBP"),
    (b"RUU CROSS SYSTEM MAP FORMAT", "PCRaster"),  # its CSF header (a MapInfo .map is not)
    (b"\x1f\x8b", "GZIP"),
    (b"%PDF-", "PDF"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE2"),  # legacy office documents (.doc, .xls)
    (b"\x0e\x03\x13\x01", "HDF4"),  # MODIS .hdf: the platform's GDAL has no HDF4 driver
    *((b"BZh%d1AY&SY" % level, "BZIP2") for level in range(1, 10)),  # level, 1st block
    (b"\xfd7zXZ\x00", "XZ"),
    (b"\x28\xb5\x2f\xfd", "ZSTD"),
    (b"7z\xbc\xaf\x27\x1c", "7Z"),
    (b"Rar!\x1a\x07", "RAR"),
]
SRTM_SIZES = {2884802: "SRTMHGT", 25934402: "SRTMHGT"}
"""Byte sizes of 3 and 1 arc-second SRTM ``.hgt`` tiles (they have no magic number)."""

RASTER_CONTENT = frozenset(
    {"GTiff", "JP2OpenJPEG", "GRIB", "HFA", "PNG", "JPEG", "GIF", "netCDF", "NITF", "DTED",
     "PCIDSK", "WEBP", "BMP", "AAIGrid", "SRTMHGT", "GSBG", "GS7BG", "GSAG",
     "MBTiles", "PCRaster"}
)  # fmt: skip
VECTOR_CONTENT = frozenset(
    {"GPKG", "SQLite", "FlatGeobuf", "Parquet", "Arrow", "ZIP", "GeoJSON", "GeoJSONSeq",
     "TopoJSON", "ESRIJSON", "KML", "GPX", "GML", "DXF", "CSV", "MapInfo TAB", "MapInfo MIF",
     "OSM"}
)  # fmt: skip

_GEOJSON_TYPE = re.compile(
    rb'"type"\s*:\s*"(Feature|FeatureCollection|Point|LineString|Polygon|MultiPoint|'
    rb'MultiLineString|MultiPolygon|GeometryCollection)"'
)
_HTML = re.compile(r"(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>])", re.S)
_OSM_XML = re.compile(r"<osm[\s>]")
_TOPOJSON = re.compile(rb'"type"\s*:\s*"Topology"')
_ESRIJSON = re.compile(rb'"geometryType"\s*:\s*"esriGeometry')


def wants_longer_head(head: bytes) -> bool:
    """A full ``HEAD_BYTES`` of bzip2 decoding to nothing yet: read on to ``LONG_HEAD_BYTES``."""
    bzip2 = getattr(codec_of_head(head), "name", "") == "bzip2"
    return bzip2 and len(head) >= HEAD_BYTES and not decompress_head(head)


def sniff_head(head: bytes, name: str = "", size: int | None = None) -> str:
    """The format of a file judged from its first bytes: a GDAL driver name ('GTiff', 'GPKG',
    'GeoJSON', 'KML', 'CSV', 'SRTMHGT'...), 'ZIP', 'GZIP', 'XML', 'JSON', 'text' or 'unknown'.

    ``name`` and ``size`` only help where the content alone cannot tell (an ``.hgt`` tile has
    no header, only a known size)."""
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            if fmt == "WEBP" and head[8:12] != b"WEBP":
                continue
            return _sqlite_kind(head) if magic == SQLITE_MAGIC else fmt
    if size in SRTM_SIZES and name.lower().endswith(".hgt"):
        return SRTM_SIZES[size]
    if is_osm_pbf(head):
        return "OSM"
    if is_arrow_stream(head):
        return "Arrow"
    if is_tar(head):
        return "TAR"
    return _sniff_text(head)


BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
"""Sizes of the BMP info headers (OS/2 and Windows BITMAPINFOHEADER up to BITMAPV5HEADER)."""


def is_bmp(head: bytes, size: int | None = None) -> bool:
    """A Windows bitmap: ``BM``, then a header that holds together (two letters alone are too
    common): a known info header size, the pixels after the headers, the file size it states
    equal to the blob's (when known; some writers leave it 0) and at least the headers'.

    Only ``content_kind`` uses it (a candidate blob without a known extension): ``sniff_head``
    calls a BMP "unknown", the format the bronze inventory accepts for rasters GDAL opens."""
    if not head.startswith(b"BM") or len(head) < 26:
        return False
    stated, _reserved, offset, header = struct.unpack_from("<IIII", head, 2)
    if header not in BMP_HEADER_SIZES or offset < 14 + header:
        return False
    if size is not None and stated not in (0, size):
        return False
    return stated == 0 or offset < stated


def _sqlite_kind(head: bytes) -> str:
    """'GPKG' for a GeoPackage (its application id, or ``gpkg_contents`` in the schema the first
    page holds), else 'SQLite': SpatiaLite, or GDAL's own SQLite tables (WKB or WKT)."""
    if head[68:72] in (b"GPKG", b"GP10", b"GP11") or b"gpkg_contents" in head:
        return "GPKG"
    if re.search(rb"CREATE (TABLE|VIEW) \W?tiles\b", head) and b"metadata" in head:
        return "MBTiles"  # its tiles and metadata tables (raster tiles, or vector ones: pbf)
    return "SQLite"


def is_osm_pbf(head: bytes) -> bool:
    """An OpenStreetMap PBF file: a 4-byte length, then a BlobHeader of type "OSMHeader"."""
    return head[4:15] == b"\x0a\x09OSMHeader"


ARROW_CONTINUATION = b"\xff\xff\xff\xff"
_ARROW_SCHEMA_MESSAGE = 1  # MessageHeader.Schema in Arrow's Message.fbs


def is_arrow_stream(head: bytes) -> bool:
    """An Arrow IPC stream (``.arrows``): the continuation marker 0xFFFFFFFF, a 4-byte length,
    then a flatbuffer ``Message`` whose header is a ``Schema`` (a stream starts with its
    schema). The marker alone is too common in binary data to decide."""
    size = int.from_bytes(head[4:8], "little", signed=True)
    if not head.startswith(ARROW_CONTINUATION) or not 8 <= size <= len(head) - 8:
        return False
    msg = head[8 : 8 + size]
    try:
        (root,) = struct.unpack_from("<I", msg, 0)
        vtable = root - struct.unpack_from("<i", msg, root)[0]
        if not 0 <= vtable <= len(msg) - 8:
            return False
        (vtable_size,) = struct.unpack_from("<H", msg, vtable)
        if vtable_size < 8:  # its own size and the table's, version, header_type
            return False
        (where,) = struct.unpack_from("<H", msg, vtable + 6)  # field 1: header_type
        return where != 0 and msg[root + where] == _ARROW_SCHEMA_MESSAGE
    except (struct.error, IndexError):
        return False


def sniff_format(path: Path, display: str | None = None) -> str:
    """``sniff_head`` of a local file. Raises ``EmptyFileError`` for a zero-byte file (naming
    ``display``, the blob, when given)."""
    size = path.stat().st_size
    if size == 0:
        raise EmptyFileError("the file is empty (0 bytes)", path=display or path.name)
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    return sniff_head(head, path.name, size)


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
"""Text that starts with one of these is UTF-16 (Excel's "Unicode Text" export, tab-separated)."""


UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")


def _decode(head: bytes) -> str | None:
    if head.startswith(UTF32_BOMS):  # before UTF-16 LE, whose BOM it starts with
        whole = head[: len(head) // 4 * 4]
        return whole.decode("utf-32", errors="replace").lstrip(" \t\r\n") or None
    if head.startswith(UTF16_BOMS):
        even = head[: len(head) // 2 * 2]
        return even.decode("utf-16", errors="replace").lstrip(" \t\r\n") or None
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        return None
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start > len(text) - 4:  # a multi-byte character cut by the end of the head
            return text[: exc.start].decode("utf-8")
    sample = text.decode("latin-1")
    if sum(ch < " " and ch not in "\t\r\n" for ch in sample) > len(sample) // 20:
        return None
    return sample


def _sniff_text(head: bytes) -> str:
    sample = _decode(head)
    if not sample:
        return "unknown"
    lowered = sample[:4000].lower()
    if sample[0] in "{[":  # matched as UTF-8 bytes, whatever the text's encoding
        wide = head.startswith(UTF16_BOMS + UTF32_BOMS)
        return _sniff_json(sample.encode("utf-8") if wide else head, sample)
    if sample[0] == "\x1e":
        return "GeoJSONSeq"
    if lowered.startswith("<"):
        return _sniff_xml(lowered)
    if lowered.startswith(("ncols", "nrows", "xllcorner", "xllcenter")):
        return "AAIGrid"
    if lowered.startswith("!table"):
        return "MapInfo TAB"
    lines = lowered.splitlines()
    if lines[0].split()[:1] == ["version"] and any(x.strip().startswith("columns") for x in lines):
        return "MapInfo MIF"
    if len(lines) > 1 and lines[0].strip() == "0" and lines[1].strip() == "section":
        return "DXF"
    first = _csv_header(lines)
    if any(sep in first for sep in (",", ";", "\t", "|")):
        return "CSV"
    return "text"


def csv_separator(header: str) -> str:
    """The delimiter of a CSV header line: the most frequent of , ; tab and |."""
    return max((",", ";", "\t", "|"), key=header.count)


def _csv_header(lines: list[str]) -> str:
    """The first line of a CSV after any leading ``#`` comment lines (``csvsource`` drops them)."""
    return next((line for line in lines if not line.startswith("#")), "")


def _sniff_json(head: bytes, sample: str) -> str:
    if _TOPOJSON.search(head):
        return "TopoJSON"
    if _ESRIJSON.search(head):
        return "ESRIJSON"
    lines = sample.splitlines()
    first = lines[0] if lines else sample
    if sample[0] == "{" and first.rstrip().endswith("}") and "\n{" in sample:
        return "GeoJSONSeq"
    return "GeoJSON" if _GEOJSON_TYPE.search(head) else "JSON"


def _sniff_xml(lowered: str) -> str:
    if _HTML.match(lowered):
        return "HTML"
    if "<kml" in lowered:
        return "KML"
    if "<gpx" in lowered:
        return "GPX"
    if _OSM_XML.search(lowered):
        return "OSM"
    if "<vrtdataset" in lowered:
        return "VRT"
    if "gml" in lowered:
        return "GML"
    return "XML"


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", ascii_fold(name).lower())


def csv_header_has_geometry(head: bytes) -> bool:
    """True when the first line names a latitude and a longitude column, or a WKT column
    (the names the CSV reader detects, see ``vector.options``), or when a cell of the first
    row holds WKT or hex (E)WKB (a ``footprint`` column)."""
    lines = [line for line in (_decode(head) or "").splitlines() if not line.startswith("#")]
    first = lines[0] if lines else ""
    sep = csv_separator(first)
    names = {_norm(f.strip().strip("\"'")) for f in first.split(sep)}
    has_lat = bool(names & set(DEFAULT_LAT_NAMES))
    has_lon = bool(names & set(DEFAULT_LON_NAMES))
    if (has_lat and has_lon) or bool(names & set(DEFAULT_WKT_NAMES)):
        return True
    row = next(csv.reader(lines[1:2], delimiter=sep), [])
    return any(is_geometry_text(cell) for cell in row)


def content_kind(head: bytes, name: str = "", size: int | None = None) -> tuple[BlobClass, str]:
    """(kind, reason) of a candidate blob from its first bytes: 'raster', 'vector' or
    'unsupported' with what the content looked like. See the module docstring for the rule."""
    if size == 0 or not head:
        return "unsupported", "zero-byte file"
    fmt = sniff_head(head, name, size)
    if fmt == "unknown" and is_bmp(head, size):  # ``sniff_head`` leaves it "unknown": see there
        fmt = "BMP"
    if fmt == "ZIP":
        return zip_kind(zip_member_names(head) + nested_member_names(head))
    codec = codec_of_head(head)  # scene.tar.xz, export.gz: by what the content starts with
    unpacked = decompress_head(head)  # ``head`` itself when it is not compressed
    if is_tar(unpacked):  # scene.tar, scene.tar.xz: by the members its first bytes show
        return tar_kind(member_names(unpacked))
    inner = sniff_head(unpacked, inner_name(name)) if codec and unpacked else ""
    if inner in (RASTER_CONTENT | VECTOR_CONTENT) - {"ZIP"}:
        fmt, head = inner, unpacked
    shown = f"{codec.name} {fmt}" if codec and inner == fmt else fmt
    if fmt in RASTER_CONTENT:
        return "raster", f"recognised by its content ({shown})"
    if fmt == "CSV" and not csv_header_has_geometry(head):
        return "unsupported", "unknown extension; delimited text without coordinate columns"
    if fmt in VECTOR_CONTENT:
        return "vector", f"recognised by its content ({shown})"
    if fmt == "VRT":
        return "unsupported", VRT_ALONE
    return "unsupported", f"unknown extension, and its content is {describe(fmt)}"


_DESCRIPTIONS = {
    "text": "plain text",
    "unknown": "unrecognised binary data",
    "HTML": "an HTML page",
    "PDF": "a PDF document",
    "OLE2": "an office document (.doc, .xls...)",
    "XML": "XML of no geodata format",
    "JSON": "JSON that is not GeoJSON",
    "GZIP": "gzip-compressed data; name it after the file it holds (roads.geojson.gz)",
    "TAR": "a tar archive",
    "BZIP2": "bzip2-compressed data; name it after the file it holds (roads.geojson.bz2)",
    "XZ": "xz-compressed data; name it after the file it holds (roads.geojson.xz)",
    "ZSTD": "zstd-compressed data; name it after the file it holds (roads.geojson.zst)",
    "7Z": "a 7-Zip archive; name it with the .7z extension",
    "RAR": "a RAR archive; repack it as a .zip or .tar.gz",
    "HDF4": "HDF4 (MODIS, ASTER and older NASA products), which the platform's GDAL cannot read: "
    "convert it to HDF5 or NetCDF-4 (h4toh5) or to GeoTIFF (gdal_translate with HDF4 support)",
}


def describe(fmt: str) -> str:
    """What a ``sniff_head`` result is, in words for an error message."""
    return _DESCRIPTIONS.get(fmt, fmt)
