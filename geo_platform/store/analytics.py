"""DuckDB analytics over silver GeoParquet: H3 aggregation, ad-hoc SQL and a catalog file.

Ad-hoc SQL (``query``) runs with DuckDB's spatial extension loaded from its pip package
(``store/duckdb_ext.py``): GeoParquet geometry columns are GEOMETRY values and ``ST_*``
functions work on them; on the Azure backend the views read ``az://`` URLs in place. There is no
h3 extension package for this DuckDB, and nothing may be downloaded at run time, so the H3 work
happens on Arrow batches (``lib.h3.contrib``: h3-py, numpy, shapely) and DuckDB does the relational
part: it consumes the contributions as an Arrow stream and computes the per-cell sums and
distinct feature counts with a parallel hash aggregation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from geo_platform.lib.errors import InputError
from geo_platform.lib.h3 import DEFAULT_RESOLUTION
from geo_platform.lib.h3 import contrib as h3_contrib
from geo_platform.lib.h3 import grid as h3grid
from geo_platform.lib.naming import ident_with_suffix
from geo_platform.lib.types import QUERY_FORMATS
from geo_platform.lib.vector.geoparquet import GeoParquetWriter
from geo_platform.store import analytics_output as render
from geo_platform.store import duckdb_ext

AREA_TOLERANCE = 0.005
"""Polygon area in the cells may differ from the source's by this share (it is ~1e-6)."""
AGGREGATE_SQL = """
SELECT cell,
       sum(points)::BIGINT        AS point_count,
       sum(length_m)              AS line_length_m,
       sum(area_m2)               AS area_m2,
       sum(share)                 AS area_share,
       count(DISTINCT fid)::BIGINT AS feature_count
FROM contrib
GROUP BY cell
ORDER BY cell
"""
OUTPUT_FIELDS = pa.schema(
    [
        ("h3", pa.string()),
        ("h3_int", pa.int64()),
        ("resolution", pa.int16()),
        ("point_count", pa.int64()),
        ("line_length_m", pa.float64()),
        ("area_m2", pa.float64()),
        ("area_share", pa.float64()),
        ("feature_count", pa.int64()),
    ]
)


H3_FOLDER = "h3"
"""Aggregates are written beside their source: ``<silver prefix>/h3/<table>_res<R>.parquet``."""


def gold_table_name(table: str, resolution: int) -> str:
    """The gold PostGIS table of ``table``'s aggregate at ``resolution``."""
    return ident_with_suffix(table, f"_h3_res{int(resolution)}")


@dataclass(frozen=True)
class AggregateStats:
    """Source totals (measured on the geometries) against the totals of the output cells."""

    resolution: int
    rows: int
    empty_rows: int
    point_rows: int
    line_rows: int
    polygon_rows: int
    kinds: tuple[str, ...]
    source_points: int
    source_line_length_m: float
    source_polygon_area_m2: float
    cells: int
    points: int
    line_length_m: float
    area_m2: float
    seconds: float

    def checks(self, area_tolerance: float = AREA_TOLERANCE) -> dict[str, tuple[bool, str]]:
        """Verdicts: point counts exact, line lengths to 1e-9, polygon area to ``tolerance``."""
        out = {
            "points": (
                self.points == self.source_points,
                f"{self.points} points in cells, {self.source_points} in the source",
            ),
            "line_length": (
                _close(self.line_length_m, self.source_line_length_m, 1e-9),
                f"{self.line_length_m:.3f} m in cells, {self.source_line_length_m:.3f} m source",
            ),
            "polygon_area": (
                _close(self.area_m2, self.source_polygon_area_m2, area_tolerance),
                f"{self.area_m2:.1f} m2 in cells, {self.source_polygon_area_m2:.1f} m2 source",
            ),
        }
        return out


def _close(a: float, b: float, rel: float) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b)) + 1e-6


# --- aggregation ------------------------------------------------------------------------------
def aggregate_to_h3(
    parquet_path: Path | str, resolution: int = DEFAULT_RESOLUTION, out_path: Path | str = ""
) -> AggregateStats:
    """Aggregate a lon/lat GeoParquet file onto H3 cells and write the cells as GeoParquet.

    Output columns: ``h3``, ``h3_int``, ``resolution``, ``point_count``, ``line_length_m``,
    ``area_m2`` (polygon area inside the cell), ``area_share`` (that area over the cell's),
    ``feature_count`` (distinct features touching the cell) and the cell polygon ``geometry``
    (see ``lib.h3.contrib`` for how each measure is computed). Only cells touched by data appear.
    """
    t0 = time.perf_counter()
    path, out = Path(parquet_path), Path(out_path)
    if not str(out_path):
        raise InputError("an output path is required", path=str(path))
    res = h3grid.check_resolution(resolution, global_grid=False)
    totals = h3_contrib.SourceTotals()
    column = h3_contrib.geometry_column(path)  # refuse a bad file before DuckDB starts reading
    failures: list[BaseException] = []

    def batches() -> Iterator[pa.RecordBatch]:
        # DuckDB wraps exceptions raised while it reads the stream: keep the original.
        try:
            yield from h3_contrib.file_contributions(path, column, res, totals)
        except Exception as exc:
            failures.append(exc)
            raise

    reader = pa.RecordBatchReader.from_batches(h3_contrib.CONTRIB_SCHEMA, batches())
    with duckdb.connect() as con:
        con.register("contrib", reader)
        try:
            cells = con.sql(AGGREGATE_SQL).to_arrow_table()
        except duckdb.Error:
            if failures:
                raise failures[0] from None
            raise
        sums = con.execute(
            "SELECT coalesce(sum(point_count), 0)::BIGINT, coalesce(sum(line_length_m), 0), "
            "coalesce(sum(area_m2), 0) FROM cells"
        ).fetchone()
    assert sums is not None
    write_cells(cells, res, out)
    return AggregateStats(
        resolution=res,
        rows=totals.rows,
        empty_rows=totals.empty_rows,
        point_rows=totals.point_rows,
        line_rows=totals.line_rows,
        polygon_rows=totals.polygon_rows,
        kinds=tuple(sorted(totals.kinds)),
        source_points=totals.points,
        source_line_length_m=totals.line_length_m,
        source_polygon_area_m2=totals.polygon_area_m2,
        cells=cells.num_rows,
        points=int(sums[0]),
        line_length_m=float(sums[1]),
        area_m2=float(sums[2]),
        seconds=time.perf_counter() - t0,
    )


def write_cells(cells: pa.Table, resolution: int, out: Path) -> None:
    """The aggregated cells with their polygons, as GeoParquet 1.1 (written then renamed)."""
    ids = cells.column("cell").to_numpy().view(np.uint64)
    polys = h3grid.cell_polygons(ids)
    attrs = pa.table(
        [
            h3grid.cells_to_strings(ids),
            cells.column("cell"),
            pa.array(np.full(len(ids), resolution, np.int16)),
            *(cells.column(f.name) for f in OUTPUT_FIELDS if f.name in cells.column_names),
        ],
        schema=OUTPUT_FIELDS,
    )
    tmp = out.with_name(out.name + ".partial")
    writer = GeoParquetWriter(tmp, OUTPUT_FIELDS, "MultiPolygon")
    try:
        step = h3_contrib.BATCH_ROWS
        for start in range(0, max(attrs.num_rows, 1), step):
            chunk = attrs.slice(start, step)
            if chunk.num_rows == 0:
                break
            batch = chunk.combine_chunks().to_batches()[0]
            writer.write(batch, polys.wkb.slice(start, step), polys.bounds[start : start + step])
        writer.close()
    except BaseException:
        writer.abort()
        raise
    tmp.replace(out)


# --- ad-hoc SQL ---------------------------------------------------------------------------------
FORMATS = QUERY_FORMATS


def ident(name: str) -> str:
    """A DuckDB identifier, quoted (view names come from dataset names)."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(path: Path | str) -> str:
    return f"SELECT * FROM read_parquet({literal(str(path))})"


def connect_with_views(
    views: Mapping[str, Path | str], azure: duckdb_ext.AzureAccess | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the spatial extension and one view per dataset over its
    Parquet file (a local path, or an ``az://`` URL read in place with ``azure``)."""
    con = duckdb_ext.connect()
    try:
        if azure is not None:
            duckdb_ext.attach_azure(con, azure)
        for name, path in sorted(views.items()):
            con.execute(f"CREATE VIEW {ident(name)} AS {view_sql(path)}")
    except BaseException:
        con.close()
        raise
    return con


def run_query(
    sql: str, views: Mapping[str, Path | str], azure: duckdb_ext.AzureAccess | None = None
) -> pa.Table:
    """Run one SQL statement over the views; the result as an Arrow table."""
    with connect_with_views(views, azure) as con:
        try:
            rel = con.sql(sql)
        except duckdb.Error as exc:
            raise InputError(f"query failed: {exc}") from exc
        if rel is None:
            return pa.table({})
        return rel.to_arrow_table()


def query(
    sql: str,
    views: Mapping[str, Path | str],
    fmt: str = "table",
    output: Path | None = None,
    max_rows: int = 100,
    azure: duckdb_ext.AzureAccess | None = None,
) -> str:
    """Run ``sql`` and render it: ``table``, ``csv``, ``json`` text, or ``parquet`` to a file.

    With ``output`` the result goes to that file (any format) and a one-line summary is
    returned; without it the text itself is returned (parquet needs ``output``). ``azure``:
    credentials for views over ``az://`` URLs.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    if fmt == "parquet" and output is None:
        raise InputError("--format parquet needs --output FILE")
    result = run_query(sql, views, azure)
    if output is not None:
        render.write(result, fmt, output)
        return f"{result.num_rows} rows written to {output} ({fmt})"
    return render.text(result, fmt, max_rows=max_rows)


# --- the catalog file ---------------------------------------------------------------------------
MANAGED = "geo_platform:"


@dataclass(frozen=True)
class CatalogSync:
    created: list[str]
    replaced: list[str]
    dropped: list[str]
    unchanged: list[str]
    path: Path


def _existing_views(path: Path) -> dict[str, str]:
    """{view: comment} of the current catalog file ({} if absent or unreadable)."""
    if not path.exists():
        return {}
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            rows = con.execute(
                "SELECT view_name, coalesce(comment, '') FROM duckdb_views() "
                "WHERE NOT internal AND NOT temporary AND schema_name = 'main'"
            ).fetchall()
    except duckdb.Error:
        return {}
    return {str(r[0]): str(r[1]) for r in rows}


def catalog_views(db_path: Path | str) -> dict[str, str]:
    """{view: source file} of the platform's views in the catalog file ({} if there is none)."""
    return {
        name: comment[len(MANAGED) :]
        for name, comment in _existing_views(Path(db_path)).items()
        if comment.startswith(MANAGED)
    }


def sync_catalog(db_path: Path | str, views: Mapping[str, Path | str]) -> CatalogSync:
    """Make the DuckDB file at ``db_path`` hold exactly one view per published dataset.

    The file is rebuilt next to the old one and renamed over it, so a reader that has the old
    file open keeps a consistent catalog and the next one sees the new catalog; a failed sync
    leaves the old file as it was. Each view's comment records its source file, which is how
    unchanged, replaced and dropped views are told apart.
    """
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    before = _existing_views(path)
    tmp = path.with_name(f".{path.name}.{time.time_ns()}.tmp")
    try:
        with duckdb.connect(str(tmp)) as con:
            for name, src in sorted(views.items()):
                con.execute(f"CREATE VIEW {ident(name)} AS {view_sql(src)}")
                con.execute(f"COMMENT ON VIEW {ident(name)} IS {literal(MANAGED + str(src))}")
            con.execute("CHECKPOINT")
        Path(str(path) + ".wal").unlink(missing_ok=True)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
    created, replaced, unchanged = [], [], []
    for name, src in sorted(views.items()):
        if name not in before:
            created.append(name)
        elif before[name] == MANAGED + str(src):
            unchanged.append(name)
        else:
            replaced.append(name)
    dropped = sorted(set(before) - set(views))
    return CatalogSync(created, replaced, dropped, unchanged, path)


def catalog_summary(sync: CatalogSync) -> dict[str, Any]:
    """What a sync changed (for run metadata)."""
    return {
        "created": sync.created,
        "replaced": sync.replaced,
        "dropped": sync.dropped,
        "unchanged": len(sync.unchanged),
    }
