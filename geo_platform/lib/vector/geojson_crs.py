"""A GeoJSON file's declared ``crs`` member, checked against what GDAL made of it.

RFC 7946 GeoJSON is WGS84 longitude/latitude, but the older 2008 spec let a file declare another
CRS in a top-level ``crs`` member, and many files still do. GDAL honours the forms it knows
(``{"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32632"}}``,
``{"type": "EPSG", "properties": {"code": 2056}}``) and silently falls back to EPSG:4326 for the
others (an unknown code, a ``link`` to a PROJ string, a typo). A file that says its coordinates
are in some CRS must not be published as if they were lon/lat: ``declared_crs_problem`` says
when the declaration is not what GDAL read, so that the layer fails with ``InvalidCRSError``
(or takes ``assume_crs`` when configured).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from geo_platform.lib.vector.reproject import WGS84_LONLAT

HEAD_BYTES = 1 << 20
"""The ``crs`` member is looked for in the first MiB (writers put it before ``features``)."""

_CRS_KEY = re.compile(rb'"crs"\s*:\s*')


def declared_crs(path: Path) -> Any | None:
    """The top-level ``crs`` member's value, or None (absent, null or beyond ``HEAD_BYTES``).

    Only a ``crs`` key at the top level counts: one inside a feature's properties is data.
    """
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    for i, m in enumerate(_CRS_KEY.finditer(head)):
        if i == 5:  # "crs" in the data itself, not a declaration near the top
            break
        if _depth(head, m.start()) != 1:
            continue
        text = head[m.end() :].decode("utf-8", errors="replace")
        try:
            value, _ = json.JSONDecoder().raw_decode(text)
        except ValueError:
            return None
        return value
    return None


def _depth(data: bytes, end: int) -> int:
    """Object/array nesting depth at ``end`` (brackets inside strings not counted)."""
    depth = 0
    in_string = escaped = False
    for byte in data[:end]:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):
            depth += 1
        elif byte in (0x7D, 0x5D):
            depth -= 1
    return depth


def describe(value: Any) -> str:
    """The declaration as a user wrote it, shortened."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 160 else text[:157] + "..."


def _spelled(value: Any) -> str | None:
    """The CRS the declaration names, in a form pyproj may read, or None."""
    if not isinstance(value, dict):
        return None
    props = value.get("properties")
    if not isinstance(props, dict):
        return None
    kind = str(value.get("type", "")).lower()
    if kind == "name" and isinstance(props.get("name"), str):
        return str(props["name"])
    if kind == "epsg" and props.get("code") is not None:
        return f"EPSG:{props['code']}"
    return None


def declared_crs_problem(path: Path, gdal_crs: str | None) -> str | None:
    """Why the declared ``crs`` of a GeoJSON file disagrees with GDAL's reading, or None.

    None when there is no declaration, or when GDAL read the CRS the file declares. GDAL
    falls back to EPSG:4326 for a declaration it cannot resolve: that fallback is the problem.
    """
    from pyproj import CRS

    value = declared_crs(path)
    if value is None:
        return None
    if gdal_crs not in WGS84_LONLAT:  # GDAL resolved a projected or other CRS from it
        return None
    spelled = _spelled(value)
    if spelled is not None:
        try:
            crs = CRS.from_user_input(spelled)
        except Exception:
            crs = None
        if crs is not None and crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
            return None
    return (
        f"the GeoJSON declares the CRS {describe(value)}, which GDAL does not recognise "
        "(it would read the coordinates as EPSG:4326 longitude/latitude); correct the "
        "file's 'crs' member, or set assume_crs to the CRS of its coordinates"
    )
