"""The attribute columns of a cleaned layer: SQL-safe unique names, faithful PostgreSQL types.

Attribute columns are renamed to unique SQL-safe lowercase names (``naming.unique_pg_identifiers``,
never ``fid`` or ``geom``, originals recorded) and kept in their Arrow types, which
``pgcopy.pg_type_for`` maps to PostgreSQL faithfully (dictionaries and views unpacked).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from geo_platform.lib.naming import unique_pg_identifiers
from geo_platform.lib.vector.pgcopy import pg_type_for

RESERVED = ("fid", "geom")


@dataclass(frozen=True)
class ColumnPlan:
    """Attribute column: original name in the source, SQL-safe name, PostgreSQL type.

    ``index`` is the column's position in the source batches: names alone are ambiguous when a
    source repeats one (a CSV header ``a,a``, a GeoJSON property named like the geometry).
    """

    source: str
    name: str
    pg_type: str
    index: int = -1


def geometry_index(schema: pa.Schema, geometry_column: str) -> int:
    """Position of the geometry column: the readers append it last, so when an attribute has
    the same name (a GeoJSON property ``wkb_geometry``) the last field of that name wins."""
    matches = [i for i, f in enumerate(schema) if f.name == geometry_column]
    if not matches:
        raise KeyError(f"geometry column {geometry_column!r} not in {schema.names}")
    return matches[-1]


def plan_columns(schema: pa.Schema, geometry_column: str) -> list[ColumnPlan]:
    """SQL-safe, unique, lowercase column names (never ``fid``/``geom``) and their types.

    Repeated source names (``a``, ``a``) become ``a``, ``a_2``; each plan keeps its position.
    """
    gi = geometry_index(schema, geometry_column)
    sources = [(i, f) for i, f in enumerate(schema) if i != gi]
    names = unique_pg_identifiers([*RESERVED, *(f.name for _, f in sources)])[len(RESERVED) :]
    return [
        ColumnPlan(f.name, n, pg_type_for(_plain_type(f.type)), i)
        for (i, f), n in zip(sources, names, strict=True)
    ]


def _plain_type(t: pa.DataType) -> pa.DataType:
    if isinstance(t, pa.DictionaryType):
        return _plain_type(t.value_type)
    if pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_binary_view(t):
        return pa.binary()
    if t == pa.float16():
        return pa.float32()
    return t


def attribute_schema(columns: list[ColumnPlan], schema: pa.Schema) -> pa.Schema:
    """Arrow schema of the cleaned attribute columns."""
    types = [_plain_type(schema.field(column_position(c, schema)).type) for c in columns]
    return pa.schema([pa.field(c.name, t) for c, t in zip(columns, types, strict=True)])


def column_position(c: ColumnPlan, schema: pa.Schema) -> int:
    """Where the planned column is in ``schema`` (by position when known, else by name)."""
    return c.index if c.index >= 0 else schema.get_field_index(c.source)
