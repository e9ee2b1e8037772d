"""Files cut short (an interrupted upload or download) that GDAL would read without a word.

GDAL refuses a truncated GeoPackage, FlatGeobuf, zip or FeatureCollection, but reads what is
there of others and stops: a Shapefile loses its last records (``fread`` fails and the
feature comes back without a geometry, counted as a null), a GeoJSON text sequence gives its
cut last feature (coordinates read from the middle of a number), a CSV's last quoted field runs
to the end of the file. Each is refused here, before GDAL sees it, with an
``UnreadableFileError`` naming the file and what is missing:

- Shapefile: the ``.shp`` and ``.shx`` headers give the file's length (in 16-bit words), the
  ``.dbf`` header its record count and record size: a part shorter than its header says is
  truncated (one longer is tolerated, as GDAL does);
- GeoJSON text sequence (``.geojsonl``, ``.geojsons``): the last record must end with ``}``;
- GPX and GML: the file must end with the closing tag of its root element (GDAL stops at the
  cut and reports the features before it, or none);
- CSV: the number of double quotes must be even. A field is quoted as a whole, a quote inside
  it doubled; an odd count means a quoted field never closes (GDAL itself then reads the rest
  of the file into it). Files in UTF-16 or UTF-32, whose code units can hold the byte of a
  quote, are not counted.
"""

from __future__ import annotations

import re
import struct
from typing import IO

from geo_platform.lib.errors import UnreadableFileError

_SHAPE_HEADER = 28  # file code (4), unused (20), length in 16-bit words (4): big-endian
_DBF_HEADER = 12  # version (1), date (3), records (4), header bytes (2), record bytes (2)
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


def check_shapefile_part(ext: str, head: bytes, size: int, name: str, display: str) -> None:
    """Refuse the Shapefile part ``name`` (``.shp``, ``.shx`` or ``.dbf``, by ``ext``) when it
    is shorter than its header (``head``: its first bytes) says."""
    ext = ext.lower()
    if ext in (".shp", ".shx") and len(head) >= _SHAPE_HEADER:
        (words,) = struct.unpack_from(">i", head, 24)
        expected = 2 * words
        what = f"its header gives its length as {expected:,} bytes"
    elif ext == ".dbf" and len(head) >= _DBF_HEADER:
        records, header, record = struct.unpack_from("<IHH", head, 4)
        expected = header + records * record
        what = f"its header gives {records:,} records of {record} bytes ({expected:,} bytes)"
    else:
        return
    if size < expected:
        raise UnreadableFileError(
            f"{name} is truncated: {what}, the file holds {size:,} bytes (an interrupted "
            "upload or download?)",
            path=display,
        )


def check_sequence_end(tail: bytes, display: str) -> None:
    """Refuse a GeoJSON text sequence whose last record (``tail``: the file's last bytes) does
    not end with ``}``."""
    end = tail.rstrip(b" \t\r\n\x1e")
    if end and not end.endswith(b"}"):
        raise UnreadableFileError(
            "the last record is cut short (it does not end with '}'): the file is truncated",
            path=display,
        )


_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)[\s>/]")
_TRAILING_COMMENTS = re.compile(rb"(\s*<!--.*?-->)+\s*$", re.S)
_PROLOGUE = re.compile(rb"\s*(<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)", re.S)


def check_xml_end(head: bytes, tail: bytes, display: str) -> None:
    """Refuse an XML file (``head``, ``tail``: its first and last bytes) that does not end with
    the closing tag of its root element. Files in UTF-16 or UTF-32 are not checked."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00")):
        return
    body = head.removeprefix(b"\xef\xbb\xbf")
    while (prologue := _PROLOGUE.match(body)) is not None:
        body = body[prologue.end() :]
    root = _ROOT.match(body.lstrip())
    if root is None:
        return
    end = b"</" + root.group(1) + b">"
    last = _TRAILING_COMMENTS.sub(b"", tail).rstrip()
    if not last.endswith(end) and not last.endswith(b"/>"):  # "/>": an empty root element
        raise UnreadableFileError(
            f"the file does not end with {end.decode(errors='replace')}, the closing tag of its "
            "root element: it is truncated (an interrupted upload or download?)",
            path=display,
        )


def check_csv_quotes(stream: IO[bytes], display: str, chunk: int = 1 << 22) -> None:
    """Refuse a CSV whose double quotes do not pair up (see the module docstring)."""
    first = stream.read(chunk)
    if first.startswith(_WIDE_BOMS) or b"\x00" in first[:4096]:
        return
    count, data = 0, first
    while data:
        count += data.count(b'"')
        data = stream.read(chunk)
    if count % 2:
        raise UnreadableFileError(
            "a quoted field never closes (the file holds an odd number of double quotes): the "
            'file is truncated, or a quote inside a field is not doubled ("")',
            path=display,
        )
