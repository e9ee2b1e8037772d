"""The SRID a CSV geometry column carries itself: EWKT (``SRID=28992;POINT (155000 463000)``)
and hex-encoded (E)WKB, as PostGIS exports write it (``0101000020E6100000...``).

GDAL reads hex WKB and EWKB from a CSV column but drops their SRID, and reads no EWKT at all
(those rows would become null geometries). So when the sampled values carry an SRID prefix or
are hex, the whole column is read once as text:

- every row's SRID is counted (0 for a value that carries none: plain WKT or WKB);
- one SRID (not 0) is the layer's declared CRS, ``EPSG:<srid>``: it is not assumed, and it
  wins over ``assume_crs``, which only stands in for a CRS the data does not declare;
- values with different SRIDs (or some with one and some without) are refused with both SRIDs
  and their row counts: GDAL would read them all in one CRS;
- an SRID that is no EPSG code PROJ knows is an ``InvalidCRSError``, unless ``assume_crs``
  says what it is;
- an EWKT column is rewritten once into a temporary UTF-8 copy without the prefixes (held to
  ``max_transcode_bytes``), which GDAL then reads as WKT.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyogrio

from geo_platform.lib.errors import InvalidCRSError, UnsupportedFormatError
from geo_platform.lib.vector.geomtext import HEX_PATTERN, is_hex_wkb

EWKT_PREFIX = re.compile(r"^\s*SRID=(\d*)\s*;", re.IGNORECASE)
_STRIP = re.compile(
    r"SRID=\d+\s*;\s*(?=(?:POINT|LINESTRING|POLYGON|MULTI|GEOMETRYCOLLECTION|CIRCULARSTRING|"
    r"COMPOUNDCURVE|CURVEPOLYGON|TRIANGLE|TIN|POLYHEDRALSURFACE)\b)",
    re.IGNORECASE,
)
_SRID_FLAG = 0x20000000


def carries_srid_or_hex(values: list[Any]) -> bool:
    return any(v and (EWKT_PREFIX.match(str(v)) or is_hex_wkb(str(v))) for v in values)


def hex_xy(value: str) -> np.ndarray:
    """The (x, y) vertices of one hex (E)WKB value (empty when it does not parse)."""
    import shapely

    try:
        geom = shapely.from_wkb(value.strip())
    except Exception:
        return np.empty((0, 2))
    return np.asarray(shapely.get_coordinates(geom))


def column_srids(
    gdal_path: str, column: str, open_options: dict[str, str]
) -> tuple[Counter[int], int]:
    """(rows per SRID of a CSV text column (0: the value carries none), EWKT rows)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, table = pyogrio.read_arrow(
            gdal_path, columns=[column], read_geometry=False, **open_options,
            AUTODETECT_TYPE="NO", KEEP_GEOM_COLUMNS="YES",
        )  # fmt: skip
    values = pc.utf8_trim_whitespace(table.column(0).combine_chunks().cast(pa.string()))
    values = values.filter(pc.not_equal(values, ""))  # nulls and empty cells carry nothing
    counts: Counter[int] = Counter()
    found = pc.extract_regex(values, r"^(?i:SRID)=(?P<srid>\d+)\s*;")
    ewkt = found.filter(pc.is_valid(found)).field("srid")
    for row in pc.value_counts(ewkt).to_pylist():
        counts[int(row["values"])] += row["counts"]
    hexed = values.filter(pc.match_substring_regex(values, f"^{HEX_PATTERN}$"))
    for row in pc.value_counts(pc.utf8_slice_codeunits(hexed, 0, 18)).to_pylist():
        counts[_ewkb_srid(row["values"])] += row["counts"]
    rest = len(values) - sum(counts.values())
    if rest:
        counts[0] += rest
    return counts, len(ewkt)


def _ewkb_srid(head: str) -> int:
    """SRID in the first 9 bytes (hex) of an EWKB value; 0 for plain WKB."""
    order = "little" if head[:2] == "01" else "big"
    try:
        wkb_type = int.from_bytes(bytes.fromhex(head[2:10]), order)  # type: ignore[arg-type]
        if not wkb_type & _SRID_FLAG or len(head) < 18:
            return 0
        return int.from_bytes(bytes.fromhex(head[10:18]), order)  # type: ignore[arg-type]
    except ValueError:
        return 0


def declared_crs(
    base: Any, column: str, counts: Counter[int], assume_crs: str | None
) -> str | None:
    """``EPSG:<srid>`` when every row of ``column`` carries that one SRID, None when none
    does; mixed SRIDs are refused."""
    if len(counts) > 1:
        (a, na), (b, nb) = counts.most_common(2)
        raise UnsupportedFormatError(
            f"the geometry column {column!r} mixes SRIDs: {_srid(a)} in {na} "
            f"row{'s' if na > 1 else ''} and {_srid(b)} in {nb}; one file must hold one CRS "
            "(split it by SRID, or transform the geometries before export)",
            path=base.display,
        )
    srid = next(iter(counts), 0)
    if not srid:
        return None
    from pyproj import CRS

    try:
        CRS.from_user_input(f"EPSG:{srid}")
    except Exception as exc:
        if assume_crs:
            return assume_crs
        raise InvalidCRSError(
            f"the geometry column {column!r} declares SRID {srid}, which is no EPSG code "
            "PROJ knows; set assume_crs to the CRS it stands for",
            path=base.display,
        ) from exc
    return f"EPSG:{srid}"


def _srid(srid: int) -> str:
    return f"SRID {srid}" if srid else "no SRID"


def strip_ewkt(text: str) -> str:
    """``text`` without the ``SRID=<n>;`` prefixes of its EWKT values (GDAL reads the WKT)."""
    return _STRIP.sub("", text)


def prj_crs(base: Any) -> str | None:
    """The CRS a ``.prj`` beside the CSV declares (as a Shapefile's does: ``roads.csv`` and
    ``roads.prj``), as 'AUTH:CODE' or WKT; None without one. An empty or unreadable ``.prj``
    is an ``InvalidCRSError`` naming it, never ignored."""
    from pyproj import CRS

    from geo_platform.lib.vector.reproject import prj_sidecar

    text = prj_sidecar(base)
    if text is None:
        return None
    try:
        crs = CRS.from_user_input(text.strip())
    except Exception as exc:
        what = "is empty" if not text.strip() else f"is not a CRS PROJ can read ({text[:80]!r})"
        raise InvalidCRSError(
            f"its .prj sidecar {what}; fix the .prj, or remove it and configure assume_crs",
            path=base.display,
        ) from exc
    auth = crs.to_authority(min_confidence=90)
    return ":".join(auth) if auth else crs.to_wkt()
