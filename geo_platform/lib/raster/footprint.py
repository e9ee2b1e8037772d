"""Footprints and bounding boxes in EPSG:4326 that stay correct across the antimeridian and poles.

A raster's outline is built in pixel space (the raster edge, or the outline of its valid-data
mask), densified so that curved edges survive reprojection, then transformed to longitude and
latitude. Longitudes are *unwrapped* ring by ring (no jump larger than 180 degrees between
neighbouring vertices), so a scene that crosses 180 becomes one continuous polygon, e.g. from
178 to 181.5. That polygon is then cut at +-180 and the pieces shifted back into [-180, 180],
which gives the GeoJSON MultiPolygon that RFC 7946 asks for. The bbox follows the STAC spec: when
the geometry crosses the antimeridian, ``minx > maxx`` (e.g. ``[178, lat0, -178.5, lat1]``).

A ring whose unwrapped longitudes do not close (they drift by 360 degrees) encircles a pole; it
is closed along that pole, so polar-stereographic rasters get a cap instead of a world-wide
sliver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.features import shapes
from shapely import affinity
from shapely.geometry import MultiPolygon, Polygon, box, mapping, shape
from shapely.geometry.base import BaseGeometry

from geo_platform.lib.types import BBox

_WGS84 = CRS.from_epsg(4326)
_MAX_VERTICES = 2000


@dataclass(frozen=True)
class Footprint:
    """A GeoJSON geometry (EPSG:4326, split at the antimeridian) and its STAC bbox."""

    geometry: dict[str, Any]
    bbox: BBox

    @property
    def crosses_antimeridian(self) -> bool:
        return self.bbox[0] > self.bbox[2]


def raster_outline(width: int, height: int) -> Polygon:
    """The raster's edge in pixel coordinates (col, row)."""
    return box(0, 0, width, height)


def footprint_4326(
    pixel_geom: BaseGeometry,
    transform: Affine,
    crs: CRS,
    *,
    segment_pixels: float | None = None,
) -> Footprint:
    """Transform a pixel-space outline to an antimeridian-safe EPSG:4326 footprint.

    ``segment_pixels`` is the densification step in pixels (default: 1/32 of the outline's
    larger side), so that straight raster edges follow their true curved shape in lon/lat.
    Raises ``ValueError`` when no vertex can be transformed (the CRS cannot reach WGS84).
    """
    minx, miny, maxx, maxy = pixel_geom.bounds
    step = segment_pixels or max(maxx - minx, maxy - miny, 1.0) / 32.0
    transformer = Transformer.from_crs(crs, _WGS84, always_xy=True)
    native = _to_native(shapely.segmentize(pixel_geom, max_segment_length=step), transform)
    if _transformable_fraction(native, transformer) < 0.95:
        # e.g. a full-disk geostationary image: its corners are in space. Keep the part of the
        # outline whose pixels PROJ can place on the Earth.
        region = _transformable_region(pixel_geom, transform, transformer)
        clipped = pixel_geom.intersection(region)
        native = _to_native(shapely.segmentize(clipped, max_segment_length=step), transform)
    polygons = [_polygon_to_lonlat(p, transformer) for p in _polygons(native)]
    unwrapped = _align_branches([p for p in polygons if p is not None and not p.is_empty])
    if not unwrapped:
        raise ValueError("no vertex of the raster outline could be transformed to EPSG:4326")
    merged = shapely.union_all(unwrapped)
    return Footprint(geometry=_to_geojson(_split_antimeridian(merged)), bbox=_bbox(merged))


def _to_native(pixel_geom: BaseGeometry, transform: Affine) -> BaseGeometry:
    a, b, c, d, e, f = transform[:6]
    return affinity.affine_transform(pixel_geom, [a, b, d, e, c, f])


def _transformable_fraction(native: BaseGeometry, transformer: Transformer) -> float:
    rings = [np.asarray(p.exterior.coords) for p in _polygons(native)]
    if not rings:
        return 0.0
    coords = np.concatenate(rings)
    lon, lat = transformer.transform(coords[:, 0], coords[:, 1], errcheck=False)
    return float(np.mean(np.isfinite(lon) & np.isfinite(lat)))


def _transformable_region(
    pixel_geom: BaseGeometry, transform: Affine, transformer: Transformer, cells: int = 128
) -> BaseGeometry:
    """Pixel-space polygon of grid cells whose centres transform to finite lon/lat."""
    minx, miny, maxx, maxy = pixel_geom.bounds
    sx, sy = (maxx - minx) / cells, (maxy - miny) / cells
    cols = minx + (np.arange(cells) + 0.5) * sx
    rows = miny + (np.arange(cells) + 0.5) * sy
    cc, rr = np.meshgrid(cols, rows)
    xs = transform.a * cc + transform.b * rr + transform.c
    ys = transform.d * cc + transform.e * rr + transform.f
    lon, lat = transformer.transform(xs.ravel(), ys.ravel(), errcheck=False)
    ok = (np.isfinite(lon) & np.isfinite(lat)).reshape(cells, cells).astype("uint8")
    grid = Affine(sx, 0, minx, 0, sy, miny)
    parts = [shape(g) for g, v in shapes(ok, mask=ok > 0, transform=grid) if v]
    if not parts:
        raise ValueError("no pixel of the raster can be transformed to EPSG:4326")
    return shapely.union_all(parts)


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom]
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]


def _ring_to_lonlat(coords: np.ndarray, transformer: Transformer) -> np.ndarray | None:
    lon, lat = transformer.transform(coords[:, 0], coords[:, 1], errcheck=False)
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    ok = np.isfinite(lon) & np.isfinite(lat)
    if ok.sum() < 3:
        return None
    lon, lat = lon[ok], np.clip(lat[ok], -90.0, 90.0)
    lon = np.unwrap(lon, period=360.0)
    return np.column_stack([lon, lat])


def _polygon_to_lonlat(poly: Polygon, transformer: Transformer) -> BaseGeometry | None:
    """Transform one polygon, unwrapping longitudes and closing pole-encircling rings."""
    shell = _ring_to_lonlat(np.asarray(poly.exterior.coords), transformer)
    if shell is None:
        return None
    drift = shell[-1, 0] - shell[0, 0]
    if abs(drift) > 180.0:  # the ring goes once around a pole: close it along that pole
        pole = 90.0 if float(np.mean(shell[:, 1])) > 0 else -90.0
        cap = np.array([[shell[-1, 0], pole], [shell[0, 0], pole]])
        shell = np.vstack([shell, cap])
    holes = []
    for ring in poly.interiors:
        hole = _ring_to_lonlat(np.asarray(ring.coords), transformer)
        if hole is not None:
            hole[:, 0] += 360.0 * round((shell[0, 0] - hole[0, 0]) / 360.0)
            holes.append(hole)
    out = Polygon(shell, holes)
    return out if out.is_valid else shapely.make_valid(out)


def _align_branches(parts: list[BaseGeometry]) -> list[BaseGeometry]:
    """Shift each part by a multiple of 360 degrees so all parts sit on one longitude branch."""
    if not parts:
        return []
    ref = parts[0].centroid.x
    out = [parts[0]]
    for part in parts[1:]:
        k = round((ref - part.centroid.x) / 360.0)
        out.append(affinity.translate(part, xoff=360.0 * k) if k else part)
    return out


def _split_antimeridian(geom: BaseGeometry) -> BaseGeometry:
    """Cut an unwrapped geometry at +-180 and shift the pieces into [-180, 180]."""
    minx, _, maxx, _ = geom.bounds
    if maxx - minx >= 360.0:
        _, miny, _, maxy = geom.bounds
        return box(-180.0, miny, 180.0, maxy)
    pieces: list[BaseGeometry] = []
    for k in range(-2, 3):
        window = box(-180.0 + 360.0 * k, -90.0, 180.0 + 360.0 * k, 90.0)
        if not geom.intersects(window):
            continue
        piece = geom.intersection(window)
        if not piece.is_empty and piece.area > 0:
            pieces.append(affinity.translate(piece, xoff=-360.0 * k))
    polys = [p for piece in pieces for p in _polygons(piece)]
    if len(polys) == 1:
        return polys[0]
    return MultiPolygon(polys)


def _wrap(lon: float, *, upper: bool) -> float:
    wrapped = ((lon + 180.0) % 360.0) - 180.0
    if upper and wrapped == -180.0 and lon > 0:
        return 180.0
    return wrapped


def _bbox(unwrapped: BaseGeometry) -> BBox:
    minx, miny, maxx, maxy = unwrapped.bounds
    miny, maxy = max(miny, -90.0), min(maxy, 90.0)
    if maxx - minx >= 360.0 - 1e-9:  # all longitudes (round a pole), float noise and all
        return (-180.0, miny, 180.0, maxy)
    return (_wrap(minx, upper=False), miny, _wrap(maxx, upper=True), maxy)


def _to_geojson(geom: BaseGeometry) -> dict[str, Any]:
    """GeoJSON with the densification vertices that add no shape removed (and at most
    ``_MAX_VERTICES`` vertices): straight lines stay 2 vertices, real curves keep theirs."""
    minx, miny, maxx, maxy = geom.bounds
    tolerance = 1e-4 * max(maxx - minx, maxy - miny)
    simplified = geom.simplify(tolerance, preserve_topology=True) if tolerance > 0 else geom
    while shapely.get_num_coordinates(simplified) > _MAX_VERTICES:
        tolerance = tolerance * 2 or 1e-6
        simplified = geom.simplify(tolerance, preserve_topology=True)
    result: dict[str, Any] = mapping(simplified)
    return _listify(result)


def _listify(obj: Any) -> Any:
    """shapely's mapping() returns tuples; JSON schemas and pystac expect lists."""
    if isinstance(obj, dict):
        return {k: _listify(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_listify(v) for v in obj]
    return obj
