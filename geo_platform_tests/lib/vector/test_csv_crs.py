"""Issue 17: one CRS rule for CSV lat/lon and WKT columns. EPSG:4326 is assumed only when every
coordinate fits longitude/latitude ranges, and the layer (then the table and its STAC item)
records that the CRS was assumed; otherwise the file is refused with the assume_crs hint."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import shapely
from psycopg import sql
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from geo_platform.lib.content import content_kind
from geo_platform.lib.errors import (
    CoordinateRangeError,
    InvalidCRSError,
    NoGeometryError,
    UnsupportedFormatError,
)
from geo_platform.lib.vector.options import VectorOptions
from geo_platform.lib.vector.read import open_source
from geo_platform_tests.lib.vector.conftest import publish_file
from geo_platform_tests.lib.vector.test_publish import _db_check

LONLAT_WKT = (
    'id,wkt\n1,"LINESTRING (11.5 48.1, 11.6 48.2)"\n2,"LINESTRING (-179.9 -89.9, 179.9 89.9)"\n'
)
LONLAT_COLUMNS = "id,lat,lon\n1,48.1,11.5\n2,-89.9,179.9\n"
METRES_WKT = 'id,wkt\n1,"POINT (500000 5400000)"\n'
METRES_COLUMNS = "id,y,x\n1,5400000,500000\n"
EASTING_NORTHING = "site;Easting;Northing\nA;530034;180381\nB;530100;180400\n"  # British NG
RECHTS_HOCH = "name,Rechtswert,Hochwert\nA,3500000,5400000\n"  # Gauss-Krüger zone 3


def _csv(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text", [LONLAT_WKT, LONLAT_COLUMNS])
def test_lonlat_coordinates_assume_wgs84_and_say_so(tmp_path: Path, text: str) -> None:
    (src,) = open_source(_csv(tmp_path, text), "v/t.csv")
    assert (src.crs, src.crs_assumed, src.lonlat_range_check) == ("EPSG:4326", True, True)


@pytest.mark.parametrize("text", [LONLAT_WKT, LONLAT_COLUMNS])
def test_a_configured_crs_is_not_assumed(tmp_path: Path, text: str) -> None:
    opts = VectorOptions(assume_crs="EPSG:4258")
    (src,) = open_source(_csv(tmp_path, text), "v/t.csv", opts)
    assert (src.crs, src.crs_assumed) == ("EPSG:4258", False)


@pytest.mark.parametrize("text", [METRES_WKT, METRES_COLUMNS, EASTING_NORTHING, RECHTS_HOCH])
def test_coordinates_outside_lonlat_are_refused_with_the_hint(tmp_path: Path, text: str) -> None:
    with pytest.raises(CoordinateRangeError, match=r"v/utm\.csv.*no CRS.*assume_crs"):
        open_source(_csv(tmp_path, text, "utm.csv"), "v/utm.csv")
    # ... and publish once their CRS is given
    opts = VectorOptions(assume_crs="EPSG:32632")
    (src,) = open_source(_csv(tmp_path, text, "utm.csv"), "v/utm.csv", opts)
    assert not src.crs_assumed


def test_wkt_csv_publishes_with_the_crs_recorded_as_assumed(pg_conn, pg_schema, tmp_path):
    (t,) = publish_file(pg_conn, _csv(tmp_path, LONLAT_WKT, "wkt.csv"), pg_schema, tmp_path)
    _db_check(pg_conn, t)
    assert (t.source_crs, t.crs_assumed, t.rows_loaded) == ("EPSG:4326", True, 2)
    (t,) = publish_file(pg_conn, _csv(tmp_path, LONLAT_COLUMNS, "pts.csv"), pg_schema, tmp_path)
    assert (t.source_crs, t.crs_assumed) == ("EPSG:4326", True)


def test_a_row_beyond_the_sample_is_still_checked(pg_conn, pg_schema, tmp_path):
    rows = "".join(f'{i},"POINT (11.{i} 48.1)"\n' for i in range(300))
    path = _csv(tmp_path, f'id,wkt\n{rows}999,"POINT (500000 5400000)"\n', "late.csv")
    (src,) = open_source(path, "v/late.csv")  # the sampled rows fit
    assert src.crs_assumed
    with pytest.raises(CoordinateRangeError, match=r"late\.csv.*at row 301 .*another CRS"):
        publish_file(pg_conn, path, pg_schema, tmp_path)


# --- SRIDs carried by the values: EWKT and hex (E)WKB as PostGIS exports them ---------------
def _hex(geom: BaseGeometry, srid: int | None = None) -> str:
    if srid is None:
        return str(shapely.to_wkb(geom, hex=True))
    return str(shapely.to_wkb(shapely.set_srid(geom, srid), hex=True, include_srid=True))


RD = [Point(155000, 463000), Polygon([(92000, 437000), (93000, 437000), (93000, 438000)])]


@pytest.mark.parametrize("encode", ["ewkt", "hex_ewkb", "big_endian_ewkb"])
def test_an_srid_in_the_values_is_the_declared_crs(pg_conn, pg_schema, tmp_path, encode):
    def value(g: BaseGeometry) -> str:
        if encode == "ewkt":
            return f"SRID=28992;{g.wkt}"
        if encode == "hex_ewkb":
            return _hex(g, 28992)
        return str(shapely.to_wkb(shapely.set_srid(g, 28992), hex=True, include_srid=True,
                                  byte_order=0))  # fmt: skip

    rows = "".join(f'{i},"{value(g)}",x{i}\n' for i, g in enumerate(RD))
    path = _csv(tmp_path, f"id,geom,label\n{rows}", f"{encode}.csv")
    opts = VectorOptions(assume_crs="EPSG:4326")  # the data's own SRID wins over a stand-in
    (src,) = open_source(path, f"v/{encode}.csv", opts)
    assert (src.crs, src.crs_assumed) == ("EPSG:28992", False)
    tables = publish_file(pg_conn, path, pg_schema, tmp_path, opts)
    assert sorted(t.source_crs for t in tables) == ["EPSG:28992", "EPSG:28992"]
    assert sum(t.rows_loaded for t in tables) == 2
    for t in tables:  # reprojected from RD New: Amersfoort is at 5.39E 52.16N
        _db_check(pg_conn, t)
        x, y, label = pg_conn.execute(
            sql.SQL("SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)), label "
                    "FROM {}.{}").format(sql.Identifier(t.schema), sql.Identifier(t.table))
        ).fetchone()  # fmt: skip
        assert 4.0 < x < 5.5 and 51.7 < y < 52.2 and label.startswith("x")


def test_hex_wkb_without_srid_follows_the_csv_crs_rule(tmp_path: Path) -> None:
    lonlat = "".join(f"{i},{_hex(Point(4.9, 52 + i))}\n" for i in range(3))
    (src,) = open_source(_csv(tmp_path, f"id,the_geom\n{lonlat}", "ll.csv"), "v/ll.csv")
    assert (src.crs, src.crs_assumed) == ("EPSG:4326", True)
    metres = f"id,the_geom\n1,{_hex(Point(155000, 463000))}\n"
    with pytest.raises(CoordinateRangeError, match=r"v/m\.csv.*lon=155000.*assume_crs"):
        open_source(_csv(tmp_path, metres, "m.csv"), "v/m.csv")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["SRID=28992;POINT (155000 463000)", "SRID=4326;POINT (4 52)"],
         r"mixes SRIDs: SRID 28992 in 1 row and SRID 4326 in 1"),
        (["SRID=4326;POINT (4 52)", "POINT (5 52)", "POINT (5 53)"],
         r"mixes SRIDs: no SRID in 2 rows and SRID 4326 in 1"),
        ([_hex(Point(4, 52), 4326), _hex(Point(4, 52), 3857)], r"mixes SRIDs"),
        (["SRID=990001;POINT (1 2)"], r"SRID 990001, which is no EPSG code.*assume_crs"),
    ],
)  # fmt: skip
def test_srids_the_file_cannot_hold_are_refused(tmp_path: Path, values, message) -> None:
    rows = "".join(f'{i},"{v}"\n' for i, v in enumerate(values))
    with pytest.raises((UnsupportedFormatError, InvalidCRSError), match=rf"v/s\.csv.*{message}"):
        open_source(_csv(tmp_path, f"id,wkt\n{rows}", "s.csv"), "v/s.csv")


def test_a_late_row_with_another_srid_is_found(tmp_path: Path) -> None:
    rows = "".join(f'{i},"SRID=4326;POINT (4 5{i % 10})"\n' for i in range(500))
    path = _csv(tmp_path, f'id,wkt\n{rows}999,"SRID=3857;POINT (1 2)"\n', "late.csv")
    with pytest.raises(UnsupportedFormatError, match=r"SRID 4326 in 500 rows and SRID 3857 in 1"):
        open_source(path, "v/late.csv")


def test_an_unknown_srid_publishes_with_assume_crs(tmp_path: Path) -> None:
    path = _csv(tmp_path, 'id,wkt\n1,"SRID=990001;POINT (155000 463000)"\n', "c.csv")
    (src,) = open_source(path, "v/c.csv", VectorOptions(assume_crs="EPSG:28992"))
    assert (src.crs, src.crs_assumed) == ("EPSG:28992", False)


def test_easting_northing_columns_publish_in_the_given_crs(pg_conn, pg_schema, tmp_path):
    path = _csv(tmp_path, EASTING_NORTHING, "sites.csv")
    opts = VectorOptions(assume_crs="EPSG:27700")
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path, opts)
    _db_check(pg_conn, t)
    lon, lat = pg_conn.execute(
        sql.SQL("SELECT ST_X(geom), ST_Y(geom) FROM (SELECT (ST_Dump(geom)).geom FROM {}.{} "
                "ORDER BY 1 LIMIT 1) g").format(sql.Identifier(t.schema), sql.Identifier(t.table))
    ).fetchone()  # fmt: skip
    assert lon == pytest.approx(-0.127, abs=0.01) and lat == pytest.approx(51.507, abs=0.01)


# --- a geometry column of any name: found by its values ----------------------------------------
def test_a_postgis_export_publishes_from_its_hex_ewkb_column(pg_conn, pg_schema, tmp_path):
    """``COPY (SELECT ...) TO ... CSV HEADER`` writes hex EWKB; ``ogr2ogr -f CSV`` names it
    ``wkb_geometry``; a WKT column may be called anything (``footprint``)."""
    rows = "".join(f"{i},{_hex(g, 28992)},x{i}\n" for i, g in enumerate(RD))
    path = _csv(tmp_path, f"id,wkb_geometry,label\n{rows}", "export.csv")
    tables = publish_file(pg_conn, path, pg_schema, tmp_path)
    assert sorted(t.source_crs for t in tables) == ["EPSG:28992", "EPSG:28992"]
    assert sum(t.rows_loaded for t in tables) == 2
    for t in tables:
        _db_check(pg_conn, t)
        assert "wkb_geometry" not in [c.name for c in t.columns]
    footprints = "".join(f'{i},"{g.wkt}",{i * 2}\n' for i, g in enumerate(RD))
    path = _csv(tmp_path, f"scene,footprint,cloud\n{footprints}", "scenes.csv")
    (a,) = open_source(path, "v/scenes.csv", VectorOptions(assume_crs="EPSG:28992"))
    assert a.crs == "EPSG:28992" and a.geometry_column == "footprint"
    assert "footprint" not in a.fields


def test_hex_ids_are_not_taken_for_geometry(tmp_path: Path) -> None:
    text = "id,code\n0100ab12cd34,a\n0011223344ff,b\n"
    with pytest.raises(NoGeometryError, match=r"v/ids\.csv.*no coordinate columns"):
        open_source(_csv(tmp_path, text, "ids.csv"), "v/ids.csv")


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"scene;footprint\nS1;POLYGON ((0 0, 1 0, 1 1, 0 0))\n", "vector"),
        (b"id,g\n1,0101000020E6100000000000000000F03F000000000000F03F\n", "vector"),
        (b"id,wkb_geometry\n1,x\n", "vector"),  # by its name
        (b"id,code\n1,0101\n", "unsupported"),
    ],
)
def test_an_extensionless_csv_is_sniffed_by_its_geometry_cells(head: bytes, kind: str) -> None:
    assert content_kind(head, "export")[0] == kind


RD_PRJ = (
    'PROJCS["Amersfoort / RD New",GEOGCS["Amersfoort",DATUM["Amersfoort",SPHEROID['
    '"Bessel 1841",6377397.155,299.1528128]],PRIMEM["Greenwich",0],UNIT["degree",'
    '0.0174532925199433]],PROJECTION["Oblique_Stereographic"],PARAMETER["latitude_of_origin",'
    '52.1561605555556],PARAMETER["central_meridian",5.38763888888889],PARAMETER["scale_factor",'
    '0.9999079],PARAMETER["false_easting",155000],PARAMETER["false_northing",463000],'
    'UNIT["metre",1]]'
)


@pytest.mark.parametrize("zipped", [False, True])
def test_a_prj_beside_the_csv_declares_its_crs(pg_conn, pg_schema, tmp_path, zipped) -> None:
    """``wells.csv`` with ``wells.prj``, as GIS tools export them: the coordinates were refused
    as "the CSV declares no CRS" (metres are no lon/lat). The ``.prj`` declares it, as a
    Shapefile's does, loose or zipped."""
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "wells.csv").write_text("name,x,y\na,155000,463000\nb,156000,464000\n")
    (folder / "wells.prj").write_text(RD_PRJ)
    path = folder / "wells.csv"
    if zipped:
        path = tmp_path / "wells.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for f in folder.iterdir():
                archive.write(f, f"export/{f.name}")
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, table)
    assert table.source_crs == "EPSG:28992" and not table.crs_assumed
    target = sql.SQL("{}.{}").format(sql.Identifier(table.schema), sql.Identifier(table.table))
    point = "ST_X(ST_GeometryN(geom, 1)), ST_Y(ST_GeometryN(geom, 1))"
    query = sql.SQL("SELECT name, " + point + " FROM {} ORDER BY name").format(target)
    name, lon, lat = pg_conn.execute(query).fetchone()
    assert name == "a" and abs(lon - 5.3872) < 1e-3 and abs(lat - 52.1552) < 1e-3


def test_an_unreadable_prj_beside_the_csv_is_named(tmp_path: Path) -> None:
    (tmp_path / "wells.csv").write_text("name,x,y\na,155000,463000\n")
    (tmp_path / "wells.prj").write_text("not a CRS")
    with pytest.raises(InvalidCRSError, match=r"its \.prj sidecar is not a CRS PROJ can read"):
        open_source(tmp_path / "wells.csv", "v/wells.csv")
