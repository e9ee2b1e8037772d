"""GeoJSON feature ids that GDAL would otherwise drop.

A GeoJSON feature's ``"id"`` member (RFC 7946, section 3.2) is data: an OSM way, an ArcGIS
OBJECTID, the key another table joins on. GDAL keeps a string id as an ``id`` attribute, but
takes integer ids for its feature ids (FIDs), which are not attributes: a table loaded from
the attributes alone would lose them. And GDAL alters some of those FIDs without a word: a
duplicated id is renumbered (with a warning), a feature without an id, or with a string id
among integer ones, gets an invented one.

So the ids are read twice and only what both readings agree on is kept, as an ``id`` column:

- the file's own ``"id": <integer>`` members, in file order (a byte scan, no JSON parse; a
  member of a zip is scanned as it streams out), used only when there is exactly one per
  feature (an ``"id"`` key in nested properties, or a feature without one, makes the counts
  differ and nothing is added: as before);
- GDAL's FIDs, read with the features; a row whose FID is not the id the scan found at its
  position (renumbered, invented) gets a null ``id``, never an invented value.

A compressed GeoJSON is read from its decompressed copy (``lib.compressed``), so it is a plain
file here. Nothing is done when the layer has an attribute called ``id`` already (a string id, or a
property of that name).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import IO

import numpy as np
import pyarrow as pa

from geo_platform.lib.gdal_paths import split_vsizip
from geo_platform.lib.vector import archive
from geo_platform.lib.vector.source import GEOJSON_ID, LayerSource

DRIVERS = ("GeoJSON", "GeoJSONSeq")
GDAL_FID = "OGC_FID"  # the name of the FID column in GDAL's Arrow stream of a GeoJSON layer
# An "id" key (not inside an escaped string) with an integer value that fits in an int64.
_INTEGER_ID = re.compile(rb'(?<!\\)"id"\s*:\s*(-?\d{1,18})\s*(?=[,}\]])')


def with_feature_ids(src: LayerSource) -> LayerSource:
    """``src`` set to keep its features' integer ids as an ``id`` column, when it can."""
    if src.driver not in DRIVERS or not src.feature_count:
        return src
    if any(f.lower() == GEOJSON_ID for f in src.fields):
        return src
    ids = _file_ids(src)
    if ids is None or len(ids) != src.feature_count:
        return src
    return replace(src, fid_column=GDAL_FID, feature_ids=ids)


def _file_ids(src: LayerSource) -> np.ndarray | None:
    """``scanned_ids`` of the layer's file: a plain file, or a member of a zip."""
    member = split_vsizip(src.gdal_path)
    try:
        if member is not None:
            with archive.open_member(*member) as (stream, _size):
                return scanned_ids(stream)
        if src.gdal_path == str(src.path):
            with src.path.open("rb") as stream:
                return scanned_ids(stream)
    except (OSError, KeyError, zipfile.BadZipFile):  # GDAL reads what Python cannot: no ids
        return None
    return None


def scanned_ids(stream: IO[bytes], chunk: int = 1 << 24) -> np.ndarray | None:
    """Every ``"id": <integer>`` member of the text, in order (None when there is none).

    Read in chunks (memory stays bounded, a zip member streams); each chunk is scanned up to
    its last comma, the rest carried over: a match holds no comma, so none is cut in two. A
    chunk without ``"id"`` in it is not scanned (a file without ids costs one read)."""
    found: list[bytes] = []
    carry = b""
    while True:
        data = stream.read(chunk)
        text = carry + data
        cut = len(text) if not data else text.rfind(b",") + 1
        if b'"id"' in text[:cut]:
            found.extend(_INTEGER_ID.findall(text, 0, cut))
        carry = text[cut:]
        if not data:
            break
    return np.array(found, dtype=np.bytes_).astype(np.int64) if found else None


def checked(batches: Iterable[pa.RecordBatch], ids: np.ndarray) -> Iterator[pa.RecordBatch]:
    """GDAL's batches with its FID column holding the file's id where GDAL read that id
    unaltered, null where it renumbered or invented one (see the module docstring)."""
    start = 0
    for batch in batches:
        index = batch.schema.get_field_index(GDAL_FID)
        fids = batch.column(index).to_numpy(zero_copy_only=False).astype(np.int64)
        expected = np.full(len(fids), -1, np.int64)  # past the scanned ids: no id
        found = ids[start : start + len(fids)]
        expected[: len(found)] = found
        start += len(fids)
        kept = pa.array(fids, pa.int64(), mask=fids != expected)
        yield batch.set_column(index, GDAL_FID, kept)
