"""Open polygon rings are closed (a counted repair), and a file whose features are all dropped
says why: unit tests of ``rings.close_rings`` and publishes into real PostGIS."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pyarrow as pa
import pytest
import shapely

from geo_platform.lib.errors import EmptyDatasetError
from geo_platform.lib.vector.plan import parse_wkb_closing
from geo_platform.lib.vector.rings import close_rings
from geo_platform_tests.lib.vector.conftest import publish_file

SQUARE_OPEN = [[0, 0], [1, 0], [1, 1], [0, 1]]
HOLE_OPEN = [[0.2, 0.2], [0.2, 0.4], [0.4, 0.4], [0.4, 0.2]]


def _ring(order: str, points: list[tuple[float, ...]]) -> bytes:
    return struct.pack(order + "I", len(points)) + b"".join(
        struct.pack(order + f"{len(p)}d", *p) for p in points
    )


def _polygon(order: str, rings: list[list[tuple[float, ...]]], code: int = 3) -> bytes:
    head = bytes([order == "<"]) + struct.pack(order + "I", code)
    return head + struct.pack(order + "I", len(rings)) + b"".join(_ring(order, r) for r in rings)


def _unparsable(value: bytes) -> bool:
    return shapely.from_wkb(value, on_invalid="ignore") is None


@pytest.mark.parametrize("order", ["<", ">"])
def test_open_rings_are_closed_in_the_values_own_byte_order(order: str) -> None:
    outer = [(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0)]
    hole = [(1.0, 1.0), (1.0, 2.0), (2.0, 2.0), (2.0, 1.0), (1.0, 1.0)]  # already closed
    value = _polygon(order, [outer, hole])
    assert _unparsable(value)
    fixed = close_rings(value)
    assert fixed is not None and fixed[0] == value[0]
    geom = shapely.from_wkb(fixed)
    assert geom.is_valid and geom.area == 16 - 1
    assert list(geom.exterior.coords) == [*outer, outer[0]]
    assert len(geom.interiors[0].coords) == 5  # the closed hole kept as it was


def test_multipolygon_z_and_ewkb_parts() -> None:
    z_open = [(0.0, 0.0, 5.0), (1.0, 0.0, 5.0), (1.0, 1.0, 6.0)]
    part = _polygon("<", [z_open], code=1003)  # ISO Polygon Z
    multi = b"\x01" + struct.pack("<II", 1006, 2) + part + _polygon("<", [z_open], code=1003)
    geom = shapely.from_wkb(close_rings(multi))
    assert geom.geom_type == "MultiPolygon" and geom.has_z
    assert [len(p.exterior.coords) for p in geom.geoms] == [4, 4]
    assert shapely.get_coordinates(geom, include_z=True)[3].tolist() == [0, 0, 5]
    xy = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]
    ewkb = b"\x01" + struct.pack("<II", 0x20000003, 4326) + struct.pack("<I", 1) + _ring("<", xy)
    assert shapely.from_wkb(close_rings(ewkb)).area == 0.5


@pytest.mark.parametrize(
    "value",
    [
        _polygon("<", [[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)]]),  # closed: no change
        _polygon("<", [[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]])[:-8],  # truncated
        _polygon("<", [[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]]) + b"\x00",  # trailing byte
        b"\x01" + struct.pack("<Idd", 1, 1.0, 2.0),  # a point
        b"\x07\x03\x00\x00\x00",  # bad byte order
        b"",
    ],
)
def test_values_it_does_not_touch(value: bytes) -> None:
    assert close_rings(value) is None


def test_parse_marks_only_the_rows_it_closed() -> None:
    open_square = shapely.to_wkb(shapely.box(0, 0, 1, 1))  # closed, valid
    opened = _polygon("<", [[(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0)]])
    too_short = _polygon("<", [[(0.0, 0.0), (2.0, 0.0)]])  # closing cannot save it
    geoms, closed = parse_wkb_closing(pa.array([open_square, opened, None, too_short]))
    assert closed.tolist() == [False, True, False, False]
    assert geoms[1].area == 4 and geoms[2] is None and geoms[3] is None


def _feature_collection(path: Path, geometries: list[dict[str, object] | None]) -> Path:
    features = [
        {"type": "Feature", "properties": {"n": i}, "geometry": g} for i, g in enumerate(geometries)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_open_rings_are_published_closed_and_counted(pg_conn, pg_schema, tmp_path):
    path = _feature_collection(
        tmp_path / "open_rings.geojson",
        [
            {"type": "Polygon", "coordinates": [SQUARE_OPEN, HOLE_OPEN]},
            {"type": "Polygon", "coordinates": [[[5, 5], [6, 5], [6, 6], [5, 5]]]},  # closed
            {"type": "MultiPolygon", "coordinates": [[SQUARE_OPEN], [[[3, 3], [4, 3], [4, 4]]]]},
        ],
    )
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    assert (t.rows_loaded, t.repaired, t.invalid_dropped) == (3, 2, 0)
    rows = pg_conn.execute(
        f"SELECT n, ST_IsValid(geom), ST_Area(geom), ST_NPoints(geom), ST_SRID(geom) "
        f'FROM "{pg_schema}"."{t.table}" ORDER BY fid'
    ).fetchall()
    assert rows == [
        (0, True, pytest.approx(1 - 0.04), 10, 4326),
        (1, True, pytest.approx(0.5), 4, 4326),
        (2, True, pytest.approx(1.5), 9, 4326),
    ]


def test_csv_wkt_with_an_open_ring(pg_conn, pg_schema, tmp_path):
    path = tmp_path / "parcels.csv"
    path.write_text('id,WKT\n1,"POLYGON((0 0,2 0,2 2,0 2))"\n2,"POLYGON((0 0,1 0,1 1,0 0))"\n')
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    assert (t.rows_loaded, t.repaired) == (2, 1)
    area = pg_conn.execute(f'SELECT sum(ST_Area(geom)) FROM "{pg_schema}"."{t.table}"')
    assert area.fetchone() == (pytest.approx(4.5),)


def test_a_file_whose_features_are_all_dropped_says_why(pg_conn, pg_schema, tmp_path):
    path = _feature_collection(
        tmp_path / "hopeless.geojson",
        [
            None,
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]},  # two points: no ring
            {"type": "Polygon", "coordinates": []},  # empty
        ],
    )
    with pytest.raises(EmptyDatasetError) as err:
        publish_file(pg_conn, path, pg_schema, tmp_path)
    message = str(err.value)
    assert "hopeless.geojson" in message
    assert "layer 'hopeless': every feature was dropped: 1 with a null geometry" in message
    assert "1 with an empty geometry" in message and "1 invalid" in message
    count = pg_conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (pg_schema,))
    assert count.fetchone() == (0,)
