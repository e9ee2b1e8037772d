"""GPX extensions (heart rate, cadence, power, temperature...) kept as columns; times in UTC.

What GPX 1.1 has no element for, devices and apps write under a point's ``<extensions>``:
Garmin's TrackPointExtension (``gpxtpx:hr``, ``cad``, ``atemp``), which Strava, Komoot and
Wahoo exports copy, power (``<power>``), OsmAnd's speed and course, a track's display colour.
GDAL drops them (its reader, asked for extensions, types a nested one by its text and reads
``0``), so the platform reads them itself, in one streaming pass of the file (ElementTree's
``iterparse``: each feature emptied once read, no entity expanded, nothing fetched):

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

Times are typed by ``zoned_times``: a GPX ``time`` is a ``timestamptz``, one with an offset
converted, one without taken as UTC, as GPX 1.1 says its times are.
"""

from __future__ import annotations

import functools
import re
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

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
_FEATURE_TAGS = {(f"{{{uri}}}{tag}" if uri else tag): (uri, tag) for uri in _GPX for tag in LAYERS}
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
    except (OSError, KeyError, zipfile.BadZipFile, ElementTree.ParseError):
        return None  # GDAL reads what ElementTree does not: no extension columns
    return None


@functools.lru_cache(maxsize=4)
def _parsed(path: str, member: str, _mtime: int, _size: int) -> dict[str, LayerExtensions]:
    """Every layer's extensions (the file is read once for its five layers; a file without
    an ``<extensions>`` is only scanned for one, ten times faster than parsed)."""
    for parse in (False, True):
        with _opened(path, member) as stream:
            if parse:
                return read_extensions(stream)
            if not _mentions(stream, b"extensions>"):
                return {}
    return {}


@contextmanager
def _opened(path: str, member: str) -> Iterator[IO[bytes]]:
    if member:
        with archive.open_member(Path(path), member) as (stream, _n):
            yield stream
    else:
        with open(path, "rb") as stream:
            yield stream


def _mentions(stream: IO[bytes], word: bytes, chunk: int = 1 << 22) -> bool:
    tail = b""
    while data := stream.read(chunk):
        if word in tail + data[: len(word)] or word in data:
            return True
        tail = data[-len(word) :]
    return False


def read_extensions(stream: IO[bytes]) -> dict[str, LayerExtensions]:
    """Layer name -> its extension columns (layers without any are left out).

    ElementTree's ``iterparse`` (expat and a C tree builder): each feature is read when it
    ends, then emptied, so memory holds no more than a feature at a time (and the emptied
    shells of the points, tens of bytes each)."""
    prefixes: dict[str, str] = {}
    layers: dict[str, _Layer] = {}
    for event, item in ElementTree.iterparse(stream, events=("start-ns", "end")):
        if event == "start-ns":
            prefix, uri = item
            if prefix:
                prefixes.setdefault(uri, prefix)
            continue
        feature = _FEATURE_TAGS.get(item.tag)  # one lookup for the many other elements
        if feature is not None:
            uri, tag = feature
            layers.setdefault(tag, _Layer()).add(item, uri, prefixes, tag in _POINTS)
            item.clear()
    return {LAYERS[tag]: layer.finished(tag in _POINTS) for tag, layer in layers.items()
            if layer.values}  # fmt: skip


def _split(tag: str) -> tuple[str, str]:
    """('{uri}name' or 'name') -> (uri, name)."""
    if tag[:1] == "{":
        uri, _, name = tag[1:].partition("}")
        return uri, name
    return "", tag


@dataclass
class _Layer:
    keys: list[Any] = field(default_factory=list)
    values: dict[str, list[str | None]] = field(default_factory=dict)
    repeated: set[str] = field(default_factory=set)
    gdal_names: set[str] = field(default_factory=set)

    def add(self, feature: Any, uri: str, prefixes: dict[str, str], point: bool) -> None:
        """One feature element: its key and the leaves of its own ``<extensions>``."""
        if point:
            key: Any = (_number(feature.get("lon")), _number(feature.get("lat")))
        else:
            key = feature.findtext(f"{{{uri}}}name" if uri else "name")
            key = key.strip() if key is not None else None
        record: dict[str, str] = {}
        for extensions in feature.iterfind(f"{{{uri}}}extensions" if uri else "extensions"):
            for element in extensions:  # GDAL's column for it: <prefix>_<name>
                child_uri, name = _split(element.tag)
                self.gdal_names.add(f"{prefixes.get(child_uri, '')}_{name}".lstrip("_"))
            for leaf in extensions.iter():
                value = leaf.text.strip() if leaf.text and len(leaf) == 0 else ""
                if value and leaf is not extensions:
                    self._leaf(record, leaf.tag, value, prefixes)
        for name in record:
            if name not in self.values:
                self.values[name] = [None] * len(self.keys)
        for name, column in self.values.items():
            column.append(record.get(name))
        self.keys.append(key)

    def _leaf(self, record: dict[str, str], tag: str, value: str, prefixes: dict[str, str]) -> None:
        uri, local = _split(tag)
        prefix = prefixes.get(uri) if uri not in _GPX else None
        name = f"{prefix}_{local}" if prefix else local
        if name in record:
            self.repeated.add(name)
        record[name] = value

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


def _number(text: str | None) -> float:
    try:
        return float(text) if text is not None else float("nan")
    except ValueError:
        return float("nan")


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
