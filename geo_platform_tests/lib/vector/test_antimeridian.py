"""Lines and polygons reprojected across the antimeridian are cut there, not wrapped round.

A box 0.9 degrees wide across 180 in Pacific-centred Mercator (EPSG:3832) came out of PROJ
with corners at 179.55 and -179.55 and was published as a polygon spanning 359 degrees of
longitude the other way round the Earth: it matched queries at lon 0. It is now the
MultiPolygon of its two halves (RFC 7946; ``ogr2ogr -wrapdateline`` does the same). Real
PostGIS and the vector workflow; the STAC item's bbox says west > east."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from psycopg import sql
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon, box

from geo_platform.lib.errors import CoordinateRangeError
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.vector.reproject import Reprojector
from geo_platform_tests.fixtures.vector_world import World

# Pacific-centred Mercator: x = 3,339,584 m is the antimeridian at the equator.
FIJI_BOX = box(3289584, -1900000, 3389584, -1800000)
FIJI_LINE = LineString([(3259584, -1850000), (3419584, -1850000)])


def _select(world: World, table: str, columns: str) -> list[tuple[Any, ...]]:
    """``SELECT columns`` from a published table, in its rows' order (``fid``)."""
    target = sql.SQL("{}.{}").format(sql.Identifier(world.schema), sql.Identifier(table))
    query = sql.SQL("SELECT {} FROM {} ORDER BY fid").format(sql.SQL(columns), target)
    with world.connect() as conn:
        return conn.execute(query).fetchall()


def _transform(crs: str, geoms: list[Any]) -> list[Any]:
    return list(Reprojector(crs, None, "t").geometries(np.array(geoms, dtype=object)))


def test_a_polygon_and_a_line_across_180_are_cut_in_two() -> None:
    hole = box(3329584, -1860000, 3349584, -1840000)
    poly, line, holed = _transform(
        "EPSG:3832", [FIJI_BOX, FIJI_LINE, Polygon(FIJI_BOX.exterior, [hole.exterior])]
    )
    assert poly.geom_type == "MultiPolygon" and poly.is_valid and len(poly.geoms) == 2
    east, west = sorted(poly.geoms, key=lambda p: -p.bounds[0])
    assert east.bounds[0] == pytest.approx(179.5508, abs=1e-3) and east.bounds[2] == 180
    assert west.bounds[0] == -180 and west.bounds[2] == pytest.approx(-179.5508, abs=1e-3)
    assert poly.area == pytest.approx(0.9 * 0.8667, rel=0.01)  # not 359 degrees wide
    assert line.geom_type == "MultiLineString" and len(line.geoms) == 2
    assert line.length == pytest.approx(2 * 0.7187, rel=0.01)
    assert holed.is_valid and holed.area == pytest.approx(poly.area - 0.18 * 0.1734, rel=0.02)


def test_a_ring_round_the_south_pole_is_closed_along_it() -> None:
    shelf = Point(0, 0).buffer(2_000_000, 64)  # EPSG:3031: centred on the pole
    (cap,) = _transform("EPSG:3031", [shelf])
    assert cap.is_valid and len(cap.geoms) == 1
    assert cap.bounds == pytest.approx((-180, -90, 180, -71.74), abs=0.01)
    polynya = Point(0, 0).buffer(200_000, 16)  # a hole round the pole: a band is left
    (band,) = _transform("EPSG:3031", [Polygon(shelf.exterior, [polynya.exterior])])
    assert band.is_valid and band.bounds[1] == pytest.approx(-88.16, abs=0.01)
    assert band.area < cap.area


def test_wide_geometries_that_do_not_cross_are_left_alone() -> None:
    to_robinson = Transformer.from_crs(4326, "ESRI:54030", always_xy=True)
    world_line = LineString([to_robinson.transform(-170, 10), to_robinson.transform(170, 10)])
    (line,) = _transform("ESRI:54030", [world_line])  # its midpoint is at lon 0
    assert line.geom_type == "LineString" and line.bounds[0] == pytest.approx(-170, abs=1e-4)
    to_alaska = Transformer.from_crs(4326, 3338, always_xy=True)
    islands = shapely.MultiPolygon(  # Aleutian islands either side of 180, none across it
        [Polygon([to_alaska.transform(x, y) for x, y in box(*b).exterior.coords]) for b in
         [(172.5, 52.8, 173.5, 53.0), (-176.8, 51.8, -176.5, 52.0)]]
    )  # fmt: skip
    (aleutians,) = _transform("EPSG:3338", [islands])
    assert len(aleutians.geoms) == 2 and aleutians.area == pytest.approx(0.25, rel=0.2)
    lonlat = Polygon([(179, 0), (-179, 0), (-179, 1), (179, 1)])  # says the long way round
    assert Reprojector("EPSG:4326", None, "t").geometries(np.array([lonlat]))[0] is lonlat


def test_published_cut_with_a_bbox_across_180(world: World, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["reef", "route"]}, geometry=[FIJI_BOX, FIJI_LINE], crs="EPSG:3832"
    )
    path = tmp_path / "fiji.gpkg"
    frame.iloc[[0]].to_file(path, layer="reefs")
    result = world.publish(world.upload("fiji.gpkg", path))
    (table,) = result.tables
    ((parts, valid, area, at_lon_zero),) = _select(
        world,
        table.table,
        "ST_NumGeometries(geom), ST_IsValid(geom), ST_Area(geom), "
        "ST_Intersects(geom, ST_MakeEnvelope(-10, -17, 10, -16, 4326))",
    )
    assert (parts, valid, at_lon_zero) == (2, True, False)
    assert area == pytest.approx(0.78, rel=0.01)
    (item,) = result.items
    validate_stac(item)
    west, south, east, north = item["bbox"]
    assert west == pytest.approx(179.5508, abs=1e-3) and east == pytest.approx(-179.5508, abs=1e-3)
    assert south == pytest.approx(-16.93, abs=0.01) and north == pytest.approx(-16.06, abs=0.01)


def _feature(geometry: dict[str, Any], n: int) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"n": n}, "geometry": geometry}


def test_longitudes_past_180_are_wrapped_and_cut(world: World, tmp_path: Path) -> None:
    """Lon/lat written past 180 (the 0..360 convention, or Fiji drawn from 177 to 181) has one
    meaning: wrapped into -180..180, lines and polygons cut at the antimeridian, counted in the
    item (it was refused: "0..360 convention")."""
    features = [
        _feature({"type": "Polygon", "coordinates": [[[177, -18], [181, -18], [181, -16],
                                                      [177, -16], [177, -18]]]}, 1),
        _feature({"type": "LineString", "coordinates": [[170, -17], [200, -17]]}, 2),
        _feature({"type": "Polygon", "coordinates": [[[185, -20], [186, -20], [186, -19],
                                                      [185, -20]]]}, 3),
        _feature({"type": "Polygon", "coordinates": [[[178, -19], [179, -19], [179, -18],
                                                      [178, -19]]]}, 4),
        _feature({"type": "MultiPoint", "coordinates": [[190, -17], [179, -17]]}, 5),
    ]  # fmt: skip
    path = tmp_path / "pacific.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    result = world.publish(world.upload("pacific.geojson", path))
    by_kind = {t.kind: t for t in result.tables}
    assert by_kind["polygons"].wrapped == 2 and by_kind["lines"].wrapped == 1
    assert by_kind["points"].wrapped == 1
    assert _select(world, by_kind["points"].table, "ST_AsText(geom)") == [
        ("MULTIPOINT((-170 -17),(179 -17))",)
    ]
    rows = _select(
        world,
        by_kind["polygons"].table,
        "n, ST_NumGeometries(geom), ST_XMin(geom), ST_XMax(geom), ST_Area(geom), ST_IsValid(geom)",
    )
    assert [(n, parts, valid) for n, parts, *_, valid in rows] == [
        (1, 2, True), (3, 1, True), (4, 1, True)
    ]  # fmt: skip
    assert rows[0][2:5] == (-180, 180, pytest.approx(8.0))  # 4 x 2 degrees, not 356 x 2
    assert rows[1][2:4] == (-175, -174)  # moved, in one piece
    assert rows[2][2:4] == (178, 179)  # untouched
    items = {i["id"]: i for i in result.items}
    polygons = items[by_kind["polygons"].table]
    validate_stac(polygons)
    assert polygons["properties"]["geo_platform:longitudes_wrapped"] == 2
    assert "wrapped the longitudes of 2 features" in polygons["properties"]["processing:lineage"]
    west, _, east, _ = polygons["bbox"]
    assert west == 177 and east == -174  # across the antimeridian


def test_points_past_180_are_moved(world: World, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"n": [1, 2, 3]}, geometry=[Point(190, 10), Point(359.5, -5), Point(10, 0)], crs=4326
    )
    path = tmp_path / "stations.gpkg"
    frame.to_file(path, layer="stations")
    result = world.publish(world.upload("stations.gpkg", path))
    (table,) = result.tables
    assert table.wrapped == 2
    rows = _select(world, table.table, "n, ST_X(ST_GeometryN(geom, 1))")
    assert rows == [(1, -170.0), (2, -0.5), (3, 10.0)]


def test_a_guessed_lonlat_crs_is_not_wrapped(world: World, tmp_path: Path) -> None:
    """A CSV or a TopoJSON has no CRS: lon/lat is only the convention, and values past 180
    say it is wrong (a local grid in kilometres?), so they are still refused."""
    path = tmp_path / "grid.csv"
    path.write_text("x,y,n\n" + "".join(f"{10 + i},{i},{i}\n" for i in range(50)) + "250,5,99\n")
    with pytest.raises(CoordinateRangeError, match=r"grid\.csv.*cannot be assumed"):
        world.publish(world.upload("grid.csv", path))
    topo = {
        "type": "Topology",
        "objects": {"sites": {"type": "GeometryCollection", "geometries": [
            {"type": "Point", "coordinates": [250, 5]}, {"type": "Point", "coordinates": [10, 5]}
        ]}},
        "arcs": [],
    }  # fmt: skip
    path = tmp_path / "sites.topojson"
    path.write_text(json.dumps(topo))
    with pytest.raises(CoordinateRangeError, match=r"sites\.topojson.*declared, not assumed"):
        world.publish(world.upload("sites.topojson", path))


def test_web_mercator_drawn_on_past_its_edge_is_cut_not_dropped() -> None:
    """Web Mercator x just past 20,037,508 m (a feature drawn on across the antimeridian in a
    web map) is one turn of the Earth away: it is placed and the polygon cut at 180. It was
    dropped as outside the projection's domain; x = 1e9 m (many turns) still is."""
    edge = 20037508.34
    reef = box(edge - 100000, -1900000, edge + 100000, -1800000)
    (poly,) = _transform("EPSG:3857", [reef])
    assert poly.geom_type == "MultiPolygon" and poly.is_valid and len(poly.geoms) == 2
    assert sorted(round(p.bounds[0], 3) for p in poly.geoms) == [-180.0, 179.102]
    # A vertex on the edge but for float rounding (PROJ puts it at -179.9999999999) was
    # enough to drop its feature: Chukotka in a world map in EPSG:3857.
    rim = 20037508.3428  # the edge is 20037508.342789...
    chukotka = Polygon([(edge - 100000, 1e7), (rim, 1e7), (rim, 1.1e7), (edge - 100000, 1.1e7)])
    (kept,) = _transform("EPSG:3857", [chukotka])
    assert kept.is_valid and kept.bounds[2] == pytest.approx(180.0)
    assert kept.area == pytest.approx(0.898 * 3.343, rel=0.01)  # 66.5 to 69.9 degrees N
    merc = Reprojector("EPSG:3857", None, "x")
    x, _ = merc.xy(np.array([edge + 50000, -edge - 50000, 1e9, 3 * edge]), np.zeros(4))
    assert x[0] == pytest.approx(-179.551, abs=1e-3) and x[1] == pytest.approx(179.551, abs=1e-3)
    assert np.isinf(x[2:]).all()


KML_ACROSS = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
<Placemark><name>eez</name><Polygon><outerBoundaryIs><LinearRing><coordinates>
178,-18 -178,-18 -178,-15 178,-15 178,-18
</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>
<Placemark><name>world</name><Polygon><outerBoundaryIs><LinearRing><coordinates>
-170,10 0,10 170,10 170,20 0,20 -170,20 -170,10
</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>
</Document></kml>"""

GPX_ACROSS = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
<trk><name>passage</name><trkseg>
<trkpt lat="-17.0" lon="179.2"></trkpt><trkpt lat="-17.1" lon="179.9"></trkpt>
<trkpt lat="-17.2" lon="-179.6"></trkpt><trkpt lat="-17.3" lon="-179.0"></trkpt>
</trkseg></trk></gpx>"""


def test_kml_and_gpx_segments_go_the_short_way(world: World, tmp_path: Path) -> None:
    """KML and GPX are drawn on the globe: a segment from 178 to -178 goes 4 degrees over the
    antimeridian (Google Earth draws it so), not 356 degrees round the other way. The polygon
    and the track are cut at 180; a wide polygon whose vertices step round the Earth by less
    than 180 degrees stays as it is."""
    kml = tmp_path / "eez.kml"
    kml.write_text(KML_ACROSS)
    result = world.publish(world.upload("eez.kml", kml))
    (table,) = result.tables
    rows = dict(_select(world, table.table, "name, array[ST_NumGeometries(geom), ST_Area(geom)]"))
    assert rows["eez"] == [2, pytest.approx(12.0)]  # 4 x 3 degrees, not 356 x 3
    assert rows["world"] == [1, pytest.approx(340.0 * 10)]
    gpx = tmp_path / "passage.gpx"
    gpx.write_text(GPX_ACROSS)
    tracks = [t for t in world.publish(world.upload("passage.gpx", gpx)).tables
              if "track" in t.table and "point" not in t.table]  # fmt: skip
    (track,) = tracks
    ((parts, length),) = _select(world, track.table, "ST_NumGeometries(geom), ST_Length(geom)")
    assert parts == 2 and length == pytest.approx(1.825, abs=0.01)  # not 357 degrees long
