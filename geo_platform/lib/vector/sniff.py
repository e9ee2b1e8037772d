"""What a file really is: its content decides, its extension is a hint; and text encodings.

Rule (``check_file``): when the content matches the extension, the extension's format is used.
When it does not, a content positively recognised as a vector format wins (a GeoPackage named
``.geojson``, GeoJSON named ``.txt``, a zip without extension, a CSV whose header names
coordinate columns): any vector publishes whatever its name. Otherwise GDAL's own errors for a
mislabelled file ("not recognized as a supported file format") would not say what is wrong;
reading the first bytes does: a ``.zip`` that is a dBase table, a ``.kml`` holding HTML, a
``.gpkg`` that is plain text all get a ``FormatMismatchError`` naming the file and both formats.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from pathlib import Path
from typing import IO, Any

from geo_platform.lib.content import (
    csv_header_has_geometry,
    is_arrow_stream,
    is_osm_pbf,
    sniff_head,
)
from geo_platform.lib.errors import (
    DecodingError,
    EmptyFileError,
    FormatMismatchError,
    UnreadableFileError,
    UnsupportedFormatError,
)
from geo_platform.lib.vector.kml_overlays import require_placemarks

FORMAT_OF_EXTENSION = {
    ".zip": "zip",
    ".kmz": "kmz",
    ".shp": "shp",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".arrows": "arrow",
    ".ipc": "arrow",
    ".geojson": "geojson",
    ".json": "geojson",
    ".geojsonl": "geojsonseq",
    ".geojsons": "geojsonseq",
    ".geojsonseq": "geojsonseq",
    ".ndjson": "geojsonseq",
    ".jsonl": "geojsonseq",
    ".gpkg": "gpkg",
    ".sqlite": "sqlite",
    ".spatialite": "sqlite",
    ".kml": "kml",
    ".fgb": "fgb",
    ".gpx": "gpx",
    ".gml": "gml",
    ".topojson": "topojson",
    ".dxf": "dxf",
    ".tab": "tab",
    ".mif": "mif",
    ".xlsx": "xlsx",
    ".ods": "ods",
    ".osm": "osm",
    ".pbf": "osm",
}
SINGLE_LAYER_DRIVERS = frozenset({"GeoJSON", "GeoJSONSeq", "FlatGeobuf", "ESRIJSON"})
"""Formats of one layer only. GDAL parses a GeoJSON whole on every open, so the layer of such a
file is described (``read_info``) without listing it first: one parse fewer (about 2 s of 15
for 1M points). A TopoJSON named ``.geojson`` is not one: its objects are layers."""


def only_layer(info: dict[str, Any] | None) -> tuple[str, str | None] | None:
    """(name, geometry type) of the one layer ``info`` (a ``read_info`` of a file of a
    ``SINGLE_LAYER_DRIVERS`` format) describes, or None when GDAL read another driver."""
    if info is None or info.get("driver") not in SINGLE_LAYER_DRIVERS:
        return None
    gtype = info.get("geometry_type")
    return str(info["layer_name"]), None if gtype is None else str(gtype)


DRIVER_OF_FORMAT = {
    "geojson": "GeoJSON",
    "geojsonseq": "GeoJSONSeq",
    "gpkg": "GPKG",
    "sqlite": "SQLite",
    "kml": "LIBKML",
    "fgb": "FlatGeobuf",
    "gpx": "GPX",
    "gml": "GML",
    "topojson": "TopoJSON",
    "esrijson": "ESRIJSON",
    "dxf": "DXF",
    "tab": "MapInfo File",
    "mif": "MapInfo File",
    "osm": "OSM",
    "arrow": "Arrow",  # not in pyogrio's GDAL: ``read`` reads these with pyarrow (``arrow_ipc``)
}
SUFFIX_OF_FORMAT = {
    "zip": ".zip", "kmz": ".kmz", "shp": ".shp", "csv": ".csv", "parquet": ".parquet",
    "arrow": ".arrow",
    "geojson": ".geojson", "geojsonseq": ".geojsonl", "gpkg": ".gpkg", "kml": ".kml",
    "sqlite": ".sqlite", "fgb": ".fgb", "gpx": ".gpx", "gml": ".gml", "topojson": ".topojson",
    "esrijson": ".json",
    "dxf": ".dxf", "tab": ".tab", "mif": ".mif", "xlsx": ".xlsx", "ods": ".ods", "osm": ".osm",
}  # fmt: skip
"""The extension GDAL expects for each format (a file recognised by content is linked so)."""
# Formats recognised from content alone (lib.content's names -> ours).
_FORMAT_OF_CONTENT = {
    "ZIP": "zip", "GPKG": "gpkg", "SQLite": "sqlite", "Parquet": "parquet", "FlatGeobuf": "fgb",
    "Arrow": "arrow",
    "GeoJSON": "geojson", "GeoJSONSeq": "geojsonseq", "TopoJSON": "topojson",
    "ESRIJSON": "esrijson", "KML": "kml", "GPX": "gpx", "GML": "gml", "DXF": "dxf",
    "MapInfo TAB": "tab", "MapInfo MIF": "mif", "OSM": "osm",
}  # fmt: skip
# What the content may be for each declared format.
_CONTENT_OK = {
    "zip": {"zip"},
    "kmz": {"zip"},
    "shp": {"shp"},
    "csv": {"text"},
    "parquet": {"parquet"},
    "arrow": {"arrow"},
    "geojson": {"json"},
    "geojsonseq": {"json", "jsonseq"},
    "gpkg": {"sqlite"},
    "sqlite": {"sqlite"},
    "kml": {"xml"},
    "fgb": {"fgb"},
    "gpx": {"xml"},
    "gml": {"xml"},
    "topojson": {"json"},
    "dxf": {"text"},
    "tab": {"text"},
    "mif": {"text"},
    "xlsx": {"zip"},
    "ods": {"zip"},
    "osm": {"xml", "osmpbf"},
}
_DESCRIBE = {
    "zip": "a zip archive",
    "sqlite": "an SQLite database",
    "parquet": "a Parquet file",
    "arrow": "an Arrow IPC (Feather) file or stream",
    "fgb": "a FlatGeobuf file",
    "shp": "a Shapefile .shp",
    "dbf": "a dBase table (.dbf)",
    "json": "JSON text",
    "jsonseq": "JSON text sequence",
    "xml": "XML text",
    "text": "plain text",
    "binary": "unrecognized binary data",
    "osmpbf": "an OpenStreetMap PBF file",
}
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _looks_like_dbf(head: bytes) -> bool:
    """dBase header: version byte, then a plausible last-update date (YY MM DD)."""
    if len(head) < 32 or head[0] not in (0x03, 0x83, 0x8B, 0x30, 0x31, 0xF5):
        return False
    return 1 <= head[2] <= 12 and 1 <= head[3] <= 31


def detect_content(head: bytes) -> str:
    """A coarse content class from the first bytes of a file."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1") or is_arrow_stream(head):
        return "arrow"
    if head.startswith(b"fgb\x03"):
        return "fgb"
    if head.startswith(b"\x00\x00\x27\x0a"):
        return "shp"
    if is_osm_pbf(head):
        return "osmpbf"
    if _looks_like_dbf(head):
        return "dbf"
    text = head
    for bom in _BOMS:
        if text.startswith(bom):
            text = text[len(bom) :]
            if bom != codecs.BOM_UTF8:
                return "text"
    if b"\x00" in text[:4096]:
        return "binary"
    stripped = text.lstrip()
    if stripped.startswith(b"\x1e"):
        return "jsonseq"
    if stripped.startswith((b"{", b"[")):
        return "json"
    if stripped.startswith(b"<"):
        return "xml"
    return "text"


def check_file(path: Path, display: str) -> str:
    """The format of ``path`` (a key of ``SUFFIX_OF_FORMAT``), judged by content first (see
    the module docstring); ``FormatMismatchError`` or ``UnsupportedFormatError`` otherwise,
    ``EmptyDatasetError`` for a KML without placemarks (``kml_overlays``)."""
    fmt = _format(path, display)
    if fmt == "kml":
        require_placemarks(path, display)
    return fmt


def _format(path: Path, display: str) -> str:
    declared = FORMAT_OF_EXTENSION.get(path.suffix.lower())
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(65_536)
    except OSError as exc:
        raise UnreadableFileError(f"cannot read file: {exc}", path=display) from exc
    if size == 0:
        raise EmptyFileError("the file is empty (0 bytes)", path=display)
    content = detect_content(head)
    if content == "osmpbf":
        check_osm_blocks(path, display)
    if declared is not None and content in _CONTENT_OK[declared]:
        return declared
    found = format_of_content(head)
    if found is not None:
        return found
    if declared is not None:
        raise FormatMismatchError(
            f"named {path.suffix} but its content is {_DESCRIBE[content]}", path=display
        )
    ext = f"extension {path.suffix!r}" if path.suffix else "no extension"
    raise UnsupportedFormatError(
        f"not a vector format the platform reads ({ext}, content: {_DESCRIBE[content]})",
        path=display,
    )


def check_osm_blocks(path: Path, display: str) -> None:
    """Refuse an OpenStreetMap PBF whose blocks do not reach its end exactly: GDAL reads a
    truncated extract as empty layers, without an error. Only the block headers are read (a
    4-byte length, then a BlobHeader whose field 3 is the size of the block's data)."""
    size, offset = path.stat().st_size, 0
    with path.open("rb") as fh:
        while offset < size:
            fh.seek(offset)
            raw = fh.read(4)
            length = int.from_bytes(raw, "big") if len(raw) == 4 else -1
            header = fh.read(length) if 0 < length <= 64 * 1024 else b""
            data = _varint_field(header, 3)
            if data is None or offset + 4 + length + data > size:
                raise UnreadableFileError(
                    f"the OpenStreetMap PBF is truncated or corrupt (block at byte {offset} runs "
                    f"past the end of the {size}-byte file)",
                    path=display,
                )
            offset += 4 + length + data


def _varint_field(message: bytes, number: int) -> int | None:
    """The value of varint field ``number`` of a small protobuf message, else None."""
    pos = 0
    while pos < len(message):
        key, pos = _varint(message, pos)
        kind = key & 7
        if kind == 0:
            value, pos = _varint(message, pos)
            if key >> 3 == number:
                return value
        elif kind == 2:
            length, pos = _varint(message, pos)
            pos += length
        else:
            return None
    return None


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return -1, len(data) + 1  # ran out: reads as no such field


def format_of_content(head: bytes) -> str | None:
    """The vector format the first bytes positively show, else None (a loose ``.shp`` is
    never recognised this way: its sidecars are found by its name)."""
    fmt = sniff_head(head)
    if fmt == "CSV":
        return "csv" if csv_header_has_geometry(head) else None
    return _FORMAT_OF_CONTENT.get(fmt)


_XML_ENCODING = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def declared_xml_encoding(head: bytes) -> str | None:
    m = _XML_ENCODING.search(head[:1024])
    return m.group(1).decode("ascii") if m else None


def check_text_encoding(path: Path, display: str, fmt: str, encoding: str | None = None) -> None:
    """Refuse text that does not decode (UTF-8, or what a KML's XML declaration says)."""
    if fmt not in ("geojson", "geojsonseq", "kml", "csv"):
        return
    if fmt == "kml":
        with path.open("rb") as fh:
            encoding = declared_xml_encoding(fh.read(1024)) or "utf-8"
    first_bad = find_undecodable(path, encoding or "utf-8")
    if first_bad is not None:
        raise DecodingError(
            f"text is not valid {encoding or 'UTF-8'} (first bad byte at offset {first_bad})",
            path=display,
        )


def find_undecodable(path: Path, encoding: str, chunk: int = 1 << 20) -> int | None:
    """Byte offset of the first undecodable byte, or None when the whole file decodes."""
    with path.open("rb") as fh:
        return first_undecodable(fh, encoding, chunk)


def first_undecodable(fh: IO[bytes], encoding: str, chunk: int = 1 << 20) -> int | None:
    """``find_undecodable`` on an open binary stream (read to its end, block by block)."""
    try:
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    except LookupError:
        return 0
    offset = 0
    while True:
        block = fh.read(chunk)
        try:
            decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            return offset + exc.start
        if not block:
            return None
        offset += len(block)


RASTER_GPKG = ("tiles", "2d-gridded-coverage")


GPKG_STYLING = frozenset({"layer_styles", "qgis_projects"})
"""Attribute tables tools keep beside the data (QGIS styles and projects): not data."""


def gpkg_raster_tables(path: Path) -> list[str]:
    """The raster tables (tiles, gridded coverages) a GeoPackage declares in gpkg_contents; []
    for anything else or a file SQLite cannot read. GDAL's vector drivers do not see them."""
    return _gpkg_tables(path, RASTER_GPKG)


def gpkg_attribute_tables(path: Path) -> list[str]:
    """The attribute tables (no geometry column) a GeoPackage declares in gpkg_contents, QGIS's
    styling tables aside; [] for anything else. Only spatial layers become tables here."""
    return [t for t in _gpkg_tables(path, ("attributes",)) if t.lower() not in GPKG_STYLING]


def _gpkg_tables(path: Path, data_types: tuple[str, ...]) -> list[str]:
    import sqlite3

    try:
        uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            marks = ", ".join("?" for _ in data_types)
            rows = db.execute(
                f"SELECT table_name FROM gpkg_contents WHERE data_type IN ({marks}) ORDER BY 1",
                data_types,
            ).fetchall()
    except (sqlite3.Error, ValueError, OSError):
        return []
    return [str(r[0]) for r in rows]


def raster_gpkg_error(path: Path, display: str) -> UnsupportedFormatError | None:
    """The error for a GeoPackage that holds raster tiles and no vector layer, else None."""
    tables = gpkg_raster_tables(path)
    if not tables:
        return None
    return UnsupportedFormatError(
        f"a GeoPackage of raster tiles ({', '.join(map(repr, tables))}) without vector layers; "
        "raster GeoPackages are not published: convert it to a GeoTIFF (gdal_translate -of "
        "COG in.gpkg out.tif) and upload that",
        path=display,
    )
