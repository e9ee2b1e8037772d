"""The range of lon/lat coordinates: refused when they cannot be degrees, wrapped when they
are longitudes written past 180.

A layer whose CRS is (or is assumed to be) geographic must stay within longitude -180..180 and
latitude -90..90. Projected metres without a CRS and swapped lat/lon are refused with a hint.
Longitudes past +-180 with latitudes in range are the 0..360 convention (Pacific data, ocean
and climate products) or a feature drawn continuously across the antimeridian (Fiji from 177
to 181): such a longitude has one meaning, so when the layer's CRS is declared (or given with
``assume_crs``) the coordinates are wrapped into -180..180 and the lines and polygons cut at
the antimeridian (``antimeridian.wrap_longitudes``), and counted. When the CRS is only assumed
by convention (a CSV, a TopoJSON), out-of-range values are refused as before: the convention
is a guess, and such values say that it is wrong.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from geo_platform.lib.errors import CoordinateRangeError

# Degrees a geographic coordinate may overshoot +-180/+-90 (float rounding, float32 storage).
TOLERANCE = 1e-5


def beyond(x: np.ndarray) -> np.ndarray:
    """Longitudes past +-180 (beyond the rounding tolerance)."""
    return np.abs(x) > 180 + TOLERANCE


def check(
    x: np.ndarray,
    y: np.ndarray,
    *,
    wrap: bool,
    what: str,
    advice: str,
    path: str,
    where: Callable[[], str] | None = None,
) -> bool:
    """True when some longitudes are past +-180 and ``wrap`` allows wrapping them (every
    out-of-range coordinate is a longitude within +-360 with its latitude in range); raise
    ``CoordinateRangeError`` for anything else out of range. ``what`` names the CRS; ``where``
    (called only then) says where the first bad coordinates are (``" at row 12"``)."""
    finite = np.isfinite(x) & np.isfinite(y)
    bad = finite & (beyond(x) | (np.abs(y) > 90 + TOLERANCE))
    if not bad.any():
        return False
    bx, by = x[bad], y[bad]
    if wrap and (np.abs(bx) <= 360 + TOLERANCE).all() and (np.abs(by) <= 90 + TOLERANCE).all():
        return True
    i = int(np.flatnonzero(bad)[0])
    raise CoordinateRangeError(
        f"{int(bad.sum())} coordinate(s) outside longitude -180..180 / latitude -90..90 "
        f"of its {what} (first: lon={x[i]}, lat={y[i]}){where() if where else ''}; "
        f"{hint(bx, by, advice, int(finite.sum()))}",
        path=path,
    )


def wrap_points(x: np.ndarray) -> np.ndarray:
    """Longitudes past +-180 moved by 360 into -180..180."""
    return np.where(x > 180 + TOLERANCE, x - 360.0, np.where(x < -180 - TOLERANCE, x + 360.0, x))


def hint(
    x: np.ndarray,
    y: np.ndarray,
    advice: str,
    total: int | None = None,
    swapped: str = "x must be the longitude",
) -> str:
    """What the out-of-range coordinates (all finite) most likely mean. With ``total`` (the
    finite coordinates checked, bad ones included), a few bad ones among many good ones are
    typos, not a wrong CRS or swapped axes; ``swapped`` says how to swap them."""
    if (x > 180).all() and (x <= 360).all() and (np.abs(y) <= 90).all():
        return (
            "the longitudes look like the 0..360 convention, which is wrapped to -180..180 "
            "only when the CRS is declared, not assumed: set assume_crs to EPSG:4326 (or the "
            "file's geographic CRS) to have them wrapped"
        )
    far = (np.abs(x) > 360).any() or (np.abs(y) > 360).any()
    if total is not None and len(x) * 2 < total:
        what = "rows in another CRS (metres?) or typos" if far else "typos"
        return (
            f"only {len(x)} of {total} coordinates are out of range, the others fit: {what}? "
            "correct those rows in the file"
        )
    if far:
        return f"the coordinates look projected (metres?), not degrees: {advice}"
    if (np.abs(x) <= 90).all() and (np.abs(y) <= 180).all():
        return f"latitude and longitude look swapped ({swapped})"
    return f"are latitude and longitude swapped, or is the CRS not WGS84? {advice}"
