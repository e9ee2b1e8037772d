"""PostgreSQL binary COPY encoding of whole Arrow batches, without per-row Python.

Each column becomes one or two Arrow binary arrays holding, per row, the 4-byte big-endian
field length (-1 for NULL) and the field's binary wire format; numpy builds them for fixed
width types, Arrow's buffers serve variable ones as they are. One
``binary_join_element_wise`` call then interleaves all columns into the tuple stream (its
data buffer *is* the COPY payload). Only rare types (decimals, nested values as jsonb) take a
per-value Python path. ``store/copy_stream.py`` streams the payloads to the server.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from geo_platform.lib.vector import wkb
from geo_platform.lib.vector.wkb import binary_parts

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
_PG_EPOCH_DAYS = 10_957  # 1970-01-01 -> 2000-01-01
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400 * 1_000_000
_US_PER = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}
_NULL_PREFIX = b"\xff\xff\xff\xff"
LONLAT_GEOMETRY = "geometry(Geometry,4326)"
"""The attribute type of a GeoParquet's secondary geometry columns (``secondary_geoms``)."""


def pg_type_for(t: pa.DataType) -> str:
    """The PostgreSQL type that holds an Arrow type faithfully."""
    if isinstance(t, pa.DictionaryType):
        return pg_type_for(t.value_type)
    if isinstance(t, pa.JsonType):
        return "jsonb"
    checks: list[tuple[Any, str]] = [
        (pa.types.is_boolean, "boolean"),
        (lambda x: x in (pa.int8(), pa.int16(), pa.uint8()), "smallint"),
        (lambda x: x in (pa.int32(), pa.uint16()), "integer"),
        (lambda x: x in (pa.int64(), pa.uint32()), "bigint"),
        (lambda x: x == pa.uint64(), "numeric"),
        (lambda x: x in (pa.float16(), pa.float32()), "real"),
        (pa.types.is_float64, "double precision"),
        (pa.types.is_decimal, "numeric"),
        (lambda x: pa.types.is_string(x) or pa.types.is_large_string(x), "text"),
        (pa.types.is_string_view, "text"),
        (lambda x: pa.types.is_binary(x) or pa.types.is_large_binary(x), "bytea"),
        (lambda x: pa.types.is_fixed_size_binary(x) or pa.types.is_binary_view(x), "bytea"),
        (pa.types.is_date, "date"),
        (lambda x: pa.types.is_timestamp(x) and x.tz is not None, "timestamptz"),
        (pa.types.is_timestamp, "timestamp"),
        (pa.types.is_time, "time"),
        (pa.types.is_duration, "interval"),
        (pa.types.is_null, "text"),
    ]
    for check, name in checks:
        if check(t):
            return name
    return "jsonb"  # lists, structs, maps, unions: nested values


def _values(arr: pa.Array, dtype: str) -> np.ndarray:
    """The values buffer of a primitive array as numpy (nulls hold arbitrary values)."""
    np_dtype = np.dtype(dtype)
    buf = arr.buffers()[1]
    return np.frombuffer(buf, np_dtype, count=len(arr), offset=arr.offset * np_dtype.itemsize)


def _valid(arr: pa.Array) -> np.ndarray | None:
    return None if arr.null_count == 0 else arr.is_valid().to_numpy(zero_copy_only=False)


def _fixed_field(values_be: np.ndarray, valid: np.ndarray | None) -> pa.Array:
    """Length prefix + fixed-width payload per row; NULL rows get -1 and no payload."""
    n = len(values_be)
    w = values_be.dtype.itemsize
    rec = np.empty((n, 4 + w), np.uint8)
    rec[:, :4] = np.frombuffer(np.array(w, ">i4").tobytes(), np.uint8)
    rec[:, 4:] = values_be.view(np.uint8).reshape(n, w)
    if valid is None or valid.all():
        offsets = np.arange(n + 1, dtype=np.int64) * (4 + w)
        data = rec.reshape(-1)
    else:
        rec[~valid, :4] = 0xFF
        keep = np.ones((n, 4 + w), bool)
        keep[~valid, 4:] = False
        data = rec[keep]
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(np.where(valid, 4 + w, 4), out=offsets[1:])
    return _binary(offsets, data, n)


def _binary(offsets: np.ndarray, data: np.ndarray, n: int) -> pa.Array:
    if offsets[-1] < 2**31 - 1:
        return pa.Array.from_buffers(
            pa.binary(), n, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
        )
    return pa.Array.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _varlen_field(arr: pa.Array, version: bytes = b"") -> list[pa.Array]:
    """Length prefix (+ jsonb version byte) and the raw bytes of a binary/text column."""
    offsets, _, valid = binary_parts(arr)
    n = len(arr)
    lengths = (offsets[1:] - offsets[:-1]) + len(version)
    pre = np.empty((n, 4 + len(version)), np.uint8)
    pre[:, :4] = lengths.astype(">i4").view(np.uint8).reshape(n, 4)
    if version:
        pre[:, 4:] = np.frombuffer(version, np.uint8)
    if valid.all():
        prefix = _binary(np.arange(n + 1, dtype=np.int64) * pre.shape[1], pre.reshape(-1), n)
    else:
        pre[~valid, :4] = 0xFF
        keep = np.ones(pre.shape, bool)
        keep[~valid, 4:] = False
        offs = np.zeros(n + 1, np.int64)
        np.cumsum(np.where(valid, pre.shape[1], 4), out=offs[1:])
        prefix = _binary(offs, pre[keep], n)
    data = arr.cast(pa.large_binary() if _is_large(arr.type) else pa.binary())
    if data.null_count:
        data = data.fill_null(b"")
    return [prefix, data]


def _is_large(t: pa.DataType) -> bool:
    return pa.types.is_large_binary(t) or pa.types.is_large_string(t) or pa.types.is_binary_view(t)


def _per_value(arr: pa.Array, encode: Any) -> pa.Array:
    """Slow path: encode each value in Python (decimals, nested JSON)."""
    out = [
        _NULL_PREFIX if v is None else len(b := encode(v)).to_bytes(4, "big") + b
        for v in arr.to_pylist()
    ]
    return pa.array(out, pa.binary())


def _numeric(value: Any) -> bytes:
    """PostgreSQL numeric binary format (base-10000 digits) of a Decimal or int."""
    d = decimal.Decimal(value)
    if not d.is_finite():
        return b"\x00\x00\x00\x00\xc0\x00\x00\x00"  # NaN
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    dscale = max(-exp, 0)
    text = "".join(map(str, digits))
    int_len = len(text) + exp
    if exp > 0:
        text, int_len = text + "0" * exp, len(text) + exp
    int_part, frac_part = text[: max(int_len, 0)], text[max(int_len, 0) :]
    if int_len < 0:
        frac_part = "0" * -int_len + frac_part
    int_part = int_part.zfill((len(int_part) + 3) // 4 * 4)
    frac_part = frac_part.ljust((len(frac_part) + 3) // 4 * 4, "0")
    groups = [int(int_part[i : i + 4]) for i in range(0, len(int_part), 4)]
    weight = len(groups) - 1
    groups += [int(frac_part[i : i + 4]) for i in range(0, len(frac_part), 4)]
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight = 0
    head = np.array([len(groups), weight, 0x4000 if sign else 0, dscale], ">i2").tobytes()
    return head + np.array(groups, ">i2").tobytes()


def jsonable(v: Any) -> Any:
    """A value as JSON-serialisable data: non-finite floats become null, Arrow maps (lists of
    pairs) become objects, tuples lists."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        if v and isinstance(v[0], tuple) and len(v[0]) == 2:  # Arrow map -> list of pairs
            return {str(k): jsonable(x) for k, x in v}
        return [jsonable(x) for x in v]
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dt.date | dt.datetime | dt.time | decimal.Decimal | dt.timedelta):
        return str(v)
    return v


def _json_bytes(v: Any) -> bytes:
    return b"\x01" + json.dumps(jsonable(v), ensure_ascii=False).encode()


def json_text(arr: pa.Array) -> pa.Array:
    """JSON text for a jsonb column: values that are not JSON become JSON strings.

    GDAL types a GeoJSON property as JSON when any feature holds an object or array, and then
    passes the plain strings of the other features through unquoted (``plain``): jsonb would
    reject them. Each value is parsed once (only nested values take this path).
    """
    values = arr.to_pylist()
    fixed = False
    for i, v in enumerate(values):
        if v is None:
            continue
        try:
            json.loads(v, parse_constant=_no_constant)
        except ValueError:
            values[i] = json.dumps(v, ensure_ascii=False)
            fixed = True
    return pa.array(values, arr.type) if fixed else arr


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python accepts NaN/Infinity, jsonb does not


def _text_no_nul(arr: pa.Array) -> pa.Array:
    """PostgreSQL text cannot hold NUL characters: drop them."""
    return pc.replace_substring(arr, "\x00", "")


def encode_column(arr: pa.Array, pg_type: str) -> list[pa.Array]:
    """Binary COPY fields (length prefix + wire format) of one column, as binary arrays."""
    t = arr.type
    if isinstance(t, pa.DictionaryType):
        arr, t = arr.cast(t.value_type), t.value_type
    if pg_type.startswith("geometry") or pg_type == "bytea":
        return _varlen_field(arr)
    if pg_type == "text":
        if pa.types.is_null(t):
            arr = arr.cast(pa.string())
        return _varlen_field(
            _text_no_nul(arr.cast(pa.large_string() if _is_large(t) else pa.string()))
        )
    if pg_type == "jsonb":
        if isinstance(t, pa.JsonType):
            return _varlen_field(json_text(arr.storage), b"\x01")
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return _varlen_field(json_text(arr), b"\x01")
        return [_per_value(arr, _json_bytes)]
    if pg_type == "numeric":
        return [_per_value(arr, _numeric)]
    return [_fixed_field(*_fixed_values(arr, pg_type))]


def _fixed_values(arr: pa.Array, pg_type: str) -> tuple[np.ndarray, np.ndarray | None]:
    t = arr.type
    valid = _valid(arr)
    if pg_type == "boolean":
        return arr.fill_null(False).to_numpy(zero_copy_only=False).astype("u1"), valid
    if pg_type in ("smallint", "integer", "bigint", "real", "double precision"):
        target = {"smallint": ">i2", "integer": ">i4", "bigint": ">i8", "real": ">f4"}
        np_t = target.get(pg_type, ">f8")
        if t == pa.float16():
            arr = arr.cast(pa.float32())
        return _values(arr, np.dtype(arr.type.to_pandas_dtype()).str).astype(np_t), valid
    if pg_type == "date":
        days = _values(arr.cast(pa.date32()), "int32").astype(np.int64) - _PG_EPOCH_DAYS
        return days.astype(">i4"), valid
    if pg_type in ("timestamp", "timestamptz", "interval", "time"):
        return _micros(arr, pg_type), valid
    raise TypeError(f"no binary COPY encoder for {t} as {pg_type}")


def _micros(arr: pa.Array, pg_type: str) -> np.ndarray:
    t = arr.type
    unit = t.unit
    if pg_type == "time":
        raw = _values(arr, "int32" if pa.types.is_time32(t) else "int64").astype(np.int64)
    else:
        raw = _values(arr, "int64")
    per = _US_PER[unit]
    us = raw // 1000 if per is None else raw * per
    if pg_type in ("timestamp", "timestamptz"):
        return (us - _PG_EPOCH_US).astype(">i8")
    if pg_type == "time":
        return us.astype(">i8")
    rec = np.zeros(len(us), dtype=[("us", ">i8"), ("days", ">i4"), ("months", ">i4")])
    rec["us"] = us
    return rec.view("V16")


def ewkb_field(arr: pa.Array, srid: int) -> list[pa.Array]:
    """``encode_column`` of ``wkb.with_srid(arr, srid)`` (the same bytes) without building the
    EWKB values first: each row's length prefix carries its 9-byte EWKB header (byte order,
    type with the SRID flag, SRID) and the WKB after its 5-byte header follows, so the one
    join of ``encode_rows`` copies each geometry once instead of twice. Arrays ``with_srid``
    keeps as they are, and equally long values (points: one reshape), take its path."""
    h = wkb.headers(arr)
    offsets, data, valid = binary_parts(arr)
    present, n = h.present, len(arr)
    simple = present.any() and h.little[present].all() and not (valid & ~present).any()
    if not simple or (present.all() and (h.lengths == h.lengths[0]).all()):
        return _varlen_field(wkb.with_srid(arr, srid))
    pre = np.empty((n, 13), np.uint8)
    lengths = np.where(present, offsets[1:] - offsets[:-1] + 4, -1)
    pre[:, :4] = lengths.astype(">i4").view(np.uint8).reshape(n, 4)
    pre[:, 4] = 1
    types = data[np.where(present, offsets[:-1], 0)[:, None] + np.arange(1, 5)].copy()
    pre[:, 5:9] = (types.view("<u4") | np.uint32(0x20000000)).view(np.uint8)
    pre[:, 9:] = np.frombuffer(np.uint32(srid).astype("<u4").tobytes(), np.uint8)
    if present.all():
        prefix = _binary(np.arange(n + 1, dtype=np.int64) * 13, pre.reshape(-1), n)
    else:
        keep = np.ones(pre.shape, bool)
        keep[~present, 4:] = False
        offs = np.zeros(n + 1, np.int64)
        np.cumsum(np.where(present, 13, 4), out=offs[1:])
        prefix = _binary(offs, pre[keep], n)
    rest = pc.binary_slice(arr.cast(pa.binary()), 5, 2**31 - 1)
    return [prefix, rest.fill_null(b"") if rest.null_count else rest]


def encode_rows(
    columns: Sequence[pa.Array], pg_types: Sequence[str], srid: int | None = None
) -> pa.Buffer:
    """The binary COPY tuples (no signature/trailer) for equally long columns; with ``srid``
    geometry columns are sent as EWKB with that SRID (``ewkb_field``)."""
    parts: list[pa.Array] = []
    for arr, pg_type in zip(columns, pg_types, strict=True):
        if srid is not None and pg_type.startswith("geometry"):
            parts.extend(ewkb_field(arr, srid))
        else:
            parts.extend(encode_column(arr, pg_type))
    count = pa.scalar(len(columns).to_bytes(2, "big"), pa.binary())
    if any(pa.types.is_large_binary(p.type) for p in parts):
        parts = [p.cast(pa.large_binary()) for p in parts]
        count = pa.scalar(count.as_py(), pa.large_binary())
    joined = pc.binary_join_element_wise(count, *parts, pa.scalar(b"", count.type))
    offsets, data, _ = binary_parts(joined)
    return pa.py_buffer(data[offsets[0] : offsets[-1]])
