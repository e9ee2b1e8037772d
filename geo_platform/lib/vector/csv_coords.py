"""The coordinates of a CSV's sampled rows, and the check that a lon/lat CRS may be assumed
for them (``csvsource``'s CRS rule): lat/lon columns, degrees-minutes-seconds, coordinate pairs
in one column, or every vertex of WKT and hex WKB values.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from geo_platform.lib.errors import CoordinateRangeError
from geo_platform.lib.vector import coord_pair, csv_srid, dms


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
) -> tuple[np.ndarray, np.ndarray]:
    """x and y of the sampled rows (lon/lat columns, or every vertex of the WKT values)."""
    if mode == "latlon":
        return floats(sample.get(second or "", [])), floats(sample.get(first or "", []))
    if mode == "dms":
        lon = [dms.parse(v, "lon") for v in sample.get(second or "", [])]
        lat = [dms.parse(v, "lat") for v in sample.get(first or "", [])]
        return (np.asarray([np.nan if v is None else v for v in lon], dtype=float),
                np.asarray([np.nan if v is None else v for v in lat], dtype=float))  # fmt: skip
    if mode == "pair":  # ``second`` says the order: "lonlat" or "latlon"
        pairs = [coord_pair.parse(v, second == "lonlat") for v in sample.get(first or "", [])]
        return (np.asarray([p[1] if p else np.nan for p in pairs], dtype=float),
                np.asarray([p[0] if p else np.nan for p in pairs], dtype=float))  # fmt: skip
    xs: list[float] = []
    ys: list[float] = []
    for value in sample.get(first or "", []):
        if value and csv_srid.is_hex_wkb(str(value)):
            vertices = csv_srid.hex_xy(str(value))
            xs.extend(vertices[:, 0].tolist())
            ys.extend(vertices[:, 1].tolist())
            continue
        # A vertex is the run of numbers between two of "(", ")" and ",": its first two are
        # x and y whatever the dimension (Z, M) or geometry type (curves included).
        for chunk in _WKT_SPLIT.split(str(value or "")):
            numbers = _NUMBER.findall(chunk)
            if len(numbers) >= 2:
                xs.append(float(numbers[0]))
                ys.append(float(numbers[1]))
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)


_WKT_SPLIT = re.compile(r"[(),]")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)\b", re.I)


def require_lonlat(x: np.ndarray, y: np.ndarray, crs: str, display: str) -> None:
    """Refuse to assume a lon/lat CRS for coordinates outside its ranges (sampled rows)."""
    n = min(len(x), len(y))
    x, y = x[:n], y[:n]
    bad = np.isfinite(x) & np.isfinite(y) & ((np.abs(x) > 180 + _TOL) | (np.abs(y) > 90 + _TOL))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CoordinateRangeError(
            f"the CSV declares no CRS and its coordinates do not fit longitude -180..180 / "
            f"latitude -90..90 (first: x={x[i]}, y={y[i]}), so {crs} cannot be assumed; "
            "set assume_crs to their CRS (e.g. EPSG:25832 for UTM zone 32N metres)",
            path=display,
        )


_TOL = 1e-5  # as the loader's range check (``lonlat.TOLERANCE``)
