"""Rendering query results: a terminal table, CSV, JSON or (Geo)Parquet.

Geometry columns (WKB in Parquet) are shown as WKT in the text formats, so that a result is
readable without a spatial extension; binary columns that are not WKB are shown as hex.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import shapely

from geo_platform.lib.errors import InputError
from geo_platform.lib.vector.pgcopy import jsonable

MAX_CELL_WIDTH = 60
_GEOMETRY_NAMES = ("geometry", "geom", "wkb_geometry", "geog")


def _is_binary(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)


def _readable_binary(arr: pa.ChunkedArray) -> pa.Array:
    """WKT if every non-null value is WKB, else hex."""
    values = arr.to_numpy(zero_copy_only=False)
    geoms = shapely.from_wkb(values, on_invalid="ignore")
    bad = (geoms == None) & (values != None)  # noqa: E711 (element-wise)
    if not bad.any():
        return pa.array(shapely.to_wkt(geoms, rounding_precision=7), pa.string())
    return pa.array([None if v is None else bytes(v).hex() for v in values], pa.string())


def readable(table: pa.Table) -> pa.Table:
    """The table with binary columns as text (WKT or hex)."""
    cols = []
    for col in table.columns:
        cols.append(_readable_binary(col) if _is_binary(col.type) else col)
    return pa.table(cols, names=table.column_names)


def to_json(table: pa.Table) -> str:
    rows = [jsonable(r) for r in readable(table).to_pylist()]
    return json.dumps(rows, ensure_ascii=False, default=str, indent=1)


def to_csv(table: pa.Table) -> str:
    buf = io.BytesIO()
    pacsv.write_csv(readable(table), buf)
    return buf.getvalue().decode()


def _cell(v: Any) -> str:
    text = "NULL" if v is None else str(v)
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_CELL_WIDTH else text[: MAX_CELL_WIDTH - 1] + "…"


def to_table(table: pa.Table, max_rows: int = 100) -> str:
    """A plain fixed-width table (at most ``max_rows`` rows, long values cut)."""
    shown = readable(table.slice(0, max_rows))
    header = shown.column_names
    rows = [[_cell(v) for v in r.values()] for r in shown.to_pylist()]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    line = "+".join("-" * (w + 2) for w in widths)
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), line]
    out += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    footer = f"({table.num_rows} row{'s' if table.num_rows != 1 else ''}"
    footer += f", first {max_rows} shown)" if table.num_rows > max_rows else ")"
    return "\n".join([*out, footer])


def text(table: pa.Table, fmt: str, max_rows: int = 100) -> str:
    if fmt == "table":
        return to_table(table, max_rows)
    if fmt == "csv":
        return to_csv(table)
    if fmt == "json":
        return to_json(table)
    raise InputError(f"format {fmt!r} has no text form")


def _geo_metadata(table: pa.Table) -> dict[str, Any] | None:
    """GeoParquet metadata for the first binary column named like a geometry, if it is WKB."""
    for name in _GEOMETRY_NAMES:
        if name in table.column_names and _is_binary(table.schema.field(name).type):
            values = table.column(name).to_numpy(zero_copy_only=False)
            geoms = shapely.from_wkb(values, on_invalid="ignore")
            if ((geoms == None) & (values != None)).any():  # noqa: E711
                return None
            types = sorted({g.geom_type for g in geoms if g is not None})
            columns = {name: {"encoding": "WKB", "geometry_types": types}}
            return {"version": "1.1.0", "primary_column": name, "columns": columns}
    return None


def write(table: pa.Table, fmt: str, output: Path) -> None:
    """Write the result to ``output`` (Parquet keeps WKB and gets GeoParquet metadata)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        geo = _geo_metadata(table)
        if geo is not None:
            meta = dict(table.schema.metadata or {})
            meta[b"geo"] = json.dumps(geo).encode()
            table = table.replace_schema_metadata(meta)
        pq.write_table(table, output, compression="zstd")
        return
    output.write_text(text(table, fmt, max_rows=table.num_rows))
