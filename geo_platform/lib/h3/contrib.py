"""What each geometry contributes to the H3 cells it touches (the input of the DuckDB GROUP BY).

Every feature becomes rows ``(cell, fid, points, length_m, area_m2, share)``; DuckDB then sums
them per cell. Measures are on the sphere H3 itself uses (authalic radius 6,371,007.18 m), so
they add up exactly to H3's own cell areas:

- **points**: each point (each part of a MultiPoint) counts 1 in the cell that contains it.
- **lines**: each segment is divided along its great circle into pieces no longer than half the
  cell edge length; each piece's length goes to the cell holding its midpoint. Totals equal the
  great-circle length of the source exactly; per cell, a piece that straddles a cell boundary is
  credited to one side (at most half an edge length of error per crossing).
- **polygons**: cells fully inside a polygon get their whole area; cells on its boundary get
  their area times the share of the cell covered, measured on the sphere (``cover``: exact for
  polygons that cross the antimeridian or cover a pole). Polygon edges are straight lines in
  lon/lat, as PostGIS ``geometry`` and H3's polyfill read them; the source total they are
  checked against is the spherical area of that shape (edges densified to 0.05 degrees).
  Overlapping polygons add up, so ``share`` can exceed 1 where the data overlaps itself.

h3-py has no array API, so cell ids are computed with one h3 call per point (about 0.6 s per
million); everything else is numpy/shapely on whole batches. ``file_contributions`` streams a
lon/lat GeoParquet file batch by batch; point layers (one-point MultiPoints, as the vector stage
writes them) are read straight from the WKB bytes, without shapely objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from h3.api import basic_int as h3i
from pyproj import Geod

from geo_platform.lib.errors import (
    InputError,
    InvalidCRSError,
    TooLargeError,
    UnreadableFileError,
)
from geo_platform.lib.h3 import cover
from geo_platform.lib.h3.sphere import EARTH_RADIUS_M, unit_vectors
from geo_platform.lib.vector.geoparquet import read_geo_metadata
from geo_platform.lib.vector.wkb import binary_parts

SPHERE = Geod(a=EARTH_RADIUS_M, b=EARTH_RADIUS_M)
BATCH_ROWS = 131_072
_LONLAT_CRS = {"EPSG:4326", "OGC:CRS84", "EPSG:4979", "OGC:CRS84H"}
MAX_PIECES = 2_000_000  # line pieces per emitted batch (bounds memory)
MAX_POLYGON_CELLS = 5_000_000  # per polygon: the polyfill lists every covered cell
EDGE_STEP_DEG = 0.05
CONTRIB_SCHEMA = pa.schema(
    [
        ("cell", pa.int64()),
        ("fid", pa.int64()),
        ("points", pa.int64()),
        ("length_m", pa.float64()),
        ("area_m2", pa.float64()),
        ("share", pa.float64()),
    ]
)
_POINT, _LINE, _RING, _POLYGON = 0, 1, 2, 3
_SIMPLE_TYPES = (_POINT, _LINE, _RING, _POLYGON)


@dataclass
class SourceTotals:
    """Totals measured on the source geometries themselves (to check the aggregation)."""

    rows: int = 0
    empty_rows: int = 0
    point_rows: int = 0
    line_rows: int = 0
    polygon_rows: int = 0
    points: int = 0
    line_length_m: float = 0.0
    polygon_area_m2: float = 0.0
    kinds: set[str] = field(default_factory=set)


def latlng_to_cells(lat: np.ndarray, lng: np.ndarray, resolution: int) -> np.ndarray:
    """H3 cells (int64) of coordinate arrays (one h3 call per point: h3-py has no array API)."""
    return cover.latlng_to_cells(lat, lng, resolution).view(np.int64)


def _rows(cell: np.ndarray, fid: np.ndarray, **measures: np.ndarray) -> pa.RecordBatch:
    n = len(cell)
    cols = {
        "cell": cell,
        "fid": fid,
        "points": measures.get("points", np.zeros(n, np.int64)),
        "length_m": measures.get("length_m", np.zeros(n)),
        "area_m2": measures.get("area_m2", np.zeros(n)),
        "share": measures.get("share", np.zeros(n)),
    }
    return pa.record_batch([pa.array(cols[f.name]) for f in CONTRIB_SCHEMA], schema=CONTRIB_SCHEMA)


def simple_parts(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(parts, owner index): multi-geometries and collections exploded into simple ones."""
    parts, owner = geoms, np.arange(len(geoms))
    for _ in range(4):  # nested collections are rare; a few rounds flatten any sane input
        types = shapely.get_type_id(parts)
        if np.isin(types, _SIMPLE_TYPES).all():
            break
        parts, idx = shapely.get_parts(parts, return_index=True)
        owner = owner[idx]
    keep = ~shapely.is_empty(parts) & np.isin(shapely.get_type_id(parts), _SIMPLE_TYPES)
    return parts[keep], owner[keep]


def contributions(
    geoms: np.ndarray, fid0: int, resolution: int, totals: SourceTotals
) -> Iterator[pa.RecordBatch]:
    """Contribution rows of one batch of shapely geometries (row ids start at ``fid0``)."""
    totals.rows += len(geoms)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    totals.empty_rows += int((~present).sum())
    parts, owner = simple_parts(geoms[present])
    fids = np.flatnonzero(present)[owner] + fid0
    types = shapely.get_type_id(parts)
    for kind, mask in (
        ("points", types == _POINT),
        ("lines", (types == _LINE) | (types == _RING)),
        ("polygons", types == _POLYGON),
    ):
        if not mask.any():
            continue
        totals.kinds.add(kind)
        n_rows = len(np.unique(fids[mask]))
        if kind == "points":
            totals.point_rows += n_rows
            yield _point_rows(parts[mask], fids[mask], resolution, totals)
        elif kind == "lines":
            totals.line_rows += n_rows
            yield from _line_rows(parts[mask], fids[mask], resolution, totals)
        else:
            totals.polygon_rows += n_rows
            yield from _polygon_rows(parts[mask], fids[mask], resolution, totals)


def point_contributions(
    lng: np.ndarray, lat: np.ndarray, fids: np.ndarray, resolution: int, totals: SourceTotals
) -> pa.RecordBatch:
    """Rows for plain coordinates (the fast path for point layers: no shapely objects)."""
    totals.points += len(lng)
    totals.kinds.add("points")
    cells = latlng_to_cells(lat, lng, resolution)
    return _rows(cells, fids, points=np.ones(len(cells), np.int64))


def _point_rows(
    points: np.ndarray, fids: np.ndarray, resolution: int, totals: SourceTotals
) -> pa.RecordBatch:
    xy = shapely.get_coordinates(points)
    return point_contributions(xy[:, 0], xy[:, 1], fids, resolution, totals)


def _line_rows(
    lines: np.ndarray, fids: np.ndarray, resolution: int, totals: SourceTotals
) -> Iterator[pa.RecordBatch]:
    coords, idx = shapely.get_coordinates(lines, return_index=True)
    seg = np.flatnonzero(idx[:-1] == idx[1:])  # segment i runs from vertex i to i + 1
    if len(seg) == 0:
        return
    a = unit_vectors(coords[seg, 0], coords[seg, 1])
    b = unit_vectors(coords[seg + 1, 0], coords[seg + 1, 1])
    omega = np.arctan2(np.linalg.norm(np.cross(a, b), axis=1), np.einsum("ij,ij->i", a, b))
    length = omega * EARTH_RADIUS_M
    totals.line_length_m += float(length.sum())
    step = h3.average_hexagon_edge_length(int(resolution), "m") / 2.0
    pieces = np.maximum(1, np.ceil(length / step)).astype(np.int64)
    seg_fid = fids[idx[seg]]
    ends = np.cumsum(pieces)
    first = 0
    while first < len(seg):  # emit batches of at most MAX_PIECES pieces (plus one segment)
        last = int(np.searchsorted(ends, ends[first] - pieces[first] + MAX_PIECES, "right"))
        last = max(last, first + 1)
        sl = slice(first, last)
        yield _pieces(a[sl], b[sl], omega[sl], length[sl], pieces[sl], seg_fid[sl], resolution)
        first = last


def _pieces(
    a: np.ndarray,
    b: np.ndarray,
    omega: np.ndarray,
    length: np.ndarray,
    pieces: np.ndarray,
    fid: np.ndarray,
    resolution: int,
) -> pa.RecordBatch:
    """Midpoints of equal great-circle pieces of each segment (slerp), and their lengths."""
    rep = np.repeat(np.arange(len(pieces)), pieces)
    k = np.arange(len(rep)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    t = (k + 0.5) / pieces[rep]
    om = omega[rep]
    sin_om = np.sin(om)
    tiny = sin_om < 1e-12
    wa = np.where(tiny, 1.0 - t, np.sin((1.0 - t) * om) / np.where(tiny, 1.0, sin_om))
    wb = np.where(tiny, t, np.sin(t * om) / np.where(tiny, 1.0, sin_om))
    p = wa[:, None] * a[rep] + wb[:, None] * b[rep]
    p /= np.linalg.norm(p, axis=1)[:, None]
    lat = np.degrees(np.arcsin(np.clip(p[:, 2], -1.0, 1.0)))
    lng = np.degrees(np.arctan2(p[:, 1], p[:, 0]))
    cells = latlng_to_cells(lat, lng, resolution)
    return _rows(cells, fid[rep], length_m=(length / pieces)[rep])


def _polygon_rows(
    polygons: np.ndarray, fids: np.ndarray, resolution: int, totals: SourceTotals
) -> Iterator[pa.RecordBatch]:
    cell_m2 = h3.average_hexagon_area(int(resolution), "m^2")
    for raw, fid in zip(polygons, fids, strict=True):
        # Edges are straight in lon/lat (as PostGIS geometry and H3's polyfill see them):
        # densified, the spherical area of that shape is the reference total. Repaired and
        # oriented first: pyproj adds a hole drawn like its shell instead of subtracting it.
        poly = cover.valid_polygon(raw)
        area, _ = SPHERE.geometry_area_perimeter(shapely.segmentize(poly, EDGE_STEP_DEG))
        if abs(area) / cell_m2 > MAX_POLYGON_CELLS:
            raise TooLargeError(
                f"feature {int(fid)} covers about {abs(area) / cell_m2:,.0f} cells at resolution "
                f"{resolution} (limit {MAX_POLYGON_CELLS:,}): use a coarser resolution"
            )
        totals.polygon_area_m2 += abs(area)
        batch = _polygon_cells(poly, int(fid), resolution)
        if batch is not None:
            yield batch


def _polygon_cells(poly: shapely.Polygon, fid: int, resolution: int) -> pa.RecordBatch | None:
    """Inner cells with their whole area, boundary cells with their covered share of it."""
    found = cover.polygon_cover(poly, resolution)
    if len(found.cells) == 0:
        return None
    cell_area = np.fromiter((h3i.cell_area(c, "m^2") for c in found.cells.tolist()), float)
    return _rows(
        found.cells.view(np.int64),
        np.full(len(found.cells), fid, np.int64),
        area_m2=cell_area * found.share,
        share=found.share,
    )


# --- reading a GeoParquet file ---------------------------------------------------------------
def geometry_column(path: Path) -> str:
    """The primary geometry column, after checking the file is lon/lat WKB GeoParquet."""
    try:
        geo = read_geo_metadata(path)
    except Exception as exc:
        raise UnreadableFileError(f"cannot read Parquet: {exc}", path=str(path)) from exc
    if geo is None:
        raise InputError("Parquet file without GeoParquet 'geo' metadata", path=str(path))
    name = str(geo.get("primary_column", "geometry"))
    column = geo.get("columns", {}).get(name, {})
    if str(column.get("encoding", "WKB")).upper() != "WKB":
        raise InputError(f"geometry encoding {column.get('encoding')!r} is not WKB", path=str(path))
    crs = column.get("crs", "OGC:CRS84")
    if crs is not None and _crs_code(crs) not in _LONLAT_CRS:
        raise InvalidCRSError(f"expected EPSG:4326 lon/lat, found {_crs_code(crs)}", path=str(path))
    return name


def _crs_code(crs: Any) -> str:
    if isinstance(crs, dict):
        ident = crs.get("id") or {}
        return f"{ident.get('authority')}:{ident.get('code')}"
    return str(crs)


def fast_points(wkb: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """(x, y) when every value is a little-endian 2D Point or one-point MultiPoint, else None.

    The vector stage writes point layers as one-point MultiPoints; reading their coordinates
    straight from the bytes skips building a shapely object per point.
    """
    if wkb.null_count:
        return None
    offsets, data, _ = binary_parts(wkb)
    lengths = np.diff(offsets)
    if len(lengths) == 0 or not ((lengths == lengths[0]).all() and lengths[0] in (21, 30)):
        return None
    rows = data[offsets[0] : offsets[-1]].reshape(len(lengths), int(lengths[0]))
    if not (rows[:, 0] == 1).all():  # little endian only
        return None
    code = rows[:, 1:5].copy().view("<u4").ravel()
    if lengths[0] == 21 and (code == 1).all():
        xy = rows[:, 5:21].copy().view("<f8")
    elif lengths[0] == 30 and (code == 4).all():
        inner = rows[:, 9:14].copy()
        count = rows[:, 5:9].copy().view("<u4").ravel()
        if not ((count == 1).all() and (inner[:, 0] == 1).all()):
            return None
        if not (inner[:, 1:5].copy().view("<u4").ravel() == 1).all():
            return None
        xy = rows[:, 14:30].copy().view("<f8")
    else:
        return None
    ok = np.isfinite(xy).all()
    return (xy[:, 0].copy(), xy[:, 1].copy()) if ok else None


def file_contributions(
    path: Path, column: str, resolution: int, totals: SourceTotals
) -> Iterator[pa.RecordBatch]:
    fid0 = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=[column]):
        wkb = batch.column(0)
        fast = fast_points(wkb)
        if fast is not None:
            n = len(wkb)
            totals.rows += n
            totals.point_rows += n
            fids = np.arange(fid0, fid0 + n, dtype=np.int64)
            yield point_contributions(fast[0], fast[1], fids, resolution, totals)
        else:
            try:
                geoms = shapely.from_wkb(wkb.to_numpy(zero_copy_only=False), on_invalid="raise")
            except shapely.errors.ShapelyError as exc:
                raise UnreadableFileError(f"invalid WKB geometry: {exc}", path=str(path)) from exc
            yield from contributions(geoms, fid0, resolution, totals)
        fid0 += len(wkb)
