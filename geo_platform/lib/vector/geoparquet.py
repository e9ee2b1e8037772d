"""GeoParquet 1.1: the silver copy of every table (written), and a bronze format (read).

Written files: WKB geometry in ``geometry`` (ISO WKB, EPSG:4326, lon/lat order), a per-row
``bbox`` struct {xmin, ymin, xmax, ymax} declared as the covering (DuckDB and GDAL use it to
skip row groups), and the "geo" metadata (version 1.1.0, geometry types, CRS as PROJJSON, file
bbox) added to the footer at close, once the bbox of all rows is known. Batches are streamed:
memory stays bounded by one batch plus a row group.

Pyogrio's GDAL has no Parquet driver (its ADBC driver wants libduckdb), so bronze GeoParquet
(1.0 and 1.1) is read with pyarrow, batch by batch: WKB and the native GeoArrow encodings
(``point`` ... ``multipolygon``, converted to WKB per batch by ``geoarrow``); the primary column
is the layer's geometry, its CRS the "geo" metadata's PROJJSON (OGC:CRS84 when absent).
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from geo_platform.lib.errors import (
    InvalidCRSError,
    UnreadableFileError,
    UnsupportedFormatError,
)
from geo_platform.lib.vector import geoarrow, parquet_plain
from geo_platform.lib.vector.source import LayerSource

GEOMETRY = "geometry"
BBOX = "bbox"
GEOPARQUET_VERSION = "1.1.0"
_BBOX_TYPE = pa.struct([(k, pa.float64()) for k in ("xmin", "ymin", "xmax", "ymax")])


@cache
def _projjson_4326() -> dict[str, Any]:
    from pyproj import CRS

    return dict(CRS.from_epsg(4326).to_json_dict())


def _parquet_safe(arr: pa.Array) -> pa.Array:
    """Types Parquet cannot store as such (dictionary of odd types, views) made plain."""
    t = arr.type
    if pa.types.is_string_view(t):
        return arr.cast(pa.string())
    if pa.types.is_binary_view(t):
        return arr.cast(pa.binary())
    return arr


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns worth dictionary encoding: text (names, codes and categories repeat). Numbers,
    dates and the WKB geometry are mostly distinct; trying a dictionary on them first costs more
    time than the rest of the write together and gives a larger file (1M points: 0.63 s and
    72 MB with dictionaries everywhere, 0.26 s and 58 MB with text only)."""
    text = (pa.types.is_string, pa.types.is_large_string, pa.types.is_dictionary)
    return [f.name for f in schema if f.name != GEOMETRY and any(t(f.type) for t in text)]


class GeoParquetWriter:
    """Stream cleaned batches (attributes + WKB ``geom``) into one GeoParquet 1.1 file."""

    def __init__(self, path: Path, attributes: pa.Schema, geometry_type: str) -> None:
        self.path = Path(path)
        self.geometry_type = geometry_type
        fields = [pa.field(f.name, _parquet_safe(pa.nulls(0, f.type)).type) for f in attributes]
        fields += [pa.field(GEOMETRY, pa.binary()), pa.field(BBOX, _BBOX_TYPE)]
        self.schema = pa.schema(fields)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(
            self.path,
            self.schema,
            compression="zstd",
            compression_level=1,
            use_dictionary=dictionary_columns(self.schema),
        )
        self.rows = 0
        self._bounds = np.array([np.inf, np.inf, -np.inf, -np.inf])
        # Encoding and compression run in a worker thread (pyarrow releases the GIL), overlapping
        # with reading and COPY; the short queue bounds memory.
        self._queue: queue.Queue[pa.Table | None] = queue.Queue(maxsize=4)
        self._pending: list[pa.RecordBatch] = []  # the row group being gathered
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="geoparquet-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._writer.write_table(batch)
                except BaseException as exc:
                    self._error = exc

    def end_row_group(self) -> None:
        """Hand the gathered rows to the writer thread as one row group (if any)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        table = pa.Table.from_batches(pending, schema=self.schema)
        # One chunk per column: written exactly as one batch of these rows would be.
        self._queue.put(table.combine_chunks() if len(pending) > 1 else table)

    def _join(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def write(
        self,
        batch: pa.RecordBatch,
        wkb: pa.Array,
        bounds: np.ndarray,
        end_row_group: bool = True,
    ) -> None:
        """Append rows: ``batch`` attributes, their WKB and (n, 4) bounds (NaN when empty).

        Each call ends a row group, unless ``end_row_group=False``: the rows then join the next
        row group (a loader cleaning in small pieces for speed keeps the row groups of its
        reading batches). ``end_row_group()`` ends one explicitly."""
        n = batch.num_rows
        if n == 0:
            if end_row_group:
                self.end_row_group()
            return
        names = [f.name for f in self.schema][:-2]
        cols = [_parquet_safe(batch.column(name)) for name in names]
        finite = np.isfinite(bounds).all(axis=1)
        mask = pa.array(~finite)
        bbox = pa.StructArray.from_arrays(
            [pa.array(bounds[:, i]) for i in range(4)],
            fields=list(_BBOX_TYPE),
            mask=mask,
        )
        cols += [wkb.cast(pa.binary()), bbox]
        if self._error is not None:
            raise self._error
        self._pending.append(pa.record_batch(cols, schema=self.schema))
        if end_row_group:
            self.end_row_group()
        if finite.any():
            b = bounds[finite]
            lo = np.minimum(self._bounds[:2], b[:, :2].min(axis=0))
            hi = np.maximum(self._bounds[2:], b[:, 2:].max(axis=0))
            self._bounds = np.concatenate([lo, hi])
        self.rows += n

    def geo_metadata(self) -> dict[str, Any]:
        column: dict[str, Any] = {
            "encoding": "WKB",
            "geometry_types": [self.geometry_type],
            "crs": _projjson_4326(),
            "covering": {
                "bbox": {k: [BBOX, k] for k in ("xmin", "ymin", "xmax", "ymax")},
            },
        }
        if np.isfinite(self._bounds).all():
            column["bbox"] = [float(v) for v in self._bounds]
        return {
            "version": GEOPARQUET_VERSION,
            "primary_column": GEOMETRY,
            "columns": {GEOMETRY: column},
        }

    def close(self) -> int:
        """Finish the file (footer with the "geo" metadata); returns the row count."""
        if self._error is None:
            self.end_row_group()
        self._join()
        if self._error is not None:
            self._writer.close()
            raise self._error
        self._writer.add_key_value_metadata({"geo": json.dumps(self.geo_metadata())})
        self._writer.close()
        return self.rows

    def abort(self) -> None:
        """Close and delete a partly written file."""
        self._pending = []
        self._join()
        try:
            self._writer.close()
        finally:
            self.path.unlink(missing_ok=True)


def parquet_row_count(path: Path) -> int:
    """Rows in a Parquet file, from its footer (no data read)."""
    return int(pq.ParquetFile(path).metadata.num_rows)


def read_geo_metadata(path: Path) -> dict[str, Any] | None:
    """The decoded "geo" metadata of a Parquet file, or None."""
    meta = pq.ParquetFile(path).metadata.metadata or {}
    raw = meta.get(b"geo")
    return None if raw is None else json.loads(raw)


# --- bronze GeoParquet ------------------------------------------------------------------------
_FAMILY = {"point": "MultiPoint", "linestring": "MultiLineString", "polygon": "MultiPolygon"}
_TYPE_OF_ENCODING = {
    "point": "Point", "linestring": "LineString", "polygon": "Polygon",
    "multipoint": "MultiPoint", "multilinestring": "MultiLineString",
    "multipolygon": "MultiPolygon",
}  # fmt: skip


def _crs_string(column: dict[str, Any], display: str) -> str | None:
    """The column's CRS as 'AUTH:CODE' (or WKT); OGC:CRS84 when the key is absent (the spec's
    default), None when it is explicitly null (unknown CRS)."""
    if "crs" not in column:
        return "OGC:CRS84"
    crs = column["crs"]
    if crs is None:
        return None
    from pyproj import CRS

    try:
        parsed = CRS.from_user_input(crs if isinstance(crs, str) else json.dumps(crs))
    except Exception as exc:
        raise InvalidCRSError(f"unusable CRS in GeoParquet metadata: {exc}", path=display) from exc
    auth = parsed.to_authority()
    return ":".join(auth) if auth else parsed.to_wkt()


def _secondary_crs(column: dict[str, Any]) -> str | None:
    """A secondary geometry column's CRS; None (it stays WKB) when PROJ cannot read it."""
    try:
        return _crs_string(column, "")
    except InvalidCRSError:
        return None


def _declared_type(column: dict[str, Any], arrow_type: pa.DataType) -> str:
    """One geometry type for the layer, or 'Unknown' (the loader then pre-scans).

    A single declared type is used as is ('Polygon Z'); a type and its Multi form (or several
    of one family) give the Multi form; a native encoding without declared types gives its own.
    """
    declared = column.get("geometry_types", column.get("geometry_type")) or []
    types = {declared} if isinstance(declared, str) else set(declared)
    if not types:
        encoding = str(column.get("encoding", "")).lower()
        found = _TYPE_OF_ENCODING.get(encoding)
        return "Unknown" if found is None else found + (" Z" if _has_z(arrow_type) else "")
    if len(types) == 1:
        return types.pop()
    z = any(t.endswith(" Z") for t in types)
    families = {_FAMILY.get(t.removesuffix(" Z").lower().removeprefix("multi")) for t in types}
    if len(families) == 1 and None not in families:
        return f"{families.pop()}{' Z' if z else ''}"
    return "Unknown"


def _has_z(arrow_type: pa.DataType) -> bool:
    while pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_struct(arrow_type):
        return any(arrow_type.field(i).name.lower() == "z" for i in range(arrow_type.num_fields))
    if pa.types.is_fixed_size_list(arrow_type):
        return "z" in arrow_type.value_field.name.lower() or arrow_type.list_size == 3
    return False


def _geo_metadata(pf: pq.ParquetFile, display: str) -> dict[str, Any]:
    raw = (pf.metadata.metadata or {}).get(b"geo")
    if raw is None:  # plain Parquet: a WKB or WKT column found by name and values
        name, encoding, crs = parquet_plain.infer_geometry(pf, display)
        column = {"encoding": encoding, "crs": crs}
        return {"columns": {name: column}, "primary_column": name, "inferred": True}
    try:
        geo = json.loads(raw)
    except ValueError as exc:
        raise UnreadableFileError(f"GeoParquet 'geo' metadata is not JSON: {exc}", display) from exc
    if not isinstance(geo, dict) or not isinstance(geo.get("columns"), dict):
        raise UnreadableFileError("GeoParquet 'geo' metadata has no 'columns'", path=display)
    return geo


def _encodings(geo: dict[str, Any], names: list[str], display: str) -> dict[str, str]:
    """Geometry column -> encoding, each checked against what the platform reads."""
    out = {}
    for name, column in geo["columns"].items():
        encoding = str(column.get("encoding", ""))
        plain = geo.get("inferred") and encoding in parquet_plain.TEXT_ENCODINGS
        if encoding.upper() != "WKB" and not geoarrow.is_native(encoding) and not plain:
            raise UnsupportedFormatError(
                f"GeoParquet column {name!r} has encoding {encoding!r} (readable: WKB, "
                f"{', '.join(geoarrow.ENCODINGS)})",
                path=display,
            )
        if name in names:
            out[name] = "WKB" if encoding.upper() == "WKB" else encoding.lower()
    return out


def parquet_layer_source(path: Path, display: str, assume_crs: str | None = None) -> LayerSource:
    """The single layer of a GeoParquet 1.0/1.1 file: its primary geometry column (WKB or a
    GeoArrow native encoding), CRS from the "geo" metadata (PROJJSON; OGC:CRS84 if absent).
    Other geometry columns are read as WKB (loaded as geometries: ``secondary_geoms``); the
    bbox covering column is left out.
    A plain Parquet file's geometry column and CRS follow ``parquet_plain``'s rule."""
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        raise UnreadableFileError(f"cannot read Parquet: {exc}", path=display) from exc
    geo = _geo_metadata(pf, display)
    schema = pf.schema_arrow
    primary = str(geo.get("primary_column") or next(iter(geo["columns"]), ""))
    column = geo["columns"].get(primary)
    if column is None or primary not in schema.names:
        raise UnreadableFileError(
            f"GeoParquet primary column {primary!r} is missing from the file", path=display
        )
    encodings = _encodings(geo, schema.names, display)
    covering = {v[0] for v in (column.get("covering") or {}).get("bbox", {}).values() if v and v[0]}
    names = [n for n in schema.names if n != primary and n not in covering]
    crs = _crs_string(column, display)
    assumed = bool(geo.get("inferred")) and crs is None and not assume_crs
    return LayerSource(
        path=path,
        display=display,
        gdal_path=str(path),
        layer=None,
        name=path.stem,
        driver="Parquet" if geo.get("inferred") else "GeoParquet",  # plain: no "geo" metadata
        crs="EPSG:4326" if assumed else crs,
        crs_assumed=assumed,
        lonlat_range_check=assumed,
        geometry_type=_declared_type(column, schema.field(primary).type),
        feature_count=pf.metadata.num_rows,
        fields=tuple(names),
        geometry_column=primary,
        geometry_encodings=encodings,
        geometry_crs={n: _secondary_crs(geo["columns"][n]) for n in encodings if n in names},
    )


def parquet_schema(src: LayerSource, columns: list[str] | None) -> pa.Schema:
    """The schema of the batches ``iter_parquet_batches`` yields (geometries as WKB)."""
    names = list(src.fields) if columns is None else list(columns)
    full = pq.ParquetFile(src.gdal_path).schema_arrow
    return _wkb_schema(pa.schema([full.field(n) for n in [*names, src.geometry_column]]), src)


def _native(schema: pa.Schema, src: LayerSource) -> dict[str, str]:
    """Columns of ``schema`` in a GeoArrow native encoding -> that encoding."""
    encodings = src.geometry_encodings
    return {n: encodings[n] for n in schema.names if encodings.get(n, "WKB") != "WKB"}


def _wkb_schema(schema: pa.Schema, src: LayerSource) -> pa.Schema:
    native = _native(schema, src)
    return pa.schema(
        [f.with_type(pa.binary()).remove_metadata() if f.name in native else f for f in schema]
    )


def _as_wkb(batch: pa.RecordBatch, src: LayerSource) -> pa.RecordBatch:
    native = _native(batch.schema, src)
    if not native:
        return batch
    arrays = [
        _to_wkb(batch.column(i), native[name]) if name in native else batch.column(i)
        for i, name in enumerate(batch.schema.names)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=_wkb_schema(batch.schema, src))


def _to_wkb(arr: pa.Array, encoding: str) -> pa.Array:
    if encoding in parquet_plain.TEXT_ENCODINGS:
        return parquet_plain.to_iso_wkb(arr, encoding)
    return geoarrow.to_wkb(arr, encoding)


def iter_parquet_batches(
    src: LayerSource, batch_size: int, columns: list[str] | None
) -> Iterator[pa.RecordBatch]:
    """The layer's rows in batches of at most ``batch_size`` (row group by row group, so
    memory stays bounded), every geometry column as WKB."""
    names = list(src.fields) if columns is None else list(columns)
    try:
        pf = pq.ParquetFile(src.gdal_path)
        for batch in pf.iter_batches(batch_size=batch_size, columns=[*names, src.geometry_column]):
            yield _as_wkb(batch, src)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise UnreadableFileError(f"cannot read Parquet: {exc}", path=src.display) from exc
