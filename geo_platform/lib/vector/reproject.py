"""Reprojection of a layer to EPSG:4326 (lon/lat order), recording the source CRS.

A layer without a CRS fails with ``MissingCRSError`` unless ``assume_crs`` is configured;
GeoPackage's "Undefined geographic/Cartesian SRS" counts as missing, and a local engineering CRS
(``LOCAL_CS``: a site grid, CAD drawings) is an ``InvalidCRSError`` unless ``assume_crs`` names
the real CRS of its coordinates. Sources already in WGS84
longitude/latitude (EPSG:4326, OGC:CRS84, EPSG:4979) are passed through untouched. Z is never
transformed (horizontal reprojection only). Antimeridian-crossing data is kept as it is.
``lonlat_degrees`` tells the cleaner to range-check a geographic source (see ``clean``).
"""

from __future__ import annotations

import posixpath
import zipfile
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from geo_platform.lib.errors import InvalidCRSError, MissingCRSError
from geo_platform.lib.gdal_paths import split_vsizip
from geo_platform.lib.vector import antimeridian
from geo_platform.lib.vector.source import LayerSource

TARGET_SRID = 4326
WGS84_LONLAT = ("EPSG:4326", "OGC:CRS84", "EPSG:4979", "OGC:CRS84h")


def _is_undefined(crs: str) -> bool:
    return "undefined" in crs.lower() and ("srs" in crs.lower() or "cartesian" in crs.lower())


def crs_label(crs: Any) -> str:
    """'EPSG:32100' (or another authority) when the CRS has one, else its WKT."""
    auth = crs.to_authority() or crs.to_authority(min_confidence=90)
    return ":".join(auth) if auth else str(crs.to_wkt())


def _parse(text: str, display: str) -> Any:
    from pyproj import CRS

    try:
        return CRS.from_user_input(text)
    except Exception as exc:
        raise InvalidCRSError(f"unusable CRS {text[:200]!r}: {exc}", path=display) from exc


_NO_AREA = (np.inf, np.inf, -np.inf, -np.inf)  # a box no point is in


class Reprojector:
    """Transforms coordinates of one layer from its CRS (or the assumed one) to EPSG:4326."""

    def __init__(self, crs: str | None, assume_crs: str | None, display: str) -> None:
        from pyproj import CRS

        text = crs if crs and not _is_undefined(crs) else None
        assumed = text is None
        text = text or assume_crs
        if not text:
            raise MissingCRSError(
                "the layer has no coordinate reference system; configure assume_crs "
                "(e.g. EPSG:4326) if you know it",
                path=display,
            )
        self.crs = _parse(text, display)
        if self.crs.type_name == "Engineering CRS" and not assumed:
            if not assume_crs:
                raise InvalidCRSError(
                    f"its CRS ({self.crs.name!r}) is a local engineering CRS, not tied to the "
                    "Earth; set assume_crs if its coordinates are in a real CRS",
                    path=display,
                )
            self.crs, assumed = _parse(assume_crs, display), True  # a site grid the user places
        self.assumed = assumed
        self.source_crs = crs_label(self.crs)
        self.identity = self.source_crs in WGS84_LONLAT or self.crs.equals(
            CRS.from_epsg(TARGET_SRID), ignore_axis_order=True
        )
        self.display = display
        if not self.identity:
            try:
                self._transformer  # noqa: B018 - built now: a CRS PROJ cannot transform fails here
            except Exception as exc:
                raise InvalidCRSError(
                    f"PROJ cannot transform its CRS {self.source_crs[:200]!r} to EPSG:4326: {exc}",
                    path=display,
                ) from exc

    @cached_property
    def lonlat_degrees(self) -> bool:
        """True for a geographic CRS in degrees: its coordinates must lie in -180..180/-90..90."""
        if not self.crs.is_geographic:
            return False
        units = [str(a.unit_name).lower() for a in self.crs.axis_info[:2]]
        return len(units) == 2 and all(u.startswith("degree") for u in units)

    @cached_property
    def _transformer(self) -> Any:
        from pyproj import Transformer

        return Transformer.from_crs(self.crs, TARGET_SRID, always_xy=True)

    def xy(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Transformed coordinate arrays, inf where PROJ cannot transform a point, or where the
        point lies outside its projection's domain: Web Mercator's inverse maps y = 1e9 m to
        the pole and wraps x = 1e9 m round the Earth, silently. Such a point does not come
        back when transformed back (by more than 1 m: far above any projection's round-trip
        error), so it is not published somewhere it is not."""
        if self.identity or not len(x):
            return x, y
        tx, ty = self._transformer.transform(x, y, errcheck=False)
        tx, ty = np.asarray(tx, float), np.asarray(ty, float)
        if not self.crs.is_geographic:
            xmin, ymin, xmax, ymax = self._area_of_use
            # Inside the CRS's area of use a point is in the domain: only the others go back.
            check = np.flatnonzero(~((x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)))
            cx, cy = x[check], y[check]
            bx, by = self._transformer.transform(
                tx[check], ty[check], direction="INVERSE", errcheck=False
            )
            same_y = np.isclose(by, cy, rtol=1e-7, atol=1.0)
            back = np.isclose(bx, cx, rtol=1e-7, atol=1.0) & same_y
            # Just past a cylindrical projection's edge (Web Mercator x = 20.1e6 m, drawn on
            # across the antimeridian): one turn of the Earth away, which the cut at 180 then
            # serves. Further (x = -3e7 or 1e9 m) is garbage.
            period, centre = self._x_period
            turn = np.isclose(np.abs(bx - cx), period, rtol=1e-6, atol=1.0) & same_y
            turn &= np.abs(cx - centre) < period * 5 / 8  # at most 45 degrees past an edge
            away = check[~(back | turn) & np.isfinite(cx) & np.isfinite(cy)]
            tx[away] = ty[away] = np.inf
        return tx, ty

    @cached_property
    def _x_period(self) -> tuple[float, float]:
        """(x per turn of the Earth at the equator, x of the central meridian) of a cylindrical
        projection (NaN for others, or when PROJ cannot say): from the CRS with ``+over``."""
        import warnings

        from pyproj import CRS, Transformer

        try:
            with warnings.catch_warnings():  # to_proj4 warns that PROJ strings lose details
                warnings.simplefilter("ignore")
                text = self.crs.to_proj4()
            lon_0 = float(next((p[7:] for p in text.split() if p.startswith("+lon_0=")), 0))
            over = Transformer.from_crs(4326, CRS.from_proj4(text + " +over"), always_xy=True)
            (east, west), (ye, yw) = over.transform([lon_0 + 180, lon_0 - 180], [0, 0])
        except Exception:
            return np.nan, np.nan
        if not (np.isfinite([east, west]).all() and ye == yw and east - west > 1e6):
            return np.nan, np.nan
        return float(east - west), float(east + west) / 2

    @cached_property
    def _area_of_use(self) -> tuple[float, float, float, float]:
        """The CRS's area of use in its own coordinates, shrunk by 1% (empty when unknown or
        PROJ cannot say: every point then goes back)."""
        from pyproj import Transformer

        area = self.crs.area_of_use
        if area is None:
            return _NO_AREA
        try:
            to_crs = Transformer.from_crs(TARGET_SRID, self.crs, always_xy=True)
            west, south, east, north = area.bounds
            xmin, ymin, xmax, ymax = to_crs.transform_bounds(
                west, south, east, north, densify_pts=21
            )
        except Exception:
            return _NO_AREA
        dx, dy = (xmax - xmin) / 100, (ymax - ymin) / 100
        if not (np.isfinite([xmin, ymin, xmax, ymax]).all() and dx > 0 and dy > 0):
            return _NO_AREA
        return (xmin + dx, ymin + dy, xmax - dx, ymax - dy)

    def geometries(self, geoms: np.ndarray) -> np.ndarray:
        """Transformed shapely geometries (Z passed through unchanged); a line or polygon that
        crosses the antimeridian is cut there (``antimeridian``)."""
        if self.identity or not len(geoms):
            return geoms
        import shapely

        def fn(coords: np.ndarray) -> np.ndarray:
            x, y = self.xy(coords[:, 0], coords[:, 1])
            return np.column_stack([x, y, coords[:, 2:]])

        out = np.asarray(shapely.transform(geoms, fn, include_z=None), dtype=object)
        return antimeridian.split_crossings(geoms, out, self.xy)


def for_layer(src: LayerSource, assume_crs: str | None) -> Reprojector:
    """``Reprojector`` of a layer; a layer whose ``.prj`` is there but empty or unreadable
    says so (an ``InvalidCRSError`` naming the ``.prj``), not that it has no CRS at all."""
    try:
        return Reprojector(src.crs, assume_crs, src.display)
    except MissingCRSError as exc:
        text = prj_sidecar(src)
        if text is None:
            raise
        what = "is empty" if not text.strip() else f"is not a CRS PROJ can read ({text[:80]!r})"
        raise InvalidCRSError(
            f"its .prj sidecar {what}; fix the .prj, or configure assume_crs (e.g. EPSG:4326) "
            "if you know the CRS",
            path=src.display,
        ) from exc


def prj_sidecar(src: LayerSource) -> str | None:
    """The text of the ``.prj`` beside a layer's file (a Shapefile's, a CSV's; loose or in a
    zip), or None."""
    inside = split_vsizip(src.gdal_path)
    if inside is not None:
        archive, member = inside
        wanted = posixpath.splitext(member)[0].lower() + ".prj"
        try:
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    if info.filename.lower() == wanted and info.file_size < 1_000_000:
                        return zf.read(info).decode("utf-8", errors="replace")
        except (zipfile.BadZipFile, OSError, RuntimeError):
            return None
        return None
    path = Path(src.gdal_path)
    wanted = path.stem.lower() + ".prj"
    try:
        found = sorted(p for p in path.parent.iterdir() if p.name.lower() == wanted)
    except OSError:
        return None
    return found[0].read_text(errors="replace") if found and found[0].is_file() else None
