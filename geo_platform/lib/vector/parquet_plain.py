"""Plain Parquet with a geometry column but no GeoParquet "geo" metadata.

DuckDB without its spatial extension, Spark, BigQuery and pandas (``shapely.to_wkb``) exports
write geometries as WKB (``binary``) or WKT (``string``) columns and no "geo" metadata. The
rule:

- the geometry column is the first column whose name is a known geometry name (``geometry``,
  ``geom``, ``wkb_geometry``, ``the_geom``, ``wkt``, ``shape``...) or, failing that, the first
  column of any name, whose sampled values (the first rows) all parse as WKB (a ``binary``
  column) or as WKT (a string column); none is an ``UnsupportedFormatError`` naming the
  columns;
- EWKB values that carry one SRID (PostGIS ``bytea``) declare the CRS ``EPSG:<srid>``;
  otherwise the file declares no CRS, and the CSV rule holds: ``assume_crs`` when configured,
  else WGS84 lon/lat assumed, recorded as assumed, and every coordinate range-checked;
- WKT and EWKB are converted to ISO WKB batch by batch (an unparsable WKT value becomes a
  null geometry, dropped and counted like any other).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from geo_platform.lib.errors import UnsupportedFormatError
from geo_platform.lib.vector.geomtext import WKT_START
from geo_platform.lib.vector.options import DEFAULT_WKT_NAMES

_NAMES = (*DEFAULT_WKT_NAMES, "geog", "geography", "wktgeometry", "geometrywkb")
_SAMPLE_ROWS = 100
_SRID_FLAG = 0x20000000
TEXT_ENCODINGS = ("wkt", "ewkb")  # converted to WKB while reading (see ``to_iso_wkb``)


def _norm(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


def _is_binary(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _sample(pf: pq.ParquetFile, name: str) -> list[Any]:
    if pf.metadata.num_row_groups == 0:
        return []
    column = pf.read_row_group(0, columns=[name]).column(0)
    return [v for v in column.slice(0, _SAMPLE_ROWS).to_pylist() if v not in (None, b"", "")]


def _parses(values: list[Any], text: bool) -> bool:
    import shapely

    if not values:
        return False
    try:
        geoms = shapely.from_wkt(values) if text else shapely.from_wkb(values)
    except Exception:
        return False
    return bool(np.all(shapely.is_geometry(geoms)))


def _srids(values: list[bytes]) -> set[int]:
    """SRIDs the sampled EWKB values carry (0 for a value that carries none)."""
    out = set()
    for v in values:
        if len(v) < 9:
            continue
        little = v[0] == 1
        flags = int.from_bytes(v[1:5], "little" if little else "big")
        srid = int.from_bytes(v[5:9], "little" if little else "big")
        out.add(srid if flags & _SRID_FLAG else 0)
    return out


def infer_geometry(pf: pq.ParquetFile, display: str) -> tuple[str, str, str | None]:
    """(column, encoding "WKB"/"ewkb"/"wkt", CRS the values declare or None) of a plain
    Parquet file; ``UnsupportedFormatError`` when no column holds geometries."""
    schema = pf.schema_arrow
    named = [f for f in schema if _norm(f.name) in _NAMES]
    others = [f for f in schema if f not in named]
    for f in [*named, *others]:
        text = _is_text(f.type)
        if not (text or _is_binary(f.type)):
            continue
        values = _sample(pf, f.name)
        if text and not all(WKT_START.match(v) for v in values):
            continue  # a text column is the geometry only when every sampled value is WKT
        if not _parses(values, text):
            continue
        if text:
            return f.name, "wkt", None
        srids = _srids(values)
        if srids == {0}:
            return f.name, "WKB", None
        if len(srids) > 1:
            raise UnsupportedFormatError(
                f"Parquet column {f.name!r} mixes SRIDs {sorted(srids)} in its EWKB values",
                path=display,
            )
        return f.name, "ewkb", f"EPSG:{srids.pop()}"
    raise UnsupportedFormatError(
        "Parquet file without GeoParquet 'geo' metadata and without a WKB or WKT geometry "
        f"column (columns: {schema.names}); write it as GeoParquet, or name the geometry "
        "column 'geometry'",
        path=display,
    )


def to_iso_wkb(arr: pa.Array | pa.ChunkedArray, encoding: str) -> pa.Array:
    """A WKT or EWKB column as ISO WKB (``binary``), Z kept, nulls and bad WKT as null."""
    import shapely

    values = arr.to_numpy(zero_copy_only=False)
    if encoding == "wkt":
        geoms = shapely.from_wkt(values, on_invalid="ignore")
    else:
        geoms = shapely.from_wkb(values, on_invalid="ignore")
    has_z = bool(np.any(shapely.has_z(geoms[shapely.is_geometry(geoms)])))
    wkb = shapely.to_wkb(geoms, output_dimension=3 if has_z else 2, flavor="iso")
    return pa.array(wkb, type=pa.binary())
