"""Quality facts measured in the database: a raster's CRS and resolution against the other
raster items of its collection in pgstac, and duplicate geometries and attribute completeness
of a published PostGIS table. The records and verdicts are in ``lib/quality/checks.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from geo_platform.lib.quality.checks import Consistency, VectorQuality, collection_grids
from geo_platform.lib.vector.records import LoadedTable
from geo_platform.store import pgstac
from geo_platform.store.postgis import GEOMETRY_COLUMN

_TEXT_TYPES = {"text", "varchar", "character varying", "char", "character", "bpchar"}


def collection_consistency(
    conn: psycopg.Connection[Any],
    collection_id: str,
    *,
    proj_code: str | None,
    resolution: Sequence[float],
    wkt2: str | None = None,
    exclude_item: str | None = None,
) -> Consistency:
    """Compare one raster's CRS and pixel size with the raster items already in pgstac.

    Raster items are those with ``proj:transform`` (vector items have none); ``exclude_item``
    skips the previous version of the item being republished. The new values count too, so a
    collection holding one CRS plus a new, different one reports two.
    """
    grids = pgstac.raster_grids(conn, collection_id)  # once per connection: see there
    others = [grid for item_id, grid in grids.items() if item_id != exclude_item]
    return collection_grids(
        collection_id, others, proj_code=proj_code, resolution=resolution, wkt2=wkt2
    )


def _qualified(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


_EXTENT = (
    "ST_XMin(ST_Extent({g})), ST_YMin(ST_Extent({g})), ST_XMax(ST_Extent({g})), "
    "ST_YMax(ST_Extent({g}))"
)
_SRIDS_AND_TYPES = (
    "array_agg(DISTINCT ST_SRID({g})) FILTER (WHERE {g} IS NOT NULL), "
    "array_agg(DISTINCT GeometryType({g})) FILTER (WHERE {g} IS NOT NULL)"
)


def table_stats(
    conn: psycopg.Connection[Any],
    schema: str,
    table: str,
    counts: Mapping[str, sql.Composable] | None = None,
) -> dict[str, Any]:
    """Facts about a published table, computed by PostGIS itself (for asset checks), in one scan.

    SRIDs and geometry types: a column declared with a type and an SRID (``geometry(MultiPoint,
    4326)``, as the loader creates them) holds nothing else, PostGIS refuses any other value on
    write, so the declaration answers without reading a row; an undeclared column is scanned.
    ``counts``: more ``count(expression)`` aggregates of the same scan, by name (``"counts"``)."""
    g = sql.Identifier(GEOMETRY_COLUMN)
    declared = conn.execute(
        """SELECT upper(type), srid, coord_dimension FROM geometry_columns
           WHERE f_table_schema = %s AND f_table_name = %s AND f_geometry_column = %s""",
        (schema, table, GEOMETRY_COLUMN),
    ).fetchone()
    typed = declared is not None and declared[0] != "GEOMETRY" and bool(declared[1])
    aggs = [
        sql.SQL("count(*), count({g}), count(*) FILTER (WHERE NOT ST_IsValid({g}))").format(g=g),
        sql.SQL(_EXTENT).format(g=g),
    ]
    if not typed:
        aggs.append(sql.SQL(_SRIDS_AND_TYPES).format(g=g))
    extra = list((counts or {}).items())
    aggs += [sql.SQL("count({})").format(expr) for _, expr in extra]
    target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    row = conn.execute(sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(aggs), target))
    values = row.fetchone()
    assert values is not None
    if typed:
        assert declared is not None
        srids, types = ([declared[1]], [declared[0]]) if values[1] else ([], [])
        rest = values[7:]
    else:
        srids, types, rest = sorted(values[7] or []), sorted(values[8] or []), values[9:]
    return {
        "rows": values[0],
        "non_null_geometries": values[1],
        "invalid": values[2],
        "srids": srids,
        "geometry_types": types,
        "bbox": None if values[3] is None else tuple(values[3:7]),
        "declared_type": declared[0] if declared else None,
        "declared_srid": declared[1] if declared else None,
        "coord_dimension": declared[2] if declared else None,
        "counts": {name: int(n) for (name, _), n in zip(extra, rest, strict=True)},
    }


def without_parallel_workers(conn: psycopg.Connection[Any]) -> None:
    """No parallel workers for this session's queries. For scans run side by side with other
    work on a small server: parallel workers then only compete for the same cores, and a
    parallel hash aggregate over mostly distinct keys (``duplicate_geometries``) builds its
    hash table twice (per worker, then in the leader)."""
    conn.execute("SET max_parallel_workers_per_gather = 0")


def duplicate_geometries(
    conn: psycopg.Connection[Any], schema: str, table: str, geom: str = GEOMETRY_COLUMN
) -> tuple[int, int]:
    """(rows whose geometry repeats an earlier row's exactly, groups of such rows).

    "Exactly" means byte-identical EWKB (same SRID, vertices and vertex order), grouped by the
    EWKB itself in one scan (no digest to compute, no collision to fear); topologically equal
    shapes with another vertex order are not counted.
    """
    query = sql.SQL(
        """SELECT coalesce(sum(n - 1), 0)::bigint, count(*) FROM (
               SELECT count(*) AS n FROM {t} WHERE {g} IS NOT NULL
               GROUP BY ST_AsEWKB({g}) HAVING count(*) > 1) AS d"""
    ).format(t=_qualified(schema, table), g=sql.Identifier(geom))
    row = conn.execute(query).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def completeness_counts(columns: Sequence[tuple[str, str]]) -> dict[str, sql.Composable]:
    """The expression whose ``count()`` is a column's filled values (blank text is missing),
    by column name, for ``table_stats(counts=...)``; ``columns`` are (name, PostgreSQL type)."""
    out: dict[str, sql.Composable] = {}
    for name, pg_type in columns:
        col = sql.Identifier(name)
        base = pg_type.lower().split("(")[0].strip()
        out[name] = sql.SQL("NULLIF(btrim({}), '')").format(col) if base in _TEXT_TYPES else col
    return out


NULL_ISLAND = "__null_island__"
"""``table_stats`` count of geometries lying exactly at 0,0 (missing coordinates written as 0)."""


def null_island_count(table: LoadedTable) -> dict[str, sql.Composable]:
    """The ``table_stats`` count of features at exactly longitude 0, latitude 0: asked only
    when the table's extent covers that point (most tables cost nothing)."""
    bbox = table.bbox
    if bbox is None or not (bbox[1] <= 0 <= bbox[3]) or not _covers_lon0(bbox):
        return {}
    g = sql.Identifier(GEOMETRY_COLUMN)
    return {
        # ~= compares bounding boxes: a point (or points) at exactly 0,0, one cheap test a row
        NULL_ISLAND: sql.SQL("CASE WHEN {g} ~= 'SRID=4326;POINT(0 0)'::geometry THEN 1 END").format(
            g=g
        )
    }


def _covers_lon0(bbox: tuple[float, float, float, float]) -> bool:
    west, _, east, _ = bbox
    return west <= 0 <= east if west <= east else (west <= 0 or east >= 0)


def completeness_shares(rows: int, counts: Mapping[str, int]) -> dict[str, float]:
    """Share of filled values per column; an empty table is complete (nothing is missing)."""
    return {name: (n / rows if rows else 1.0) for name, n in counts.items()}


def attribute_completeness(
    conn: psycopg.Connection[Any],
    schema: str,
    table: str,
    columns: Sequence[tuple[str, str]],
) -> dict[str, float]:
    """Share of non-null values per column (text columns: blank strings count as missing).

    ``columns`` are (name, PostgreSQL type). One scan for all columns. An empty table is
    complete (1.0): there is nothing missing to report.
    """
    if not columns:
        return {}
    exprs = completeness_counts(columns)
    parts = [sql.SQL("count({})").format(e) for e in exprs.values()]
    query = sql.SQL("SELECT count(*), {} FROM {}").format(
        sql.SQL(", ").join(parts), _qualified(schema, table)
    )
    row = conn.execute(query).fetchone()
    assert row is not None
    return completeness_shares(int(row[0]), dict(zip(exprs, map(int, row[1:]), strict=True)))


def quality_columns(
    table: LoadedTable, skip_columns: Sequence[str] = ("fid",)
) -> list[tuple[str, str]]:
    """The attribute columns whose completeness is reported: (name, PostgreSQL type)."""
    return [
        (c.name, c.pg_type)
        for c in table.columns
        if c.name not in skip_columns and c.name != GEOMETRY_COLUMN
    ]


def vector_quality(
    conn: psycopg.Connection[Any], table: LoadedTable, skip_columns: Sequence[str] = ("fid",)
) -> VectorQuality:
    """Quality of a published table: the loader's counters plus what PostGIS measures."""
    attrs = quality_columns(table, skip_columns)
    return quality_record(
        table,
        duplicate_geometries(conn, table.schema, table.table),
        attribute_completeness(conn, table.schema, table.table, attrs),
    )


def quality_record(
    table: LoadedTable,
    duplicates: tuple[int, int],
    completeness: Mapping[str, float],
    null_island: int = 0,
) -> VectorQuality:
    """The quality of ``table`` from its measurements: ``duplicates`` as returned by
    ``duplicate_geometries``, ``completeness`` the share of filled values per column,
    ``null_island`` the features at exactly 0,0."""
    return VectorQuality(
        null_island=null_island,
        table=f"{table.schema}.{table.table}",
        rows=table.rows_loaded,
        null_geometries=table.dropped_null,
        empty_geometries=table.dropped_empty,
        invalid_dropped=table.invalid_dropped,
        repaired=table.repaired,
        duplicate_geometries=duplicates[0],
        duplicate_groups=duplicates[1],
        completeness=dict(completeness),
    )
