"""Date-times with their zone: instants published as ``timestamptz``, converted to UTC.

GDAL's Arrow reader keeps a DateTime field's zone only when the whole field shares one (or, for
a GeoPackage, converts to UTC). Elsewhere it gives the wall-clock time written and drops the
offset: in a GeoJSON, a GML, a FlatGeobuf or a KML whose times mix ``+02:00`` and ``Z``,
``08:00+02:00`` and ``08:00Z`` both became ``08:00``, two hours apart in truth, equal in the
table. So those layers are read with DateTime fields as text (``DATETIME_AS_STRING``, marked
``GDAL:OGR:type=DateTime``) and typed here:

- a column whose first batch holds a time with a zone (``Z``, ``+02:00``, ``-0500``) is a
  ``timestamptz``: each time with a zone is converted, one without taken as UTC;
- a column without any zone there stays a ``timestamp`` (wall-clock time, as written); a later
  time with a zone is converted to UTC before its zone is dropped;
- formats whose times are instants by definition are ``timestamptz`` whatever their text says,
  one without a zone taken as UTC: GPX 1.1 (UTC by its schema), Esri JSON (epoch
  milliseconds), KML (``TimeStamp``/``TimeSpan`` place features on a global time line; Google
  Earth reads a time without a zone as UTC). So one KML layout gives one column type, whatever
  times a file happens to hold.

A time neither Arrow nor ``datetime.fromisoformat`` reads becomes null (GDAL read it, so this
does not happen in practice).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

AS_TEXT_EXCEPT = frozenset({"GPKG", "GeoParquet", "Parquet"})
"""Drivers whose Arrow stream keeps instants right (a GeoPackage's are converted to UTC)."""
UTC_BY_DEFINITION = frozenset({"GPX", "ESRIJSON", "LIBKML", "KML"})
UTC = pa.timestamp("us", tz="UTC")
NAIVE = pa.timestamp("us")
_GDAL_TYPE = b"GDAL:OGR:type"
_ZONE = r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
_NO_ZONE = r"^([^T]*T[0-9:.]+)$"


def read_as_text(driver: str) -> bool:
    """Whether ``driver``'s DateTime fields are read as text and typed here."""
    return driver not in AS_TEXT_EXCEPT


def _date_times(schema: pa.Schema) -> list[int]:
    return [
        i
        for i, f in enumerate(schema)
        if pa.types.is_string(f.type) and (f.metadata or {}).get(_GDAL_TYPE) == b"DateTime"
    ]


def typed(
    schema: pa.Schema, batches: Iterable[pa.RecordBatch], driver: str
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """``schema`` and ``batches`` with their DateTime text columns as instants (see above)."""
    at = _date_times(schema)
    if not at:
        return schema, iter(batches)
    stream = iter(batches)
    first = next(stream, None)
    zoned = {i: driver in UTC_BY_DEFINITION or _has_zone(first, i) for i in at}
    for i in at:
        f = schema.field(i)
        schema = schema.set(i, pa.field(f.name, UTC if zoned[i] else NAIVE, f.nullable))
    rest = stream if first is None else itertools.chain([first], stream)
    return schema, (_typed_batch(b, schema, zoned) for b in rest)


def _has_zone(batch: pa.RecordBatch | None, i: int) -> bool:
    if batch is None:
        return False
    return bool(pc.any(pc.match_substring_regex(batch.column(i), _ZONE)).as_py())


def _typed_batch(
    batch: pa.RecordBatch, schema: pa.Schema, zoned: dict[int, bool]
) -> pa.RecordBatch:
    arrays = list(batch.columns)
    for i, is_zoned in zoned.items():
        arrays[i] = utc_instants(arrays[i]) if is_zoned else _wall_clock(arrays[i])
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _wall_clock(text: pa.Array) -> pa.Array:
    try:  # the usual case, times without a zone: one cast (~50 ns a time)
        return pc.cast(text, NAIVE)
    except pa.ArrowInvalid:
        return utc_instants(text).cast(NAIVE)


def utc_instants(text: pa.Array) -> pa.Array:
    """ISO 8601 times as UTC instants: one with a zone converted, one without taken as UTC."""
    try:  # every time with a zone: one cast, without the regular expression (8x slower)
        return pc.cast(text, UTC)
    except pa.ArrowInvalid:
        pass
    marked = pc.replace_substring_regex(text, _NO_ZONE, r"\1Z")
    try:
        return pc.cast(marked, UTC)
    except pa.ArrowInvalid:  # one Arrow does not parse: each on its own, null if unreadable
        return pa.array([_instant(v) for v in marked.to_pylist()], UTC)


def _instant(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
