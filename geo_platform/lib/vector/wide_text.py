"""JSON text in UTF-16 or UTF-32 (Windows PowerShell's ``Out-File`` and ``>`` write UTF-16):
GDAL reads JSON in UTF-8 only, so such a GeoJSON, GeoJSONSeq, TopoJSON or Esri JSON is read
from a UTF-8 copy in a private folder (named as the file), transcoded as it streams. XML
formats (KML, GML, GPX) declare their encoding and GDAL reads them as they are; a CSV's
encoding is handled by the CSV reader."""

from __future__ import annotations

import codecs
import shutil
from pathlib import Path

from geo_platform.lib.gdal_paths import LinkDir
from geo_platform.lib.vector.geojson_array import Wrapped

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, which it starts with
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def if_wide_json(path: Path) -> Wrapped | None:
    """The UTF-8 copy of ``path`` when it is JSON text in UTF-16 or UTF-32 (by its byte order
    mark), else None."""
    with path.open("rb") as fh:
        head = fh.read(64)
    encoding = next((enc for bom, enc in _BOMS if head.startswith(bom)), None)
    if encoding is None:
        return None
    text = head.decode(encoding, errors="ignore").lstrip("\ufeff \t\r\n")
    if not text.startswith(("{", "[")):
        return None
    holder = Wrapped(LinkDir(), path.name)
    with path.open("rb") as raw, holder.path.open("w", encoding="utf-8") as dst:
        shutil.copyfileobj(codecs.getreader(encoding)(raw), dst, 1 << 20)
    return holder
