"""H3 grids (schema ``h3``) and gold H3 aggregates (schema ``gold``) under the least-privilege
roles, proven by connecting AS each role (as ``test_access.py`` does).

The grants are per schema, so these tests use the platform's real ``h3`` and ``gold`` schemas,
with tables of unique names; they drop only those tables, never the schemas (other tests and
the grants set up by ``services up`` rely on them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from geo_platform.lib.h3 import GRID_SCHEMA
from geo_platform.services.access import GOLD_SCHEMA, grant_staging, published_schemas
from geo_platform.settings import Settings, load_settings

DENIED = (errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction)
READERS = ("reader", "promoter")  # the serving stack, and promotion (reads staging)


@pytest.fixture
def names(pg_dsn: str) -> Iterator[dict[str, str]]:
    """{schema: a unique table name} in ``h3`` and ``gold``, dropped afterwards."""
    from geo_platform.store.analytics import gold_table_name

    suffix = uuid.uuid4().hex[:8]
    out = {GRID_SCHEMA: f"zz_cells_res0_{suffix}", GOLD_SCHEMA: gold_table_name(f"zz_{suffix}", 5)}
    try:
        yield out
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            for schema, table in out.items():
                conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    )
                )


def _as(settings: Settings, kind: str) -> psycopg.Connection[Any]:
    return psycopg.connect(settings.role_url(kind, "staging"))


def _load_grid(conn: psycopg.Connection[Any], name: str) -> int:
    from geo_platform.lib.h3 import grid as h3grid
    from geo_platform.store.h3_postgis import load_grid

    grid = h3grid.build_grid(0)
    result = load_grid(conn, grid.table, schema=GRID_SCHEMA, name=name, description="test grid")
    conn.commit()
    return result.rows


def _aggregate(tmp_path: Path) -> Path:
    """A few points aggregated onto resolution-5 cells, as ``h3_aggregate`` does."""
    import geopandas as gpd
    import shapely

    from geo_platform.store.analytics import aggregate_to_h3

    points = tmp_path / "points.parquet"
    lon, lat = [2.35, 2.36, 13.4, -73.98, 151.2], [48.85, 48.86, 52.52, 40.75, -33.87]
    gpd.GeoDataFrame(geometry=shapely.points(lon, lat), crs=4326).to_parquet(points)
    aggregate_to_h3(points, 5, tmp_path / "cells.parquet")
    return tmp_path / "cells.parquet"


def _reads_only(settings: Settings, schema: str, table: str, rows: int) -> None:
    """The reader (and the promoter) SELECT the table and can change nothing in its schema."""
    t = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    for kind in READERS:
        with _as(settings, kind) as conn:
            conn.autocommit = True
            assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(t)).fetchone() == (rows,)
            for statement in (
                sql.SQL("INSERT INTO {0} SELECT * FROM {0} LIMIT 1").format(t),
                sql.SQL("DELETE FROM {}").format(t),
                sql.SQL("TRUNCATE {}").format(t),
                sql.SQL("DROP TABLE {}").format(t),
                sql.SQL("ALTER TABLE {} RENAME TO zz_renamed").format(t),
                sql.SQL("CREATE TABLE {}.zz_intruder (x int)").format(sql.Identifier(schema)),
            ):
                with pytest.raises(DENIED):
                    conn.execute(statement)


def test_writer_builds_and_replaces_an_h3_grid_that_the_reader_only_reads(
    names: dict[str, str],
) -> None:
    settings, name = load_settings(), names[GRID_SCHEMA]
    with _as(settings, "writer") as conn:
        assert _load_grid(conn, name) == 122
        assert _load_grid(conn, name) == 122  # replaced: staging table, drop, rename
    _reads_only(settings, GRID_SCHEMA, name, 122)


def test_writer_builds_and_replaces_a_gold_aggregate_that_the_reader_only_reads(
    names: dict[str, str], tmp_path: Path
) -> None:
    from geo_platform.defs.analytics.assets import _load_gold

    settings, name, cells = load_settings(), names[GOLD_SCHEMA], _aggregate(tmp_path)
    with _as(settings, "writer") as conn:
        rows = _load_gold(conn, cells, GOLD_SCHEMA, name)
        conn.commit()
        assert rows == 4  # the two Paris points share a cell
        assert _load_gold(conn, cells, GOLD_SCHEMA, name) == rows
        conn.commit()
        total = conn.execute(
            sql.SQL("SELECT sum(point_count) FROM {}.{}").format(
                sql.Identifier(GOLD_SCHEMA), sql.Identifier(name)
            )
        ).fetchone()
        assert total == (5,)
    _reads_only(settings, GOLD_SCHEMA, name, rows)


def test_grids_published_by_the_administrator_are_readable_and_handed_to_the_writer(
    pg_dsn: str, names: dict[str, str]
) -> None:
    """A grid built as the cluster's owner (the local default, or before the roles existed)."""
    settings, name = load_settings(), names[GRID_SCHEMA]
    with psycopg.connect(pg_dsn) as conn:
        _load_grid(conn, name)
    _reads_only(settings, GRID_SCHEMA, name, 122)  # default privileges for the administrator
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        grant_staging(conn, settings)  # what services up runs when the grants change
    with _as(settings, "writer") as conn:
        assert _load_grid(conn, name) == 122
    _reads_only(settings, GRID_SCHEMA, name, 122)


def test_published_schemas_are_the_ones_the_assets_write(pg_dsn: str) -> None:
    from geo_platform.defs.analytics.assets import GOLD_SCHEMA as ASSETS_GOLD

    settings = load_settings()
    assert published_schemas(settings) == [settings.geo_schema, GRID_SCHEMA, ASSETS_GOLD]
    with psycopg.connect(pg_dsn) as conn:
        for schema in published_schemas(settings):
            row = conn.execute(
                "SELECT has_schema_privilege(%(w)s, %(s)s, 'CREATE'), "
                "has_schema_privilege(%(r)s, %(s)s, 'USAGE'), "
                "has_schema_privilege(%(r)s, %(s)s, 'CREATE')",
                {"w": settings.writer_role, "r": settings.reader_role, "s": schema},
            ).fetchone()
            assert row == (True, True, False), schema
