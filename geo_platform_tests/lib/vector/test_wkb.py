"""EWKB with an embedded SRID, as the loader sends it to PostGIS: the same bytes shapely writes."""

from __future__ import annotations

import pyarrow as pa
import shapely

from geo_platform.lib.vector.wkb import with_srid


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
