"""Arrow IPC files and streams (``.arrow``, ``.feather``, ``.arrows``, ``.ipc``): a bronze format.

geopandas' ``to_feather`` writes a WKB geometry column and GeoParquet's "geo" metadata in the
schema; GDAL's Arrow driver a column of a GeoArrow extension type (``geoarrow.wkb``, or native
``geoarrow.point`` ... ``geoarrow.multipolygon``) whose CRS is in the extension metadata.
Pyogrio's GDAL has no Arrow driver, so the file is read with pyarrow and copied batch by batch
(memory: one batch) into a private Parquet file with the same columns and metadata, which is
then read as GeoParquet (``geoparquet.parquet_layer_source``): the same geometry columns,
encodings, CRS rule and errors. Without "geo" metadata the GeoArrow fields stand in for it (a
field without a CRS: WGS84 lon/lat assumed and range-checked, as for plain Parquet); without
either, the plain Parquet rule finds the geometry column by name and values (``parquet_plain``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from geo_platform.lib.errors import UnreadableFileError
from geo_platform.lib.vector import csvsource, geoarrow, geoparquet
from geo_platform.lib.vector.source import LayerSource

FILE_MAGIC = b"ARROW1"
"""An IPC file (Feather V2) starts with it; a stream with its schema message (``content``)."""
_ROW_GROUP = 65_536
_EXTENSION_NAME, _EXTENSION_META = b"ARROW:extension:name", b"ARROW:extension:metadata"


def arrow_layer_source(path: Path, display: str, assume_crs: str | None = None) -> LayerSource:
    """The single layer of an Arrow IPC file or stream, read from its private Parquet copy
    (deleted with the last layer that uses it), named after the file."""
    holder = _as_parquet(path, display)
    src = geoparquet.parquet_layer_source(Path(holder.path), display, assume_crs)
    return replace(src, path=path, name=path.stem, keepalive=holder)


def _as_parquet(path: Path, display: str) -> csvsource.TempCopy:
    fd, tmp = tempfile.mkstemp(suffix=".parquet", prefix="geo_platform_")
    os.close(fd)
    holder = csvsource.TempCopy(tmp)
    try:
        with pa.memory_map(str(path)) as source:
            schema, batches = _reader(source)
            plain = _plain_schema(schema)
            with pq.ParquetWriter(tmp, plain, compression="none") as writer:
                for batch in batches:
                    arrays = [_storage(c) for c in batch.columns]
                    writer.write_batch(pa.record_batch(arrays, schema=plain), _ROW_GROUP)
    except (OSError, pa.ArrowException) as exc:
        raise UnreadableFileError(f"cannot read Arrow IPC: {exc}", path=display) from exc
    return holder


def _reader(source: pa.MemoryMappedFile) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """(schema, batches) of an IPC file (random access) or stream, read in place (mapped)."""
    is_file = source.read(len(FILE_MAGIC)) == FILE_MAGIC
    source.seek(0)
    if is_file:
        reader = ipc.open_file(source)
        count = reader.num_record_batches
        return reader.schema, (reader.get_batch(i) for i in range(count))
    stream = ipc.open_stream(source)
    return stream.schema, iter(stream)


def _storage(arr: pa.Array) -> pa.Array:
    return arr.storage if isinstance(arr, pa.ExtensionArray) else arr


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with extension types as their storage (their names kept in the field metadata,
    as a reader without them registered sees them), and "geo" metadata from the GeoArrow
    fields when the file has none."""
    fields = [_plain_field(f) for f in schema]
    meta = dict(schema.metadata or {})
    if b"geo" not in meta:
        geo = _geo_of_extensions(fields)
        if geo is not None:
            meta[b"geo"] = json.dumps(geo).encode()
    return pa.schema(fields, metadata=meta or None)


def _plain_field(field: pa.Field) -> pa.Field:
    if not isinstance(field.type, pa.BaseExtensionType):
        return field
    serialize = getattr(field.type, "__arrow_ext_serialize__", None)
    meta = {**(field.metadata or {}), _EXTENSION_NAME: field.type.extension_name.encode()}
    if serialize is not None:
        meta[_EXTENSION_META] = serialize()
    return pa.field(field.name, field.type.storage_type, field.nullable, meta)


def _geo_of_extensions(fields: list[pa.Field]) -> dict[str, Any] | None:
    """GeoParquet "geo" metadata for the GeoArrow fields (the first one primary), or None.
    A primary field without a CRS makes it ``inferred``: lon/lat assumed, as plain Parquet."""
    columns: dict[str, dict[str, Any]] = {}
    for field in fields:
        meta = field.metadata or {}
        kind = meta.get(_EXTENSION_NAME, b"").decode(errors="replace").removeprefix("geoarrow.")
        if kind != "wkb" and not geoarrow.is_native(kind):
            continue
        try:
            crs = json.loads(meta.get(_EXTENSION_META) or b"{}").get("crs")
        except (ValueError, AttributeError):
            crs = None
        columns[field.name] = {"encoding": "WKB" if kind == "wkb" else kind, "crs": crs}
    if not columns:
        return None
    primary = next(iter(columns))
    geo = {"version": geoparquet.GEOPARQUET_VERSION, "primary_column": primary, "columns": columns}
    return {**geo, "inferred": True} if columns[primary]["crs"] is None else geo
