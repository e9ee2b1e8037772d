"""H3 grids in PostGIS: counts, validity by ST_IsValid, indexes and the atomic swap."""

from __future__ import annotations

import h3
import psycopg
import pytest
from psycopg import sql

from geo_platform.lib.h3 import grid as h3grid
from geo_platform.store.h3_postgis import grid_facts, grid_table_name, load_grid
from geo_platform.store.postgis import staging_tables


def _load(pg_dsn: str, schema: str, res: int, bbox=None):
    grid = h3grid.build_grid(res, bbox)
    name = grid_table_name(res, bbox)
    with psycopg.connect(pg_dsn) as conn:
        result = load_grid(conn, grid.table, schema=schema, name=name, description="test grid")
        conn.commit()
        facts = grid_facts(conn, schema, name)
    return grid, result, facts


@pytest.mark.parametrize("res", [0, 1, 2])
def test_global_grid_loads_complete_and_valid(pg_dsn: str, pg_schema: str, res: int) -> None:
    _grid, result, facts = _load(pg_dsn, pg_schema, res)
    assert result.rows == facts.rows == facts.distinct_cells == h3.get_num_cells(res)
    assert facts.invalid == 0
    assert facts.resolutions == [res] and facts.srid == 4326
    assert facts.polar_cells == 2 and facts.wide_parts == 2  # only the polar caps span > 180
    assert facts.bbox == (-180.0, -90.0, 180.0, 90.0)


def test_table_shape_indexes_and_values(pg_dsn: str, pg_schema: str, pg_conn) -> None:
    _load(pg_dsn, pg_schema, 2)
    cols = dict(
        pg_conn.execute(
            """SELECT column_name, udt_name FROM information_schema.columns
               WHERE table_schema = %s AND table_name = 'cells_res2'""",
            (pg_schema,),
        ).fetchall()
    )
    assert cols == {
        "h3": "text", "h3_int": "int8", "resolution": "int2", "parent": "text",
        "center": "geometry", "geom": "geometry",
    }  # fmt: skip
    types = dict(
        pg_conn.execute(
            """SELECT f_geometry_column, type FROM geometry_columns
               WHERE f_table_schema = %s AND f_table_name = 'cells_res2'""",
            (pg_schema,),
        ).fetchall()
    )
    assert types == {"center": "POINT", "geom": "MULTIPOLYGON"}
    indexes = {
        r[0]: r[1]
        for r in pg_conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s", (pg_schema,)
        ).fetchall()
    }
    assert "USING gist (geom)" in indexes["cells_res2_geom_gix"]
    assert "(h3_int)" in indexes["cells_res2_pkey"] and "UNIQUE" in indexes["cells_res2_h3_key"]
    cell = h3.latlng_to_cell(50.08, 14.42, 2)
    row = pg_conn.execute(
        sql.SQL(
            """SELECT h3, parent, ST_Contains(geom, ST_SetSRID(ST_MakePoint(14.42, 50.08), 4326)),
                      ST_X(center), ST_Y(center)
               FROM {}.cells_res2 WHERE h3_int = %s"""
        ).format(sql.Identifier(pg_schema)),
        (h3.str_to_int(cell),),
    ).fetchone()
    lat, lng = h3.cell_to_latlng(cell)
    assert row[:3] == (cell, h3.cell_to_parent(cell, 1), True)
    assert row[3] == pytest.approx(lng) and row[4] == pytest.approx(lat)
    # Antimeridian: a point just east of 180 and one just west both find their cell.
    for lng in (179.99, -179.99):
        hits = pg_conn.execute(
            sql.SQL(
                """SELECT h3 FROM {}.cells_res2
                   WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(%s, -16.0), 4326))"""
            ).format(sql.Identifier(pg_schema)),
            (lng,),
        ).fetchall()
        assert [h[0] for h in hits] == [h3.latlng_to_cell(-16.0, lng, 2)]


def test_reload_swaps_atomically_and_leaves_nothing_behind(pg_dsn: str, pg_schema: str) -> None:
    _load(pg_dsn, pg_schema, 1)
    grid = h3grid.build_grid(0)
    with psycopg.connect(pg_dsn) as conn:
        with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
            # A failing load (duplicate cells) must leave the published table as it was.
            dup = _doubled(grid.table.slice(0, 3))
            load_grid(conn, dup, schema=pg_schema, name="cells_res1")
        conn.rollback()
        assert grid_facts(conn, pg_schema, "cells_res1").rows == 842
        assert staging_tables(conn, pg_schema) == []
        load_grid(conn, grid.table, schema=pg_schema, name="cells_res1")
        conn.commit()
        assert grid_facts(conn, pg_schema, "cells_res1").rows == 122
        assert staging_tables(conn, pg_schema) == []


def _doubled(table):
    import pyarrow as pa

    return pa.concat_tables([table, table])


def test_bbox_grid_table(pg_dsn: str, pg_schema: str) -> None:
    bbox = (179.0, -17.5, -179.0, -16.5)
    grid, result, facts = _load(pg_dsn, pg_schema, 5, bbox)
    assert result.table.startswith("cells_res5_bbox_")
    assert facts.rows == grid.num_cells > 50 and facts.invalid == 0 and facts.wide_parts == 0


@pytest.mark.slow
def test_resolution_4_global_grid(pg_dsn: str, pg_schema: str) -> None:
    _, _result, facts = _load(pg_dsn, pg_schema, 4)
    assert facts.rows == facts.distinct_cells == 288_122 == h3.get_num_cells(4)
    assert facts.invalid == 0 and facts.wide_parts == facts.polar_cells == 2
