"""Cleaning of Arrow batches: geometry rules, reprojection, SQL-safe columns, faithful types.

``plan_layer`` decides, before any row is loaded, which tables a layer becomes and whether they
keep Z: from the declared geometry type when the format has one (GeoPackage, Shapefile,
FlatGeobuf, FileGDB, GeoParquet), else from a geometry-only pre-scan (GeoJSON with mixed types,
KML, CSV WKT). A layer mixing dimensions is split into one table per dimension with the
suffixes ``__points``, ``__lines``, ``__polygons`` (double underscore: names derived from file
names never contain one, so a split table cannot collide with another file's table).

``LayerCleaner.clean`` then turns each source batch into one cleaned batch per table:
null/empty geometries dropped and counted (or kept), invalid ones repaired (rules in
``geometry.py``), reprojected to EPSG:4326, Multi*, ISO WKB in ``geom``; attribute columns
named and typed by ``columns``. Point batches take a numpy-only path (no shapely), which is
what makes large point layers fast. Batches may be cleaned in several threads at once.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pyarrow as pa
import shapely

from geo_platform.lib.errors import DecodingError
from geo_platform.lib.vector import antimeridian, lonlat, reproject, secondary_geoms, wkb
from geo_platform.lib.vector import geometry as geom_rules
from geo_platform.lib.vector.columns import (
    attribute_schema,
    column_position,
    geometry_index,
    plan_columns,
)
from geo_platform.lib.vector.extent import seam_rows
from geo_platform.lib.vector.options import VectorOptions
from geo_platform.lib.vector.plan import LayerPlan, parse_wkb_closing
from geo_platform.lib.vector.range_rows import first_bad_rows
from geo_platform.lib.vector.source import LayerSource
from geo_platform.lib.vector.source_wkb import SourceWkb

GEOM = "geom"
GLOBE_DRIVERS = ("KML", "LIBKML", "GPX")  # segments go the short way round (antimeridian)


class GeometryWarning(UserWarning):
    """Features dropped because their geometry does not fit the layer's declared type."""


class OffPlanGeometries(Exception):
    """A layer declared as one geometry type holds features of another dimension (a GeoPackage
    layer declared POINT holding a polygon): the loader plans it again from its features."""


@dataclass
class KindStats:
    """Counters of one output table (a layer's features of one dimension)."""

    rows_read: int = 0
    rows_loaded: int = 0
    dropped_null: int = 0
    dropped_empty: int = 0
    repaired: int = 0
    invalid_dropped: int = 0
    wrapped: int = 0  # longitudes past +-180 wrapped into -180..180 (``lonlat``)

    def add(self, other: KindStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class _Piece:
    """What cleaning one batch counts and marks, kept apart from the layer's totals so that
    batches can be cleaned in several threads at once (merged by ``LayerCleaner.clean``)."""

    stats: dict[str, KindStats] = field(default_factory=lambda: {k: KindStats() for k in wkb.KINDS})
    null_rows: int = 0
    closed: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # open rings closed
    wrapped: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # longitudes wrapped


@dataclass
class CleanPart:
    """Cleaned rows of one kind from one source batch."""

    kind: str
    batch: pa.RecordBatch  # attribute columns (SQL-safe names) + ``geom`` (ISO WKB)
    bounds: np.ndarray  # (n, 4) in EPSG:4326, NaN for null/empty geometries
    extent_rows: np.ndarray | None = None  # for the extent, if not ``bounds`` (seam_rows)


class LayerCleaner:
    """Cleans the batches of one layer into per-kind parts, counting what it drops/repairs.

    ``clean`` may run in several threads at once (one batch each): a batch's marks and counts
    live in its own ``_Piece`` until they are added to the layer's totals under a lock."""

    def __init__(
        self, src: LayerSource, schema: pa.Schema, plan: LayerPlan, options: VectorOptions
    ) -> None:
        self.src, self.plan, self.options = src, plan, options
        self.secondary = secondary_geoms.converters(src)  # a GeoParquet's other geometries
        self.columns = secondary_geoms.typed(
            plan_columns(schema, src.geometry_column), self.secondary
        )
        self.geometry_index = geometry_index(schema, src.geometry_column)
        self.out_schema = attribute_schema(self.columns, schema)
        self.reprojector = reproject.for_layer(src, options.assume_crs)
        self.range_check = src.lonlat_range_check or self.reprojector.lonlat_degrees
        self.stats = {k: KindStats() for k in wkb.KINDS}
        self.null_rows = 0
        self.rows_read = 0
        self._lock = threading.Lock()

    def _attributes(self, batch: pa.RecordBatch) -> list[pa.Array]:
        out = []
        for c, f in zip(self.columns, self.out_schema, strict=True):
            arr = batch.column(column_position(c, batch.schema))
            if c.source in self.secondary:
                arr = self.secondary[c.source](arr)
            if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
                self._check_utf8(arr, c.source)
            if arr.type != f.type:
                arr = arr.cast(f.type)
            out.append(arr)
        return out

    def _check_utf8(self, arr: pa.Array, column: str) -> None:
        """GDAL passes undecodable bytes through (a DBF whose .cpg lies): refuse them here."""
        try:
            arr.validate(full=True)
        except pa.ArrowInvalid as exc:
            raise DecodingError(
                f"column {column!r} of layer {self.src.name!r} holds text that is not valid "
                f"UTF-8 ({exc}); set the vector encoding option (e.g. cp1252) for this file",
                path=self.src.display,
            ) from exc

    def clean(self, batch: pa.RecordBatch) -> list[CleanPart]:
        """Cleaned parts (one per kind present in this batch) of a source batch."""
        arr = batch.column(self.geometry_index)
        h = wkb.headers(arr)
        attrs = self._attributes(batch)
        null = _null_mask(arr, h)
        piece = _Piece()
        fast = wkb.simple_points(arr, h) if self.plan.kinds == (wkb.POINTS,) else None
        if fast is not None:
            parts = self._clean_points(piece, attrs, h, null, *fast)
        else:
            parts = self._clean_general(piece, attrs, arr, h, null)
        with self._lock:
            self.rows_read += batch.num_rows
            self.null_rows += piece.null_rows
            for kind, st in piece.stats.items():
                self.stats[kind].add(st)
        return parts

    def _range_check(self, x: np.ndarray, y: np.ndarray) -> bool:
        """True when longitudes past +-180 are to be wrapped (``lonlat.check``)."""
        if not self.range_check:
            return False
        return lonlat.check(
            x,
            y,
            wrap=not self.src.crs_assumed,  # a convention's guess is not wrapped
            what=f"geographic CRS {self.reprojector.source_crs}",
            advice=self._crs_advice(),
            path=self.src.display,
            where=lambda: first_bad_rows(self.src),
        )

    def _crs_advice(self) -> str:
        if (
            self.src.driver in ("CSV", "XLSX", "ODS")
            or self.src.crs_assumed
            or self.reprojector.assumed
        ):
            return "set assume_crs to the coordinates' real CRS (e.g. EPSG:25832)"
        return (
            "declare the real CRS in the file (a GeoJSON without a 'crs' member is WGS84 by "
            "definition; a Shapefile needs its .prj) or reproject it to EPSG:4326"
        )

    def _clean_points(
        self,
        piece: _Piece,
        attrs: list[pa.Array],
        h: wkb.WkbHeaders,
        null: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        z: np.ndarray,
    ) -> list[CleanPart]:
        st = piece.stats[wkb.POINTS]
        empty = h.present & (np.isnan(x) | np.isnan(y))
        wrapped = lonlat.beyond(x) if self._range_check(x, y) else None
        if wrapped is not None:
            x = lonlat.wrap_points(x)
        x, y = self.reprojector.xy(x, y)
        invalid = ~null & ~empty & ~(np.isfinite(x) & np.isfinite(y))
        keep = ~invalid & (~null | self.options.keep_null_geometries)
        keep &= ~empty | self.options.keep_empty_geometries
        piece.null_rows += int(null.sum())
        st.rows_read += int((~null).sum())
        st.dropped_empty += int((empty & ~keep).sum())
        st.invalid_dropped += int(invalid.sum())
        zz = (z if z.size else np.zeros_like(x)) if self.plan.has_z[wkb.POINTS] else None
        sel = np.flatnonzero(keep)
        geoms = wkb.multipoint_wkb(x[sel], y[sel], None if zz is None else zz[sel])
        drop_geom = null[sel] | empty[sel]
        if drop_geom.any():
            geoms = _null_or_empty(geoms, null[sel], empty[sel], wkb.POINTS, zz is not None)
        bounds = np.column_stack([x[sel], y[sel], x[sel], y[sel]])
        bounds[drop_geom] = np.nan
        st.rows_loaded += len(sel)
        st.wrapped += 0 if wrapped is None else int(wrapped[sel].sum())
        return [self._part(wkb.POINTS, attrs, sel, geoms, bounds, len(h.present))]

    def _part(
        self,
        kind: str,
        attrs: list[pa.Array],
        sel: np.ndarray,
        geoms: pa.Array,
        bounds: np.ndarray,
        n: int,
    ) -> CleanPart:
        if len(sel) == n:  # sel is sorted and unique: all rows, in order
            cols = attrs
        else:
            idx = pa.array(sel, pa.int64())
            cols = [a.take(idx) for a in attrs]
        batch = pa.RecordBatch.from_arrays(
            [*cols, geoms], schema=self.out_schema.append(pa.field(GEOM, pa.binary()))
        )
        return CleanPart(kind, batch, bounds)

    def _clean_general(
        self,
        piece: _Piece,
        attrs: list[pa.Array],
        arr: pa.Array,
        h: wkb.WkbHeaders,
        null: np.ndarray,
    ) -> list[CleanPart]:
        n = len(arr)
        parsed, piece.closed = parse_wkb_closing(arr)  # open rings closed: repaired
        geoms = parsed
        unparsable = ~null & shapely.is_missing(geoms)
        geoms = geom_rules.drop_m(geoms)
        piece.wrapped = np.zeros(n, bool)
        if self.range_check:
            b = shapely.bounds(geoms)
            if self._range_check(np.r_[b[:, 0], b[:, 2]], np.r_[b[:, 1], b[:, 3]]):
                piece.wrapped = lonlat.beyond(b[:, 0]) | lonlat.beyond(b[:, 2])
                geoms = geoms.copy()
                geoms[piece.wrapped] = antimeridian.wrap_longitudes(geoms[piece.wrapped])
        geoms = self.reprojector.geometries(geoms)
        if self.src.driver in GLOBE_DRIVERS and self.reprojector.identity:
            geoms = antimeridian.split_crossings(geoms, geoms, antimeridian.SHORT_WAY)
        kinds = np.full(n, -1, np.int8)
        ok = ~shapely.is_missing(geoms)
        kinds[ok] = geom_rules.kind_index(geoms[ok])
        empty = ok & shapely.is_empty(geoms)
        geoms = self._empty_collections(geoms, kinds, empty)
        parts = []
        piece.null_rows += int(null.sum())
        header_kind = h.kind_index()
        source = SourceWkb(arr, h, parsed)
        for ki, kind in enumerate(wkb.KINDS):
            rows = np.flatnonzero((kinds == ki) | (unparsable & (header_kind == ki)))
            if kind not in self.plan.kinds:
                self._off_plan(piece, kind, rows)
                continue
            first = kind == self.plan.kinds[0]
            part = self._clean_kind(
                piece, kind, ki, attrs, geoms, rows, empty, null if first else None, source
            )
            if part is not None:
                parts.append(part)
        unknown = int((unparsable & (header_kind < 0)).sum())
        if unknown and self.plan.kinds:
            piece.stats[self.plan.kinds[0]].invalid_dropped += unknown
            piece.stats[self.plan.kinds[0]].rows_read += unknown
        return parts

    def _empty_collections(
        self, geoms: np.ndarray, kinds: np.ndarray, empty: np.ndarray
    ) -> np.ndarray:
        """An empty GeometryCollection has no dimension: it goes to the layer's first table
        (``kinds`` updated) as that table's empty Multi*, to be dropped and counted (or kept)
        like any empty geometry."""
        bare = empty & (kinds < 0)
        if not bare.any() or not self.plan.kinds:
            return geoms
        ki = wkb.KINDS.index(self.plan.kinds[0])
        kinds[bare] = ki
        out = geoms.copy()
        out[bare] = geom_rules.empty_of_kind(ki)
        return out

    def _off_plan(self, piece: _Piece, kind: str, rows: np.ndarray) -> None:
        if not len(rows) or not self.plan.kinds:
            return
        if self.plan.declared:
            raise OffPlanGeometries(
                f"layer {self.src.name!r} is declared as {self.src.geometry_type} but holds {kind}"
            )
        target = piece.stats[self.plan.kinds[0]]
        target.rows_read += len(rows)
        target.invalid_dropped += len(rows)
        warnings.warn(
            f"{self.src.display}: {len(rows)} {kind} feature(s) in layer {self.src.name!r} "
            f"declared as {self.src.geometry_type} were dropped",
            GeometryWarning,
            stacklevel=3,
        )

    def _clean_kind(
        self,
        piece: _Piece,
        kind: str,
        ki: int,
        attrs: list[pa.Array],
        geoms: np.ndarray,
        rows: np.ndarray,
        empty: np.ndarray,
        null: np.ndarray | None,
        source: SourceWkb,
    ) -> CleanPart | None:
        st = piece.stats[kind]
        st.rows_read += len(rows)
        g = geoms[rows]
        is_empty = empty[rows]
        missing = shapely.is_missing(g)  # unparsable
        st.invalid_dropped += int(missing.sum())
        fixed = g.copy()
        check = ~missing & ~is_empty
        if ki > 0 or (shapely.get_type_id(g[check]) == 7).any():
            fixed, repaired, failed = geom_rules.repair_invalid(g, check, ki)
            st.repaired += repaired
            st.invalid_dropped += int(failed.sum())
            missing |= failed
        keep = ~missing & (~is_empty | self.options.keep_empty_geometries)
        st.dropped_empty += int((is_empty & ~keep & ~missing).sum())
        sel = rows[keep]
        out = fixed[keep]
        st.wrapped += int(piece.wrapped[sel].sum())
        for j in np.flatnonzero(piece.closed[rows] & keep):  # closed, and not repaired again
            st.repaired += int(fixed[j] is g[j])
        if null is not None and self.options.keep_null_geometries:
            sel = np.concatenate([sel, np.flatnonzero(null)])
            out = np.concatenate([out, np.full(int(null.sum()), None, dtype=object)])
            order = np.argsort(sel, kind="stable")
            sel, out = sel[order], out[order]
        if not len(sel):
            return None
        out = geom_rules.set_z(geom_rules.empty_to_multi(out), self.plan.has_z[kind])
        multi = wkb.wrap_multi(source.iso_wkb(out, sel, self.plan.has_z[kind]))
        bounds = shapely.bounds(out)
        st.rows_loaded += len(sel)
        part = self._part(kind, attrs, sel, multi, bounds, len(geoms))
        return replace(part, extent_rows=seam_rows(out, bounds))

    def finish_stats(self) -> dict[str, KindStats]:
        """Per-kind counters; null geometries are reported on the layer's first table."""
        if self.plan.kinds:
            first = self.stats[self.plan.kinds[0]]
            kept = self.options.keep_null_geometries
            first.rows_read += self.null_rows
            if not kept:
                first.dropped_null += self.null_rows
        return {k: self.stats[k] for k in self.plan.kinds}


def _null_mask(arr: pa.Array, h: wkb.WkbHeaders) -> np.ndarray:
    """Rows without geometry: Arrow NULL or zero-length WKB."""
    if arr.null_count == 0:
        return h.lengths == 0
    return ~arr.is_valid().to_numpy(zero_copy_only=False) | (h.lengths == 0)


def _null_or_empty(
    geoms: pa.Array, null: np.ndarray, empty: np.ndarray, kind: str, z: bool
) -> pa.Array:
    """Replace rows with NULL (null geometry) or an empty Multi* (empty geometry) WKB."""
    empty_wkb = shapely.to_wkb(
        shapely.from_wkt(f"{wkb.MULTI_TYPE[kind].upper()} {'Z ' if z else ''}EMPTY"),
        flavor="iso",
        output_dimension=3 if z else 2,
    )
    values = geoms.to_pylist()
    for i in np.flatnonzero(null | empty):
        values[i] = None if null[i] else empty_wkb
    return pa.array(values, pa.binary())
