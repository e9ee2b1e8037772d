"""Text that holds a geometry: WKT, EWKT (``SRID=28992;POINT (...)``) or hex (E)WKB.

Only ``re``: the sensor's content sniffing uses it on a file's first bytes.
"""

from __future__ import annotations

import re

WKT_START = re.compile(
    r"^\s*(SRID=\d+;\s*)?(POINT|LINESTRING|POLYGON|MULTIPOINT|MULTILINESTRING|MULTIPOLYGON|"
    r"GEOMETRYCOLLECTION|CIRCULARSTRING|COMPOUNDCURVE|CURVEPOLYGON|MULTICURVE|MULTISURFACE|"
    r"TRIANGLE|TIN|POLYHEDRALSURFACE)\b",
    re.IGNORECASE,
)
HEX_PATTERN = r"0[01](?:[0-9A-Fa-f]{2}){4,}"  # byte order 00/01, then at least a 4-byte type
HEX_WKB = re.compile(rf"^\s*{HEX_PATTERN}\s*$")


def is_hex_wkb(value: str) -> bool:
    """True for a hex-encoded WKB or EWKB value (byte order 00/01, then at least a type)."""
    return bool(HEX_WKB.match(value))


def is_geometry_text(value: str) -> bool:
    """True for a WKT, EWKT or hex (E)WKB value."""
    return bool(WKT_START.match(value)) or is_hex_wkb(value)
