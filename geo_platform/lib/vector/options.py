"""Configuration of vector ingestion: one frozen record the wiring builds from settings/config.

Defaults encode the platform's documented rules (see ``geo_platform/lib/vector/__init__.py``):
missing CRS fails, null/empty geometries are dropped and counted, empty layers are skipped, and
CSV coordinate columns are detected from common names in several languages.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Literal

from geo_platform.lib.errors import ConfigError

# Names are compared after lowercasing, folding accents and dropping everything but [a-z0-9]
# ("Länge" -> "lange", "lat_dd" -> "latdd"). Order matters: earlier names win.
DEFAULT_LAT_NAMES: tuple[str, ...] = (
    "latitude", "lat", "latdd", "latdeg", "latitudedeg", "decimallatitude", "latwgs84",
    "wgs84lat", "geolat", "latitud", "latitudine", "breite", "breitengrad", "geobreite",
    "breedtegraad", "szerokosc", "leveysaste", "pointy", "ycoord", "ycoordinate",
    "coordy", "y", "northing", "hochwert",
)  # fmt: skip
DEFAULT_LON_NAMES: tuple[str, ...] = (
    "longitude", "lon", "lng", "long", "londd", "lngdd", "londeg", "longitudedeg",
    "decimallongitude", "lonwgs84", "wgs84lon", "geolon", "geolng", "longitud", "longitudine",
    "laenge", "lange", "laengengrad", "langengrad", "geolaenge", "lengtegraad",
    "dlugosc", "pituusaste", "pointx", "xcoord", "xcoordinate", "coordx", "x", "easting",
    "rechtswert",
)  # fmt: skip
DEFAULT_WKT_NAMES: tuple[str, ...] = (
    "wkt", "geom", "geometry", "thegeom", "wktgeom", "geomwkt", "geometrywkt", "shape",
    "geometrie", "geometria", "wkbgeometry", "wkb", "ewkb", "hexwkb", "geomwkb", "hexewkb",
)  # fmt: skip

EmptyLayerPolicy = Literal["skip", "publish"]


@dataclass(frozen=True)
class VectorOptions:
    """How to read and clean one bronze vector file.

    - ``layer``: publish only this layer (``UnknownLayerError`` if absent); default all layers.
    - ``assume_crs``: CRS for layers without one (e.g. "EPSG:4326"); unset -> MissingCRSError.
    - ``keep_null_geometries`` / ``keep_empty_geometries``: keep such rows (geometry NULL or
      empty) instead of dropping and counting them.
    - ``lat_column`` / ``lon_column`` / ``wkt_column``: CSV geometry columns; detected from the
      ``*_names`` lists when unset.
    - ``csv_crs``: CRS of CSV coordinate columns when ``assume_crs`` is unset (lat/lon columns
      are WGS84 by convention; a WKT column has no such convention and needs ``assume_crs``).
    - ``encoding``: text encoding of Shapefile DBFs / CSV files whose bytes are not UTF-8.
    - ``empty_layers``: "skip" (default) drops layers without features; "publish" writes an
      empty table. A file whose every layer is empty raises ``EmptyDatasetError`` under "skip".
    - ``max_archive_bytes`` / ``max_archive_ratio`` / ``max_archive_members``: zip bomb limits.
    """

    layer: str | None = None
    assume_crs: str | None = None
    keep_null_geometries: bool = False
    keep_empty_geometries: bool = False
    lat_column: str | None = None
    lon_column: str | None = None
    wkt_column: str | None = None
    csv_crs: str = "EPSG:4326"
    lat_names: tuple[str, ...] = DEFAULT_LAT_NAMES
    lon_names: tuple[str, ...] = DEFAULT_LON_NAMES
    wkt_names: tuple[str, ...] = DEFAULT_WKT_NAMES
    encoding: str | None = None
    empty_layers: EmptyLayerPolicy = "skip"
    batch_size: int = 65_536
    max_archive_bytes: int = 8 * 1024**3
    max_archive_ratio: float = 200.0
    max_archive_members: int = 20_000
    max_transcode_bytes: int = 512 * 1024**2


def gdal_encoding(name: str) -> str:
    """A Python encoding name as GDAL/iconv spell it ('latin-1' -> 'ISO-8859-1').

    GDAL silently ignores names it does not know (and then reads the bytes undecoded), so the
    name is normalized through Python's codec registry first.
    """
    try:
        canonical = codecs.lookup(name).name  # 'iso8859-1', 'cp1252', 'utf-8', 'shift_jis'
    except LookupError as exc:
        raise ConfigError(f"unknown text encoding {name!r}") from exc
    m = re.fullmatch(r"iso8859-(\d+)", canonical)
    if m:
        return f"ISO-8859-{m.group(1)}"
    return canonical.upper().replace("_", "-") if canonical != "shift_jis" else "SHIFT_JIS"
