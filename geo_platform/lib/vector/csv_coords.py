"""The coordinates of a CSV's sampled rows, and the check that a lon/lat CRS may be assumed
for them (``csvsource``'s CRS rule): lat/lon columns, degrees-minutes-seconds, coordinate pairs
in one column, or every vertex of WKT and hex WKB values.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from geo_platform.lib.errors import CoordinateRangeError
from geo_platform.lib.vector import coord_pair, csv_srid, dms, lonlat, range_rows


def floats(values: list[Any]) -> np.ndarray:
    out = []
    for v in values:
        try:
            out.append(float(str(v).replace(",", ".")))
        except ValueError:
            out.append(np.nan)
    return np.asarray(out, dtype=float)


def sampled_xy(
    mode: str, first: str | None, second: str | None, sample: dict[str, list[Any]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y and row (counted from 1 below the header) of the sampled rows' coordinates: their
    lon/lat columns, or every vertex of their WKT values."""
    if mode == "latlon":
        x, y = floats(sample.get(second or "", [])), floats(sample.get(first or "", []))
        return x, y, np.arange(1, len(x) + 1)
    if mode == "dms":
        lon = [dms.parse(v, "lon") for v in sample.get(second or "", [])]
        lat = [dms.parse(v, "lat") for v in sample.get(first or "", [])]
        return (np.asarray([np.nan if v is None else v for v in lon], dtype=float),
                np.asarray([np.nan if v is None else v for v in lat], dtype=float),
                np.arange(1, len(lon) + 1))  # fmt: skip
    if mode == "pair":  # ``second`` says the order: "lonlat" or "latlon"
        pairs = [coord_pair.parse(v, second == "lonlat") for v in sample.get(first or "", [])]
        return (np.asarray([p[1] if p else np.nan for p in pairs], dtype=float),
                np.asarray([p[0] if p else np.nan for p in pairs], dtype=float),
                np.arange(1, len(pairs) + 1))  # fmt: skip
    xs: list[float] = []
    ys: list[float] = []
    rows: list[int] = []
    for row, value in enumerate(sample.get(first or "", []), 1):
        if value and csv_srid.is_hex_wkb(str(value)):
            vertices = csv_srid.hex_xy(str(value))
            xs.extend(vertices[:, 0].tolist())
            ys.extend(vertices[:, 1].tolist())
            rows.extend([row] * len(vertices))
            continue
        # A vertex is the run of numbers between two of "(", ")" and ",": its first two are
        # x and y whatever the dimension (Z, M) or geometry type (curves included).
        for chunk in _WKT_SPLIT.split(str(value or "")):
            numbers = _NUMBER.findall(chunk)
            if len(numbers) >= 2:
                xs.append(float(numbers[0]))
                ys.append(float(numbers[1]))
                rows.append(row)
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), np.asarray(rows, dtype=int)


_WKT_SPLIT = re.compile(r"[(),]")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)\b", re.I)


def require_lonlat(
    x: np.ndarray, y: np.ndarray, crs: str, display: str, rows: np.ndarray | None = None
) -> None:
    """Refuse to assume a lon/lat CRS for coordinates outside its ranges (sampled rows), saying
    what is wrong (swapped columns, 0..360 longitudes, projected metres, a few typos) and
    naming the first rows out of range (``rows``: each coordinate's row)."""
    n = min(len(x), len(y))
    x, y = x[:n], y[:n]
    rows = np.arange(1, n + 1) if rows is None else rows[:n]
    bad = range_rows.out_of_range(x, y)
    if not bad.any():
        return
    first: dict[int, tuple[int, float, float]] = {}  # a WKT row's first bad vertex
    for i in np.flatnonzero(bad):
        first.setdefault(int(rows[i]), (int(rows[i]), float(x[i]), float(y[i])))
    found = list(first.values())
    checked = int((np.isfinite(x) & np.isfinite(y)).sum())
    at = range_rows.describe(found[:3], len(found))
    raise CoordinateRangeError(
        f"the CSV declares no CRS and {int(bad.sum())} of its {checked} sampled coordinates do "
        f"not fit longitude -180..180 / latitude -90..90{at}, so {crs} cannot be assumed; "
        + lonlat.hint(x[bad], y[bad], _ADVICE, checked, swapped=_SWAP),
        path=display,
    )


_ADVICE = "set assume_crs to their CRS (e.g. EPSG:25832 for UTM zone 32N metres)"
_SWAP = "the column read as latitude holds longitudes: swap the two column names, or set the "
_SWAP += "lat_column and lon_column options"
