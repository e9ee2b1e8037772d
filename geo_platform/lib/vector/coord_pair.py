"""Both coordinates of a point in one CSV column: ``"52.1, 4.3"``, ``"(41.88, -87.62)"``, and
the address-then-point cells of Socrata exports (``"123 Main St\\nChicago, IL\\n(41.88,
-87.62)"``), as open-data portals and spreadsheets write them.

A column is such a pair when its name says so (``location``, ``coordinates``, ``latlng``,
``lonlat``... ``PAIR_NAMES``) and most sampled values end in two numbers (``PAIR_SHARE``). The
order is latitude first, as these exports write it, unless the name says longitude first
(``lnglat``, ``lonlat``, ``xy``) or the values do (a first number beyond +-90 where every
second one is within it). The text column is kept; decimal copies become the point
(``dms.append_points``), and the CRS rule of ``csvsource`` applies as for lat/lon columns.
"""

from __future__ import annotations

import re
from typing import Any

from geo_platform.lib.vector import dms

PAIR_NAMES = frozenset(
    {"location", "location1", "coordinates", "coordinate", "coords", "coord", "latlng",
     "latlon", "latlong", "lnglat", "lonlat", "longlat", "xy", "position", "point", "gps",
     "geolocation", "geopoint", "geocoordinates", "koordinaten", "coordonnees", "coordenadas",
     "coordinaten", "sijainti"}
)  # fmt: skip
LON_FIRST_NAMES = frozenset({"lnglat", "lonlat", "longlat", "xy"})
PAIR_SHARE = 0.8
"""A pair-named column is read as coordinates when at least this share of sampled values is."""

_NUM = r"[-+]?\d+(?:\.\d+)?"
_PAIR = re.compile(
    rf"^\s*\(?\s*({_NUM})\s*[,;]\s*({_NUM})\s*\)?\s*$"  # the whole cell: "52.1, 4.3", "(52.1;4.3)"
    rf"|\(\s*({_NUM})\s*,\s*({_NUM})\s*\)\s*$"  # after an address: "...\n(41.88, -87.62)"
    rf"|^\s*({_NUM})\s+({_NUM})\s*$"  # "52.1 4.3"
)


def numbers(value: object) -> tuple[float, float] | None:
    """The two numbers a cell ends with (in the order written), or None."""
    m = _PAIR.search(str(value or ""))
    if m is None:
        return None
    a, b = next((m.group(i), m.group(i + 1)) for i in (1, 3, 5) if m.group(i) is not None)
    return float(a), float(b)


def parse(value: object, lon_first: bool) -> tuple[float, float] | None:
    """(lat, lon) of a cell, or None."""
    pair = numbers(value)
    if pair is None:
        return None
    return (pair[1], pair[0]) if lon_first else pair


def pair_column(
    fields: list[str], sample: dict[str, list[Any]], normalize: Any
) -> tuple[str, bool] | None:
    """(column, lon_first) of the first pair column among ``fields``, or None."""
    for f in fields:
        name = normalize(f)
        if name not in PAIR_NAMES:
            continue
        values = [v for v in sample.get(f, []) if v not in (None, "")]
        pairs = [p for p in map(numbers, values) if p is not None]
        if not values or len(pairs) < PAIR_SHARE * len(values):
            continue
        data_says_lon_first = any(abs(a) > 90 for a, _ in pairs) and all(
            abs(b) <= 90 for _, b in pairs
        )
        return f, name in LON_FIRST_NAMES or data_says_lon_first
    return None


def why_not(fields: list[str], sample: dict[str, list[Any]], normalize: Any) -> str:
    """Why a pair-named column was not taken (for the error), or ""."""
    for f in fields:
        values = [str(v) for v in sample.get(f, []) if v not in (None, "")]
        bad = [v for v in values if numbers(v) is None]
        if normalize(f) in PAIR_NAMES and values:
            return (
                f"; column {f!r} is named like a coordinate pair but {len(bad)} of {len(values)} "
                f"sampled values are not two numbers (e.g. {bad[0][:40]!r})"
            )
    return ""


def rewrite_csv(text: str, column: str, lon_first: bool) -> str:
    """``text`` with the decimal latitude and longitude of ``column`` appended."""

    def point(row: list[str], names: list[str]) -> tuple[float | None, float | None]:
        i = names.index(column)
        found = parse(row[i], lon_first) if i < len(row) else None
        return found if found is not None else (None, None)

    return dms.append_points(text, point)
