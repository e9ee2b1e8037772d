"""WKB on Arrow arrays: EWKB with an embedded SRID as the loader sends it to PostGIS (the same
bytes shapely writes), and which source values can be loaded as they are."""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa
import shapely

from geo_platform.lib.vector import pgcopy
from geo_platform.lib.vector.source_wkb import as_written
from geo_platform.lib.vector.wkb import headers, with_srid


def test_with_srid_matches_shapely_ewkb_for_varied_rows() -> None:
    geoms = [
        shapely.MultiPolygon([shapely.Polygon([(0, 0), (1, 0), (1, 1), (0, 0)])]),
        None,
        shapely.MultiLineString([[(0, 0), (2, 2), (3, 1)]]),
        shapely.from_wkt(
            "MULTIPOLYGON Z (((0 0 1, 4 0 1, 4 4 2, 0 0 1), (1 1 1, 2 1 1, 2 2 1, 1 1 1)))"
        ),
        None,
        shapely.MultiPoint([(5, 6), (7, 8)]),
    ]
    iso = pa.array(
        [None if g is None else shapely.to_wkb(g, flavor="iso") for g in geoms], pa.binary()
    )
    out = with_srid(iso, 4326)
    expected = [
        None
        if g is None
        else shapely.to_wkb(shapely.set_srid(g, 4326), include_srid=True, flavor="extended")
        for g in geoms
    ]
    got = out.to_pylist()
    # 2D rows: byte for byte; the Z row keeps its ISO type code (1006) beside the SRID flag,
    # which PostGIS and GEOS read alike
    assert [v for i, v in enumerate(got) if i != 3] == [v for i, v in enumerate(expected) if i != 3]
    back = shapely.from_wkb(out.to_pylist()[3])
    assert shapely.get_srid(back) == 4326 and shapely.equals(back, geoms[3])


def test_with_srid_leaves_big_endian_values_alone() -> None:
    big = pa.array([shapely.to_wkb(shapely.Point(1, 2), byte_order=0)], pa.binary())
    assert with_srid(big, 4326).equals(big)


def _iso(wkt: str, byte_order: int = 1, flavor: str = "iso") -> bytes:
    return shapely.to_wkb(shapely.from_wkt(wkt), flavor=flavor, byte_order=byte_order)


def _big_endian_part(wkt: str) -> bytes:
    """A little-endian MultiPolygon whose second part is written big-endian (valid WKB)."""
    multi = shapely.from_wkt(wkt)
    a, b = shapely.get_parts(multi)
    head = b"\x01" + (6).to_bytes(4, "little") + (2).to_bytes(4, "little")
    return head + shapely.to_wkb(a, flavor="iso") + shapely.to_wkb(b, flavor="iso", byte_order=0)


SQUARE = "((0 0, 1 0, 1 1, 0 1, 0 0))"
TWO = f"MULTIPOLYGON ({SQUARE}, ((5 5, 6 5, 6 6, 5 5)))"


def test_as_written_tells_which_source_bytes_shapely_would_write_again() -> None:
    many = "MULTILINESTRING (" + ", ".join(f"({i} 0, {i} 1)" for i in range(65)) + ")"
    cases = {
        f"POLYGON {SQUARE}": (_iso(f"POLYGON {SQUARE}"), True),
        "polygon with a hole": (
            _iso("POLYGON ((0 0, 9 0, 9 9, 0 9, 0 0), (1 1, 2 1, 2 2, 1 1))"),
            True,
        ),
        "multipolygon": (_iso(TWO), True),
        "linestring": (_iso("LINESTRING (0 0, 1 1, 2 0)"), True),
        "multilinestring": (_iso("MULTILINESTRING ((0 0, 1 1), (2 2, 3 3, 4 4))"), True),
        "big-endian": (_iso(f"POLYGON {SQUARE}", byte_order=0), False),
        "a big-endian part": (_big_endian_part(TWO), False),
        "trailing bytes": (_iso(f"POLYGON {SQUARE}") + b"\x00" * 8, False),
        "an empty ring": (
            _iso(f"POLYGON {SQUARE}")[:5]
            + (2).to_bytes(4, "little")
            + _iso(f"POLYGON {SQUARE}")[9:]
            + (0).to_bytes(4, "little"),
            False,
        ),
        "point": (_iso("POINT (1 2)"), False),
        "more than 64 parts": (_iso(many), False),
    }
    z_cases = {
        "polygon z": (_iso("POLYGON Z ((0 0 1, 1 0 1, 1 1 2, 0 0 1))"), True),
        "ewkb z": (_iso("POLYGON Z ((0 0 1, 1 0 1, 1 1 2, 0 0 1))", flavor="extended"), False),
    }
    for has_z, group in ((False, cases), (True, z_cases)):
        arr = pa.array([v for v, _ in group.values()], pa.binary())
        geoms = shapely.from_wkb(arr.to_numpy(zero_copy_only=False))
        got = as_written(arr, headers(arr), geoms, has_z)
        assert dict(zip(group, got.tolist(), strict=True)) == {k: w for k, (_, w) in group.items()}
        for value, geom, same in zip(arr.to_pylist(), geoms, got, strict=True):
            rewritten = shapely.to_wkb(
                geom, flavor="iso", byte_order=1, output_dimension=3 if has_z else 2
            )
            assert (rewritten == value) or not same


def test_as_written_never_vouches_for_bytes_shapely_would_not_write() -> None:
    """Mutated WKB (counts, headers, byte order, lengths): wherever GEOS still parses the value
    and ``as_written`` says yes, shapely writes exactly those bytes; garbage never raises."""
    rng = np.random.default_rng(18)
    seeds = [
        _iso("POLYGON ((0 0, 9 0, 9 9, 0 9, 0 0), (1 1, 2 1, 2 2, 1 1))"),
        _iso(TWO),
        _iso("MULTILINESTRING ((0 0, 1 1), (2 2, 3 3, 4 4))"),
        _iso("LINESTRING (0 0, 1 1, 2 0)"),
    ]
    values: list[bytes | None] = []
    for _ in range(3000):
        v = bytearray(seeds[rng.integers(len(seeds))])
        for _ in range(rng.integers(1, 3)):
            op = rng.integers(4)
            if op == 0:  # one byte anywhere in the first 40 (headers and counts)
                v[rng.integers(min(40, len(v)))] = rng.integers(256)
            elif op == 1:
                v = v[: rng.integers(len(v) + 1)]
            elif op == 2:
                v += bytes(rng.integers(0, 256, rng.integers(1, 17), dtype=np.uint8))
            else:  # a count (part, ring or points) nudged by one
                at = rng.choice([5, 9, 14, 18])
                if at + 4 <= len(v):
                    n = int.from_bytes(v[at : at + 4], "little") + int(rng.choice([-1, 1]))
                    v[at : at + 4] = (n % 2**32).to_bytes(4, "little")
        values.append(bytes(v))
    arr = pa.array(values, pa.binary())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        geoms = shapely.from_wkb(arr.to_numpy(zero_copy_only=False), on_invalid="ignore")
    got = as_written(arr, headers(arr), geoms, False)
    checked = 0
    for value, geom, same in zip(values, geoms, got, strict=True):
        if same:
            assert geom is not None and shapely.to_wkb(geom, flavor="iso") == value
            checked += 1
    assert checked < len(values)  # some mutations must be refused...
    assert checked > 0  # ...and some (e.g. a changed coordinate byte) still pass


def _ewkb_cases() -> dict[str, pa.Array]:
    rng = np.random.default_rng(3)
    polys = [
        None if i % 7 == 3 else shapely.buffer(shapely.Point(i, i), 1 + i % 3, quad_segs=1 + i % 4)
        for i in range(50)
    ]
    iso = [None if g is None else shapely.to_wkb(g, flavor="iso") for g in polys]
    points = [shapely.to_wkb(shapely.Point(x, y)) for x, y in rng.random((20, 2))]
    return {
        "polygons with nulls": pa.array(iso, pa.binary()),
        "polygons, no null": pa.array([v for v in iso if v is not None], pa.binary()),
        "points (equally long)": pa.array(points, pa.binary()),
        "large_binary": pa.array(iso, pa.large_binary()),
        "big-endian row": pa.array([*iso[:3], shapely.to_wkb(polys[0], byte_order=0)]),
        "a short row": pa.array([iso[0], b"\x01\x03"], pa.binary()),
        "all null": pa.array([None, None], pa.binary()),
    }


def test_ewkb_field_sends_the_bytes_of_with_srid_then_encode() -> None:
    for name, arr in _ewkb_cases().items():
        fid = pa.array(np.arange(len(arr), dtype=np.int64))
        types = ["bigint", "geometry(MultiPolygon)"]
        old = pgcopy.encode_rows([fid, with_srid(arr, 4326)], types)
        new = pgcopy.encode_rows([fid, arr], types, srid=4326)
        assert new.to_pybytes() == old.to_pybytes(), name
