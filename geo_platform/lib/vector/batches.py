"""A layer's features as Arrow batches: attributes plus WKB geometry, in bounded batches.

``open_batches`` streams a layer (``read.open_source``) through pyogrio's Arrow reader, or
through pyarrow for GeoParquet, in batches of the size asked. A GeoJSON whose reader the loader
opened ahead (``prefetch``) is read from that reader, re-sliced to the same batches. GDAL's
errors become ``UnreadableFileError`` (or ``FormatMismatchError``) naming the blob.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pyarrow as pa
import pyogrio
from pyogrio.raw import open_arrow

from geo_platform.lib.errors import FormatMismatchError, UnreadableFileError, gdal_input_error
from geo_platform.lib.vector import geojson_ids, geoparquet, gpx_extensions, zoned_times
from geo_platform.lib.vector.prefetch import rechunked
from geo_platform.lib.vector.source import LayerSource


def reader_error(exc: Exception, src: LayerSource) -> UnreadableFileError | FormatMismatchError:
    """GDAL's error naming the blob (``src.display``), never a local path."""
    return gdal_input_error(exc, src.display, "vector", src.gdal_path, src.path)


@contextmanager
def open_batches(
    src: LayerSource, batch_size: int = 65_536, columns: list[str] | None = None
) -> Iterator[tuple[pa.Schema, Iterator[pa.RecordBatch]]]:
    """(Arrow schema, batch iterator) of a layer: attributes plus WKB in ``geometry_column``.

    ``columns=[]`` reads the geometry only (the pre-scan). GDAL errors while opening or
    reading become ``UnreadableFileError`` naming the file.
    """
    if src.driver in ("GeoParquet", "Parquet"):
        schema = geoparquet.parquet_schema(src, columns)
        yield schema, geoparquet.iter_parquet_batches(src, batch_size, columns)
        return
    fids = bool(src.fid_column) and columns is None  # kept: other tables may refer to them
    ahead = src.prefetch.take(src) if src.prefetch is not None and columns is None else None
    if ahead is not None:
        schema, batches = _prefetched(ahead, src, batch_size, fids)
        yield zoned_times.typed(schema, batches, src.driver)
        return
    with ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        try:
            _meta, reader = stack.enter_context(
                open_arrow(
                    src.gdal_path,
                    layer=src.layer,
                    columns=columns,
                    encoding=src.encoding,
                    batch_size=batch_size,
                    use_pyarrow=True,
                    return_fids=fids,
                    datetime_as_string=zoned_times.read_as_text(src.driver),
                    **src.open_options,
                )
            )
        except _GDAL_ERRORS as exc:
            raise reader_error(exc, src) from exc
        # Only errors raised while GDAL reads are translated, never the consumer's own.
        fid_as = src.fid_output_name() if fids else None
        names = [fid_as if n == src.fid_column and fid_as else n for n in reader.schema.names]
        schema = pa.schema([f.with_name(n) for f, n in zip(reader.schema, names, strict=True)])
        batches = _guarded(reader, src)
        if fids and src.feature_ids is not None:
            batches = geojson_ids.checked(batches, src.feature_ids)
        if fids:
            batches = (b.rename_columns(names) for b in batches)
        if zoned_times.read_as_text(src.driver):
            schema, batches = zoned_times.typed(schema, batches, src.driver)
        if src.driver == gpx_extensions.DRIVER and columns is None and src.extensions:
            schema, batches = gpx_extensions.attached(
                schema, batches, src.extensions, src.geometry_column
            )
        yield schema, batches


_GDAL_ERRORS = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.FieldError,
    OSError,
    pa.ArrowInvalid,
)


def _guarded(reader: Any, src: LayerSource) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except _GDAL_ERRORS as exc:
        raise reader_error(exc, src) from exc


def _prefetched(
    reader: Any, src: LayerSource, batch_size: int, fids: bool
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema and batches of the reader ``prefetch`` opened: GDAL's FID column (first)
    named as ``open_batches`` names it, or dropped; batches re-sliced to ``batch_size``."""
    fid_as = src.fid_output_name() if fids else None
    keep = list(range(len(reader.schema))) if fids else list(range(1, len(reader.schema)))
    fields = [reader.schema.field(i) for i in keep]
    if fid_as:
        fields[0] = fields[0].with_name(fid_as)
    schema = pa.schema(fields)
    batches: Iterator[pa.RecordBatch] = rechunked(_guarded(reader, src), batch_size)
    if fids and src.feature_ids is not None:
        batches = geojson_ids.checked(batches, src.feature_ids)
    return schema, (pa.RecordBatch.from_arrays([b.column(i) for i in keep], schema=schema)
                    for b in batches)  # fmt: skip


def iter_batches(
    src: LayerSource, batch_size: int = 65_536, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """The batches of ``open_batches`` without the schema."""
    with open_batches(src, batch_size, columns) as (_schema, batches):
        yield from batches
