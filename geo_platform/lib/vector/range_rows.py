"""Which rows of a CSV (or a sheet read as one) hold coordinates outside longitude -180..180 /
latitude -90..90: the rows a ``CoordinateRangeError`` names, so that a typo in row 4,900 of
5,001 can be found and corrected.

The loader cleans a layer in pieces, several at once, and does not know which row of the file
a piece starts at; on the error path only, the layer's geometries are read again, in order.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import shapely

from geo_platform.lib.errors import GeoPlatformError
from geo_platform.lib.vector.batches import iter_batches
from geo_platform.lib.vector.columns import geometry_index
from geo_platform.lib.vector.lonlat import TOLERANCE
from geo_platform.lib.vector.source import LayerSource

ROW_DRIVERS = ("CSV", "XLSX", "ODS")  # where a feature is a row a person can go to


def out_of_range(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Finite coordinates outside longitude -180..180 / latitude -90..90."""
    finite = np.isfinite(x) & np.isfinite(y)
    return finite & ((np.abs(x) > 180 + TOLERANCE) | (np.abs(y) > 90 + TOLERANCE))


def describe(rows: list[tuple[int, float, float]], total: int) -> str:
    """``" at row 4900 (lon=4.2, lat=95.1)"``: rows counted from 1 below the header; "" for
    none. ``total`` is how many rows are out of range (more than ``rows`` names)."""
    if not rows:
        return ""
    named = ", ".join(f"{r} (lon={x}, lat={y})" for r, x, y in rows)
    more = f" and {total - len(rows)} more" if total > len(rows) else ""
    return f" at row{'s' if len(rows) > 1 else ''} {named}{more} (rows counted below the header)"


def first_bad_rows(src: LayerSource, limit: int = 3) -> str:
    """``describe`` of the first ``limit`` rows of ``src`` out of range, read again from the
    file; "" for a layer that is not made of rows (or cannot be read again)."""
    if src.driver not in ROW_DRIVERS:
        return ""
    found: list[tuple[int, float, float]] = []
    total, offset = 0, 0
    try:
        for batch in iter_batches(src, 65_536, columns=[]):
            column = batch.column(geometry_index(batch.schema, src.geometry_column))
            geoms = shapely.from_wkb(column)
            b = shapely.bounds(geoms)
            lo, hi = out_of_range(b[:, 0], b[:, 1]), out_of_range(b[:, 2], b[:, 3])
            bad = np.flatnonzero(lo | hi)
            total += len(bad)
            for i in bad[: max(0, limit - len(found))]:
                j = 0 if lo[i] else 2
                found.append((offset + int(i) + 1, float(b[i, j]), float(b[i, j + 1])))
            offset += batch.num_rows
    except (GeoPlatformError, pa.ArrowException, shapely.errors.ShapelyError, KeyError):
        return ""
    return describe(found, total)
