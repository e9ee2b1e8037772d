"""Geometries reprojected across the antimeridian, cut there (RFC 7946, section 3.1.9).

A polygon in a projected CRS (Alaska Albers, NZTM with the Chathams, a UTM zone at 180,
Pacific-centred Mercator) that straddles 180 degrees is contiguous in its own coordinates.
Transformed to lon/lat its vertices jump from 179.9 to -179.9, and read as it stands the
polygon spans 359.8 degrees the wrong way round the Earth: it matches every query at its
latitudes and paints a band across every map. Like ``ogr2ogr -wrapdateline``, such a geometry
is cut at the antimeridian into the Multi* of its parts east and west of it.

Which geometries: those whose lon/lat bounds span more than 180 degrees (one vectorised test);
in them, a segment whose longitude jumps by more than 180 degrees is a crossing only when its
midpoint in the source CRS lands on the antimeridian's side (a world map's segment in Robinson
from -170 to 170 jumps as far, but its midpoint lands near 0: it is left as it is). A ring
that crosses an odd number of times encircles a pole (Antarctica in polar stereographic): it is
closed along the pole's latitude, as RFC 7946 draws such polygons. Lines and polygons and their
Multi* are cut; points need nothing, and a GeometryCollection is left as it is.

Lon/lat sources change in two cases only: longitudes written past 180 (``wrap_longitudes``,
when ``lonlat`` allows it), and formats drawn on the globe (KML, GPX: ``SHORT_WAY``, every jump
of more than 180 degrees is a crossing). Other lon/lat data's segments across 180 are what the
data says (a world box from -180 to 180 stays one).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely
from shapely import affinity

from geo_platform.lib.vector.lonlat import wrap_points

LonLat = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
SHORT_WAY = None  # ``to_lonlat`` of a globe format's lon/lat: every jump is a crossing

_LINES = (1, 5)  # LineString, MultiLineString
_POLYGONS = (3, 6)  # Polygon, MultiPolygon
_SHIFTS = (-720.0, -360.0, 0.0, 360.0, 720.0)  # unwrapped longitudes back into -180..180


def split_crossings(source: np.ndarray, out: np.ndarray, to_lonlat: LonLat | None) -> np.ndarray:
    """``out`` (``source`` transformed to lon/lat, same structure) with every line or polygon
    that crosses the antimeridian cut there; other rows are the same objects.

    ``to_lonlat`` None (``SHORT_WAY``): ``out`` is lon/lat of a format drawn on the globe (KML,
    GPX), where a segment goes the short way: one whose longitude jumps by more than 180
    degrees crosses the antimeridian (Google Earth draws it so)."""
    if not len(out):
        return out
    bounds = shapely.bounds(out)
    types = shapely.get_type_id(out)
    wide = ((bounds[:, 2] - bounds[:, 0]) > 180) & np.isin(types, _LINES + _POLYGONS)
    wide &= np.isfinite(bounds).all(axis=1)  # a vertex PROJ could not place: dropped later
    if not wide.any():
        return out
    result = out.copy()
    for i in np.flatnonzero(wide):
        cut = _cut_geometry(source[i], out[i], to_lonlat)
        if cut is not None:
            result[i] = cut
    return result


def wrap_longitudes(geoms: np.ndarray) -> np.ndarray:
    """Lon/lat geometries with longitudes past +-180 (the 0..360 convention, or a feature
    drawn on across the antimeridian) in -180..180: points moved by 360, lines and polygons
    cut at the antimeridian into the Multi* of their parts each side, each part moved."""
    out = geoms.copy()
    for i, geom in enumerate(geoms):
        if geom is None:
            continue
        kind = shapely.get_type_id(geom)
        if kind in _LINES + _POLYGONS:
            polygonal = kind in _POLYGONS
            parts = [
                piece
                for part in shapely.get_parts(geom)
                for piece in _into_range(part, 3 if polygonal else 1)
            ]
            out[i] = shapely.multipolygons(parts) if polygonal else shapely.multilinestrings(parts)
        else:
            out[i] = shapely.transform(geom, _wrap_x, include_z=None)
    return out


def _wrap_x(coords: np.ndarray) -> np.ndarray:
    coords = coords.copy()
    coords[:, 0] = wrap_points(coords[:, 0])
    return coords


def _cut_geometry(src: object, dst: object, to_lonlat: LonLat | None) -> object | None:
    polygonal = shapely.get_type_id(dst) in _POLYGONS
    z = bool(shapely.has_z(dst))
    pieces: list[object] = []
    crossed = False
    for s, d in zip(shapely.get_parts(src), shapely.get_parts(dst), strict=True):
        if polygonal:
            unwrapped = _unwrapped_polygon(s, d, z, to_lonlat)
        else:
            coords, crossings, _ = _unwrap(_coords(s, z), _coords(d, z), to_lonlat)
            unwrapped = shapely.LineString(coords) if crossings else None
        if unwrapped is None:
            pieces.append(d)
            continue
        crossed = True
        pieces.extend(_into_range(unwrapped, 3 if polygonal else 1))
    if not crossed:
        return None
    return shapely.multipolygons(pieces) if polygonal else shapely.multilinestrings(pieces)


def _coords(geom: object, z: bool) -> np.ndarray:
    return shapely.get_coordinates(geom, include_z=z)


def _unwrapped_polygon(
    src: object, dst: object, z: bool, to_lonlat: LonLat | None
) -> object | None:
    """The polygon with continuous longitudes (beyond +-180 where it crosses), or None when
    no ring crosses. A ring that goes round a pole is closed along the pole's latitude."""
    rings, any_crossing = [], False
    for s, d in zip(shapely.get_rings(src), shapely.get_rings(dst), strict=True):
        coords, crossings, net = _unwrap(_coords(s, z), _coords(d, z), to_lonlat)
        any_crossing |= crossings > 0
        if net:  # round a pole: along the pole's latitude back to the start
            pole = -90.0 if np.nanmean(coords[:, 1]) < 0 else 90.0
            ends = coords[[-1, 0]].copy()
            ends[:, 1] = pole
            coords = np.vstack([coords, ends])
        rings.append(coords)
    if not any_crossing:
        return None
    shell = shapely.make_valid(shapely.Polygon(rings[0]))
    if len(rings) == 1:
        return shell
    # A hole near a pole can span more longitude than the shell's unwrapped range shows of it:
    # it is taken out at each 360-degree shift (the shell spans at most 360, so every shift
    # lands on the same place on the Earth or outside the shell).
    holes = shapely.union_all(
        [affinity.translate(shapely.Polygon(r), xoff=k) for r in rings[1:] for k in _SHIFTS]
    )
    return shapely.difference(shell, holes)


def _unwrap(
    src: np.ndarray, dst: np.ndarray, to_lonlat: LonLat | None
) -> tuple[np.ndarray, int, float]:
    """``dst``'s vertices with continuous longitudes, the number of antimeridian crossings,
    and the net shift at the end (non-zero: the ring goes round a pole)."""
    dx = np.diff(dst[:, 0])
    jumps = np.flatnonzero(np.abs(dx) > 180)
    if not len(jumps):
        return dst, 0, 0.0
    start, step = dst[jumps, 0], dx[jumps]
    genuine = np.ones(len(jumps), bool)
    if to_lonlat is not None:
        mid_x, _ = to_lonlat(
            (src[jumps, 0] + src[jumps + 1, 0]) / 2, (src[jumps, 1] + src[jumps + 1, 1]) / 2
        )
        across = step - 360.0 * np.sign(step)  # the short way, over the antimeridian
        genuine = np.isfinite(mid_x) & (
            _angle(mid_x, start + across / 2) < _angle(mid_x, start + step / 2)
        )
    if not genuine.any():
        return dst, 0, 0.0
    shifts = np.zeros(len(dst))
    shifts[jumps[genuine] + 1] = -360.0 * np.sign(step[genuine])
    out = dst.copy()
    out[:, 0] += np.cumsum(shifts)
    return out, int(genuine.sum()), float(np.cumsum(shifts)[-1])


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in degrees of longitude between ``a`` and ``b``, round the circle."""
    return np.abs((a - b + 180.0) % 360.0 - 180.0)


def _into_range(geom: object, type_id: int) -> list[object]:
    """The parts of an unwrapped geometry, each cut to one 360-degree window and moved into
    -180..180 (only parts of the geometry's own dimension: not the slivers where it touches
    a window's edge)."""
    parts: list[object] = []
    for shift in _SHIFTS:
        window = shapely.box(-180.0 + shift, -1000.0, 180.0 + shift, 1000.0)
        piece = shapely.intersection(geom, window)
        if shapely.is_empty(piece):
            continue
        moved = affinity.translate(piece, xoff=-shift) if shift else piece
        parts.extend(p for p in shapely.get_parts(moved) if shapely.get_type_id(p) == type_id)
    if type_id == 3 and len(parts) > 1:
        # A ring round a pole comes back to its start meridian: its pieces meet there.
        parts = list(shapely.get_parts(shapely.union_all(parts)))
    return parts
