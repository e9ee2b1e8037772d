"""Coordinates written in degrees, minutes and seconds (``52°22'30.5"N``, ``4 53 12 E``,
``N 52° 22.508'``, ``-4:53:12``), as station lists, ship logs and survey sheets have them.

``parse(value, axis)`` gives decimal degrees, or None for text that is not one coordinate of
that axis: a hemisphere letter must fit the axis (N/S for latitude, E/W for longitude; S and W
are negative), given once, before or after; minutes and seconds are below 60; a decimal comma
is accepted. A plain decimal number parses too, so a column mixing both is read whole.

``rewrite_csv`` makes the copy GDAL reads: every row gains two decimal columns, named so they
cannot collide, which become the point geometry (and are not kept as attributes); the original
columns stay as they were written.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Literal

from geo_platform.lib.content import csv_separator

Axis = Literal["lat", "lon"]
LAT_COLUMN = "_geo_platform_lat"
LON_COLUMN = "_geo_platform_lon"
DMS_SHARE = 0.8
"""A lat/lon column pair is read as DMS when at least this share of sampled values parse."""

_NUM = r"\d+(?:[.,]\d+)?"
_DMS = re.compile(
    rf"""^\s*(?P<h1>[NSEWnsew])?\s*(?P<sign>[-+−])?\s*
    (?P<d>{_NUM})\s*(?:°|º|˚|deg|d|:|\s)?\s*
    (?:(?P<m>{_NUM})\s*(?:'|′|’|min|m|:|\s)?\s*)?
    (?:(?P<s>{_NUM})\s*(?:"|″|”|''|′′|sec|s)?\s*)?
    (?P<h2>[NSEWnsew])?\s*$""",
    re.VERBOSE,
)
_HEMISPHERES = {"lat": {"N": 1, "S": -1}, "lon": {"E": 1, "W": -1}}


def _number(text: str | None) -> float:
    return float(text.replace(",", ".")) if text else 0.0


def parse(value: object, axis: Axis) -> float | None:
    """Decimal degrees of one DMS (or decimal) coordinate; None when it is not one."""
    if value is None:
        return None
    m = _DMS.match(str(value))
    if m is None:
        return None
    h1, h2 = m.group("h1"), m.group("h2")
    if h1 and h2:
        return None
    letter = (h1 or h2 or "").upper()
    hemisphere = _HEMISPHERES[axis].get(letter, 0) if letter else 1
    if hemisphere == 0 or (letter and m.group("sign")):
        return None  # a letter of the other axis; or both a letter and a sign
    minutes, seconds = _number(m.group("m")), _number(m.group("s"))
    if minutes >= 60 or seconds >= 60 or (m.group("s") and not m.group("m")):
        return None
    degrees = _number(m.group("d")) + minutes / 60 + seconds / 3600
    if m.group("sign") in ("-", "−"):
        hemisphere = -1
    return hemisphere * degrees  # ranges are the CRS rule's to check (``csvsource``)


def is_dms(value: object, axis: Axis) -> bool:
    """True for a DMS coordinate that is not a plain decimal number."""
    text = str(value or "").strip()
    try:
        float(text.replace(",", "."))
        return False
    except ValueError:
        return parse(text, axis) is not None


def rewrite_csv(text: str, lat: str, lon: str) -> str:
    """``text`` (a whole CSV) with two decimal columns appended (``LAT_COLUMN``,
    ``LON_COLUMN``; empty when a value does not parse), in the file's own delimiter."""

    def point(row: list[str], names: list[str]) -> tuple[float | None, float | None]:
        i_lat, i_lon = names.index(lat), names.index(lon)
        y = parse(row[i_lat], "lat") if i_lat < len(row) else None
        x = parse(row[i_lon], "lon") if i_lon < len(row) else None
        return y, x

    return append_points(text, point)


def append_points(
    text: str, point: Callable[[list[str], list[str]], tuple[float | None, float | None]]
) -> str:
    """``text`` (a whole CSV) with ``LAT_COLUMN`` and ``LON_COLUMN`` appended, from
    ``point(row, header names)`` -> (lat, lon) (None: left empty), in the file's delimiter."""
    sep = csv_separator(text.split("\n", 1)[0])
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=sep, lineterminator="\n")
    header = next(rows)
    names = [h.strip().lstrip("\ufeff") for h in header]
    writer.writerow([*header, LAT_COLUMN, LON_COLUMN])
    for row in rows:
        if not row:
            continue
        y, x = point(row, names)
        writer.writerow([*row, "" if y is None else repr(y), "" if x is None else repr(x)])
    return out.getvalue()
