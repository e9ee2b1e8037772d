"""Both coordinates of a point in one CSV column (``lib/vector/coord_pair.py``), as open-data
portals (Socrata's "Location"), spreadsheets and GPS exports write them, published as points in
real PostGIS with the text column kept. Before, such a file failed with "no coordinate
columns"."""

from __future__ import annotations

import pytest
from psycopg import sql

from geo_platform.lib.errors import CoordinateRangeError, NoGeometryError
from geo_platform.lib.vector import coord_pair
from geo_platform.lib.vector.options import VectorOptions
from geo_platform_tests.lib.vector.conftest import publish_file
from geo_platform_tests.lib.vector.test_publish import _db_check


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("52.1, 4.3", (52.1, 4.3)),
        ("(41.88, -87.62)", (41.88, -87.62)),
        ("123 Main St\nChicago, IL\n(41.88, -87.62)", (41.88, -87.62)),  # Socrata's address form
        ("(52.1;4.3)", (52.1, 4.3)),
        ("52.1 4.3", (52.1, 4.3)),
        ("52,1 4,3", None),  # decimal commas: which comma separates? not guessed
        ("1, 2, 3", None),
        ("Chicago", None),
        ("x 4, 3", None),
    ],
)  # fmt: skip
def test_numbers(cell: str, expected: tuple[float, float] | None) -> None:
    assert coord_pair.numbers(cell) == expected


def _points(pg_conn, table) -> list[tuple]:
    query = sql.SQL("SELECT name, ST_X(ST_GeometryN(geom, 1)), ST_Y(ST_GeometryN(geom, 1)) "
                    "FROM {}.{} ORDER BY fid")  # fmt: skip
    return list(
        pg_conn.execute(query.format(sql.Identifier(table.schema), sql.Identifier(table.table)))
    )


@pytest.mark.parametrize(
    ("header", "cells"),
    [
        ("location", ['"(41.88, -87.62)"', '"(41.89, -87.63)"']),
        ("Location 1", ['"1 Main St\nChicago, IL\n(41.88, -87.62)"', '"(41.89, -87.63)"']),
        ("coordinates", ['"41.88,-87.62"', '"41.89 , -87.63"']),
        ("LngLat", ['"-87.62, 41.88"', '"-87.63, 41.89"']),  # the name says longitude first
        ("position", ['"151.21, -33.87"', '"-87.63, 41.89"']),  # the values do (|lon| > 90)
    ],
)  # fmt: skip
def test_a_pair_column_becomes_the_point(pg_conn, pg_schema, tmp_path, header, cells) -> None:
    first = (151.21, -33.87) if header == "position" else (-87.62, 41.88)
    path = tmp_path / "stops.csv"
    path.write_text(f'name,"{header}"\n' + "".join(f"s{i},{c}\n" for i, c in enumerate(cells)))
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, table)
    assert table.crs_assumed and table.rows_loaded == 2
    points = _points(pg_conn, table)
    assert [(n, round(x, 6), round(y, 6)) for n, x, y in points] == [
        ("s0", *first),
        ("s1", -87.63, 41.89),
    ]
    kept = [c.name for c in table.columns]
    assert kept[:2] == ["fid", "name"] and len(kept) == 4  # the text column kept, no copies


def test_projected_pairs_need_their_crs(pg_conn, pg_schema, tmp_path) -> None:
    path = tmp_path / "wells.csv"
    path.write_text('name,xy\nw1,"155000, 463000"\nw2,"155100, 463100"\n')
    with pytest.raises(CoordinateRangeError) as err:
        publish_file(pg_conn, path, pg_schema, tmp_path)
    assert "wells.csv" in str(err.value) and "assume_crs" in str(err.value)
    options = VectorOptions(assume_crs="EPSG:28992")  # Dutch RD: x first, as the name says
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path, options)
    (_, lon, lat), _ = _points(pg_conn, table)
    assert (round(lon, 2), round(lat, 2)) == (5.39, 52.16) and not table.crs_assumed


def test_a_column_of_mostly_other_text_is_named_in_the_error(pg_conn, pg_schema, tmp_path):
    path = tmp_path / "offices.csv"
    path.write_text('name,location\na,"(41.88, -87.62)"\nb,Chicago\nc,Springfield\n')
    with pytest.raises(NoGeometryError) as err:
        publish_file(pg_conn, path, pg_schema, tmp_path)
    message = str(err.value)
    assert "column 'location' is named like a coordinate pair but 2 of 3" in message
    assert "'Chicago'" in message and "offices.csv" in message
