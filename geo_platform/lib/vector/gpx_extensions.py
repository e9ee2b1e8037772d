"""GPX extensions (heart rate, cadence, power, temperature...) kept as columns; times in UTC.

What GPX 1.1 has no element for, devices and apps write under a point's ``<extensions>``:
Garmin's TrackPointExtension (``gpxtpx:hr``, ``cad``, ``atemp``), which Strava, Komoot and
Wahoo exports copy, power (``<power>``), OsmAnd's speed and course, a track's display colour.
GDAL drops them (its reader, asked for extensions, types a nested one by its text and reads
``0``), so the platform reads them itself, in one streaming pass of the file (expat: no tree
kept, no entity expanded, nothing fetched):

- every leaf element (text and no child element) under a feature's own ``<extensions>``, at any
  depth, becomes a column named ``<prefix>_<name>`` after the file's own namespace prefix
  (``gpxtpx_hr``), or ``<name>`` for an element without a namespace (``power``);
- typed ``bigint`` when every value is an integer, ``double`` when every one is a number,
  else text;
- an element repeated within one feature (Garmin's route shaping points ``gpxx:rpt``) has no
  single value per feature and is not a column.

Features are matched to GDAL's by position in their layer (waypoints, routes, route_points,
tracks, track_points), and their values are kept only where GDAL read the same feature at that
position: the same coordinates for a point, the same name for a route or track. As with GeoJSON
ids, a value is never attached to another feature: where the two readings disagree, it is null.

Times too are read here (``gpx_batches``): GDAL's Arrow reader gives a GPX ``time`` without its
zone, as the wall-clock time written (``08:00+02:00`` becomes ``08:00``). Read as text, they are
published as ``timestamptz``: one with an offset converted, one without taken as UTC, as GPX 1.1
says its times are.
"""

from __future__ import annotations

import functools
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from xml.parsers import expat

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from geo_platform.lib.gdal_paths import split_vsizip
from geo_platform.lib.vector import archive
from geo_platform.lib.vector.source import LayerSource

DRIVER = "GPX"
_GPX = frozenset({"http://www.topografix.com/GPX/1/1", "http://www.topografix.com/GPX/1/0", ""})
LAYERS = {"wpt": "waypoints", "rte": "routes", "rtept": "route_points", "trk": "tracks",
          "trkpt": "track_points"}  # fmt: skip
_POINTS = frozenset({"wpt", "rtept", "trkpt"})
# GDAL's own GPX columns, never taken for an extension's.
_STANDARD = re.compile(
    r"(track_fid|track_seg_id|track_seg_point_id|route_fid|route_point_id|ele|time|magvar|"
    r"geoidheight|name|cmt|desc|src|sym|type|fix|sat|hdop|vdop|pdop|ageofdgpsdata|dgpsid|"
    r"number|link\d+_(href|text|type))"
)
_INTEGER = re.compile(r"[+-]?\d{1,18}")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?")


@dataclass(frozen=True, eq=False)
class LayerExtensions:
    """The extension columns of one GPX layer, one value per feature in file order, and what
    identifies each feature: its (lon, lat) for points, its name for routes and tracks."""

    points: bool
    keys: Any  # float64 array (n, 2) for points, a list of names for lines
    columns: dict[str, pa.Array]
    replaces: frozenset[str]  # GDAL's own columns of the same elements (see ``attached``)


def with_extensions(src: LayerSource) -> LayerSource:
    """``src`` set to carry its GPX extension columns, when it has any."""
    if src.driver != DRIVER or src.layer not in LAYERS.values():
        return src
    found = _file_extensions(src)
    layer = found.get(str(src.layer)) if found else None
    return src if layer is None else replace(src, extensions=layer)


def _file_extensions(src: LayerSource) -> dict[str, LayerExtensions] | None:
    member = split_vsizip(src.gdal_path)
    try:
        if member is not None:
            stamp = member[0].stat()
            return _parsed(str(member[0]), member[1], stamp.st_mtime_ns, stamp.st_size)
        if src.gdal_path == str(src.path):
            stamp = src.path.stat()
            return _parsed(src.gdal_path, "", stamp.st_mtime_ns, stamp.st_size)
    except (OSError, KeyError, zipfile.BadZipFile, expat.ExpatError):
        return None  # GDAL reads what expat does not: no extension columns
    return None


@functools.lru_cache(maxsize=4)
def _parsed(path: str, member: str, _mtime: int, _size: int) -> dict[str, LayerExtensions]:
    """Every layer's extensions (the file is read once for its five layers)."""
    if member:
        with archive.open_member(Path(path), member) as (stream, _n):
            return read_extensions(stream)
    with open(path, "rb") as stream:
        return read_extensions(stream)


def read_extensions(stream: IO[bytes]) -> dict[str, LayerExtensions]:
    """Layer name -> its extension columns (layers without any are left out)."""
    reader = _Reader()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartNamespaceDeclHandler = reader.namespace
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text
    parser.ParseFile(stream)
    return {LAYERS[tag]: layer.finished(tag in _POINTS) for tag, layer in reader.layers.items()
            if layer.values}  # fmt: skip


@dataclass
class _Layer:
    keys: list[Any] = field(default_factory=list)
    values: dict[str, list[str | None]] = field(default_factory=dict)
    repeated: set[str] = field(default_factory=set)
    gdal_names: set[str] = field(default_factory=set)

    def add(self, key: Any, record: dict[str, str], repeated: set[str]) -> None:
        for name in record:
            if name not in self.values:
                self.values[name] = [None] * len(self.keys)
        for name, column in self.values.items():
            column.append(record.get(name))
        self.keys.append(key)
        self.repeated |= repeated

    def finished(self, points: bool) -> LayerExtensions:
        columns = {n: _typed(v) for n, v in self.values.items() if n not in self.repeated}
        keys = np.array(self.keys, dtype=np.float64).reshape(-1, 2) if points else self.keys
        return LayerExtensions(points, keys, columns, frozenset(self.gdal_names))


def _typed(values: list[str | None]) -> pa.Array:
    present = [v for v in values if v is not None]
    if all(_INTEGER.fullmatch(v) for v in present):
        return pa.array([None if v is None else int(v) for v in values], pa.int64())
    if all(_NUMBER.fullmatch(v) for v in present):
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    return pa.array(values, pa.string())


@dataclass
class _Frame:
    uri: str
    tag: str
    feature: bool = False
    extensions: bool = False  # a feature's own <extensions>
    child: bool = False
    text: list[str] | None = None


@dataclass
class _Feature:
    tag: str
    key: Any
    record: dict[str, str] = field(default_factory=dict)
    repeated: set[str] = field(default_factory=set)


class _Reader:
    """expat handlers: the features' extension leaves, in file order, per layer."""

    def __init__(self) -> None:
        self.prefixes: dict[str, str] = {}
        self.stack: list[_Frame] = []
        self.features: list[_Feature] = []
        self.inside = 0  # depth of the open <extensions> of the innermost feature (0: none)
        self.layers: dict[str, _Layer] = {}

    def namespace(self, prefix: str | None, uri: str) -> None:
        if prefix:
            self.prefixes.setdefault(uri, prefix)

    def start(self, name: str, attrs: dict[str, str]) -> None:
        uri, _, tag = name.rpartition(" ")
        parent = self.stack[-1] if self.stack else None
        frame = _Frame(uri, tag)
        if parent is not None:
            parent.child = True
        if self.inside:
            frame.text = []
            if len(self.stack) == self.inside:  # GDAL's column for it: <prefix>_<name>
                qualified = f"{self.prefixes.get(uri, '')}_{tag}".lstrip("_")
                self.layers.setdefault(self.features[-1].tag, _Layer()).gdal_names.add(qualified)
        elif uri in _GPX and tag in LAYERS:
            frame.feature = True
            key = (_number(attrs.get("lon")), _number(attrs.get("lat"))) if tag in _POINTS else None
            self.features.append(_Feature(tag, key))
        elif parent is not None and parent.feature and uri in _GPX:
            frame.extensions = tag == "extensions"
            frame.text = [] if tag == "name" else None
        self.stack.append(frame)
        if frame.extensions:
            self.inside = len(self.stack)

    def text(self, data: str) -> None:
        if self.stack and self.stack[-1].text is not None:
            self.stack[-1].text.append(data)

    def end(self, _name: str) -> None:
        frame = self.stack.pop()
        value = "".join(frame.text).strip() if frame.text is not None else ""
        if frame.extensions:
            self.inside = 0
        elif self.inside and not frame.child and value:
            self._leaf(frame, value)
        elif frame.feature:
            done = self.features.pop()
            self.layers.setdefault(done.tag, _Layer()).add(done.key, done.record, done.repeated)
        elif frame.tag == "name" and self.features and self.features[-1].tag not in _POINTS:
            self.features[-1].key = value

    def _leaf(self, frame: _Frame, value: str) -> None:
        prefix = self.prefixes.get(frame.uri) if frame.uri not in _GPX else None
        name = f"{prefix}_{frame.tag}" if prefix else frame.tag
        feature = self.features[-1]
        if name in feature.record:
            feature.repeated.add(name)
        feature.record[name] = value


def _number(text: str | None) -> float:
    try:
        return float(text) if text is not None else float("nan")
    except ValueError:
        return float("nan")


def gpx_batches(
    schema: pa.Schema, batches: Iterable[pa.RecordBatch], src: LayerSource
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """A GPX layer's schema and batches as published: its times (read as text, see
    ``batches.open_batches``) as UTC instants, its extensions (``attached``) as columns."""
    if TIME in schema.names and pa.types.is_string(schema.field(TIME).type):
        at = schema.get_field_index(TIME)
        schema = schema.set(at, pa.field(TIME, _UTC))
        batches = (b.set_column(at, TIME, utc_times(b.column(at))) for b in batches)
    if src.extensions is None:
        return schema, iter(batches)
    return attached(schema, batches, src.extensions, src.geometry_column)


TIME = "time"
_UTC = pa.timestamp("us", tz="UTC")


def utc_times(text: pa.Array) -> pa.Array:
    """GPX times (ISO 8601 as GDAL writes them back) as UTC instants: GPX 1.1 gives times in
    UTC, so one without an offset is UTC; one with an offset (``+02:00``) is converted (GDAL's
    Arrow reader would keep its wall-clock time and drop the offset)."""
    marked = pc.replace_substring_regex(text, r"^([^Z+]*T[0-9:.]+)$", r"\1Z")
    try:
        return pc.cast(marked, _UTC)
    except pa.ArrowInvalid:  # one Arrow does not parse: each on its own, null if unreadable
        return pa.array([_instant(v) for v in marked.to_pylist()], _UTC)


def _instant(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def attached(
    schema: pa.Schema, batches: Iterable[pa.RecordBatch], ext: LayerExtensions, geometry: str
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """GDAL's schema and batches with the layer's extension columns after its own. GDAL's
    columns of the same elements go: where GDAL reads extensions at all, it gives a nested one
    as its XML text, or as ``0`` when it took it for a number. An extension named like a GDAL
    column that stays is named ``extensions_<name>``."""
    keep = [i for i, n in enumerate(schema.names)
            if n not in ext.replaces or _STANDARD.fullmatch(n)]  # fmt: skip
    taken = {schema.names[i].lower() for i in keep}
    names = [f"extensions_{n}" if n.lower() in taken else n for n in ext.columns]
    fields = [schema.field(i) for i in keep]
    fields += [pa.field(n, c.type) for n, c in zip(names, ext.columns.values(), strict=True)]
    out = pa.schema(fields, metadata=schema.metadata)
    return out, _with_columns(batches, ext, geometry, keep, out)


def _with_columns(
    batches: Iterable[pa.RecordBatch],
    ext: LayerExtensions,
    geometry: str,
    keep: list[int],
    schema: pa.Schema,
) -> Iterator[pa.RecordBatch]:
    start = 0
    for batch in batches:
        n = batch.num_rows
        same = _same_features(batch, ext, geometry, start)
        added = [_window(column, start, n, same) for column in ext.columns.values()]
        start += n
        own = [batch.column(i) for i in keep]
        yield pa.RecordBatch.from_arrays([*own, *added], schema=schema)


def _same_features(
    batch: pa.RecordBatch, ext: LayerExtensions, geometry: str, start: int
) -> np.ndarray:
    """Per row of ``batch`` (rows ``start``.. of the layer): is it the feature the extensions
    were read for at that position?"""
    n = batch.num_rows
    keys = ext.keys[start : start + n]
    same = np.zeros(n, dtype=bool)
    if ext.points:
        wkb = batch.column(batch.schema.get_field_index(geometry)).to_numpy(zero_copy_only=False)
        found = shapely.from_wkb(wkb, on_invalid="ignore")
        xy = np.stack([shapely.get_x(found), shapely.get_y(found)], axis=1)[: len(keys)]
        same[: len(keys)] = (xy == keys).all(axis=1)
    elif "name" in batch.schema.names:
        names = batch.column(batch.schema.get_field_index("name")).to_pylist()
        same[: len(keys)] = [a == b for a, b in zip(names, keys, strict=False)]
    return same


def _window(column: pa.Array, start: int, n: int, same: np.ndarray) -> pa.Array:
    part = column.slice(start, n)
    if len(part) < n:
        part = pa.concat_arrays([part, pa.nulls(n - len(part), column.type)])
    return pc.if_else(pa.array(same), part, pa.nulls(n, column.type))
