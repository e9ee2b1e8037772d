"""GeoParquet 1.1: the silver copy of every table (written), and a bronze format (read).

Written files: WKB geometry in ``geometry`` (ISO WKB, EPSG:4326, lon/lat order), a per-row
``bbox`` struct {xmin, ymin, xmax, ymax} declared as the covering (DuckDB and GDAL use it to
skip row groups), and the "geo" metadata (version 1.1.0, geometry types, CRS as PROJJSON, file
bbox) added to the footer at close, once the bbox of all rows is known. Batches are streamed:
memory stays bounded by one batch plus a row group.

Pyogrio's GDAL has no Parquet driver, so bronze GeoParquet is read with pyarrow (WKB encoding;
the native GeoArrow encodings are refused with a clear error).
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
            self.path, self.schema, compression="zstd", compression_level=1
        )
        self.rows = 0
        self._bounds = np.array([np.inf, np.inf, -np.inf, -np.inf])
        # Encoding and compression run in a worker thread (pyarrow releases the GIL), overlapping
        # with reading and COPY; the short queue bounds memory.
        self._queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="geoparquet-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._writer.write_batch(batch)
                except BaseException as exc:
                    self._error = exc

    def _join(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def write(self, batch: pa.RecordBatch, wkb: pa.Array, bounds: np.ndarray) -> None:
        """Append rows: ``batch`` attributes, their WKB and (n, 4) bounds (NaN when empty)."""
        n = batch.num_rows
        if n == 0:
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
        self._queue.put(pa.record_batch(cols, schema=self.schema))
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
        self._join()
        if self._error is not None:
            self._writer.close()
            raise self._error
        self._writer.add_key_value_metadata({"geo": json.dumps(self.geo_metadata())})
        self._writer.close()
        return self.rows

    def abort(self) -> None:
        """Close and delete a partly written file."""
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
def _crs_string(column: dict[str, Any], display: str) -> str | None:
    if "crs" not in column:
        return "OGC:CRS84"  # the spec's default
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


def _declared_type(column: dict[str, Any]) -> str:
    types = set(column.get("geometry_types") or [])
    return types.pop() if len(types) == 1 else "Unknown"


def parquet_layer_source(path: Path, display: str) -> LayerSource:
    """The single layer of a GeoParquet file (primary geometry column, WKB encoding)."""
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        raise UnreadableFileError(f"cannot read Parquet: {exc}", path=display) from exc
    raw = (pf.metadata.metadata or {}).get(b"geo")
    if raw is None:
        raise UnsupportedFormatError("Parquet file without GeoParquet 'geo' metadata", path=display)
    geo = json.loads(raw)
    primary = geo.get("primary_column")
    column = geo.get("columns", {}).get(primary, {})
    if column.get("encoding", "").upper() != "WKB":
        raise UnsupportedFormatError(
            f"GeoParquet geometry encoding {column.get('encoding')!r} is not supported (WKB only)",
            path=display,
        )
    covering = {v[0] for v in column.get("covering", {}).get("bbox", {}).values()}
    names = [n for n in pf.schema_arrow.names if n != primary and n not in covering]
    return LayerSource(
        path=path,
        display=display,
        gdal_path=str(path),
        layer=None,
        name=path.stem,
        driver="GeoParquet",
        crs=_crs_string(column, display),
        geometry_type=_declared_type(column),
        feature_count=pf.metadata.num_rows,
        fields=tuple(names),
        geometry_column=str(primary),
    )


def parquet_schema(src: LayerSource, columns: list[str] | None) -> pa.Schema:
    names = list(src.fields) if columns is None else list(columns)
    full = pq.ParquetFile(src.gdal_path).schema_arrow
    return pa.schema([full.field(n) for n in [*names, src.geometry_column]])


def iter_parquet_batches(
    src: LayerSource, batch_size: int, columns: list[str] | None
) -> Iterator[pa.RecordBatch]:
    names = list(src.fields) if columns is None else list(columns)
    try:
        pf = pq.ParquetFile(src.gdal_path)
        yield from pf.iter_batches(batch_size=batch_size, columns=[*names, src.geometry_column])
    except (OSError, pa.ArrowException) as exc:
        raise UnreadableFileError(f"cannot read Parquet: {exc}", path=src.display) from exc
