"""Cleaning rules on synthesized Arrow batches (no database)."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import shapely

from geo_platform.lib.errors import CoordinateRangeError, InvalidCRSError, MissingCRSError
from geo_platform.lib.vector import geometry as geom_rules
from geo_platform.lib.vector.clean import LayerCleaner
from geo_platform.lib.vector.columns import plan_columns
from geo_platform.lib.vector.extent import Extent, hull_candidates
from geo_platform.lib.vector.options import VectorOptions
from geo_platform.lib.vector.pgcopy import pg_type_for
from geo_platform.lib.vector.plan import declared_plan, prescan_plan
from geo_platform.lib.vector.source import LayerSource

GEOM = "wkb_geometry"
SINGLE_POINT_LINE = b"\x01\x02\x00\x00\x00\x01\x00\x00\x00" + np.array([1.0, 2.0]).tobytes()


def _src(crs: str | None = "EPSG:4326", gtype: str = "Unknown", **kw) -> LayerSource:
    return LayerSource(
        path=Path("x"),
        display="bronze/x",
        gdal_path="x",
        layer=None,
        name="x",
        driver="GeoJSON",
        crs=crs,
        geometry_type=gtype,
        feature_count=None,
        fields=(),
        geometry_column=GEOM,
        **kw,
    )


def _batch(wkts: list[str | bytes | None], **cols) -> pa.RecordBatch:
    values = [
        w
        if isinstance(w, bytes) or w is None
        else shapely.to_wkb(shapely.from_wkt(w), flavor="iso")
        for w in wkts
    ]
    data = {**cols, GEOM: pa.array(values, pa.binary())}
    return pa.RecordBatch.from_pydict(data)


def _clean(batch: pa.RecordBatch, src: LayerSource | None = None, **opts):
    src = src or _src()
    plan = declared_plan(src.geometry_type) or prescan_plan([batch], GEOM)
    cleaner = LayerCleaner(src, batch.schema, plan, VectorOptions(**opts))
    parts = cleaner.clean(batch)
    return plan, parts, cleaner.finish_stats()


def _geoms(part) -> np.ndarray:
    return shapely.from_wkb(part.batch.column("geom").to_numpy(zero_copy_only=False))


def test_bowties_are_repaired_into_valid_multipolygons():
    bowtie = "POLYGON ((0 0, 1 1, 1 0, 0 1, 0 0))"
    _, (part,), stats = _clean(
        _batch([bowtie, "POLYGON ((0 0, 1 0, 1 1, 0 0))"], id=[1, 2]), _src(gtype="Polygon")
    )
    g = _geoms(part)
    assert shapely.is_valid(g).all() and set(shapely.get_type_id(g)) == {6}
    assert stats["polygons"].repaired == 1 and stats["polygons"].rows_loaded == 2
    assert shapely.area(g[0]) == pytest.approx(0.5)
    assert part.batch.column("id").to_pylist() == [1, 2]


def test_unrepairable_and_degenerate_geometries_are_dropped_and_counted():
    batch = _batch(
        ["POLYGON ((0 0, 1 0, 2 0, 0 0))", SINGLE_POINT_LINE, "LINESTRING (0 0, 1 1)", None, b""],
        id=[1, 2, 3, 4, 5],
    )
    _, parts, stats = _clean(batch)
    assert [p.kind for p in parts] == ["lines"]
    assert parts[0].batch.column("id").to_pylist() == [3]
    assert stats["lines"].invalid_dropped == 1 and stats["lines"].dropped_null == 2
    assert stats["polygons"].invalid_dropped == 1  # collapsed polygon
    for s in stats.values():
        assert s.rows_loaded == s.rows_read - s.dropped_null - s.dropped_empty - s.invalid_dropped


def test_null_and_empty_geometries_kept_by_config():
    batch = _batch(["POINT (1 2)", None, "POINT EMPTY"], id=[1, 2, 3])
    _, (part,), stats = _clean(batch, _src(gtype="Point"))
    assert part.batch.num_rows == 1 and stats["points"].dropped_empty == 1
    _, (part,), stats = _clean(
        batch, _src(gtype="Point"), keep_null_geometries=True, keep_empty_geometries=True
    )
    g = _geoms(part)
    assert part.batch.num_rows == 3 and g[1] is None and g[2].is_empty
    assert np.isnan(part.bounds[1:]).all()


def test_mixed_layer_is_split_by_dimension():
    batch = _batch(
        ["POINT (0 0)", "LINESTRING (0 0, 1 1)", "POLYGON ((0 0, 1 0, 1 1, 0 0))", "POINT (2 2)"],
        id=[1, 2, 3, 4],
    )
    plan, parts, _ = _clean(batch)
    assert plan.kinds == ("points", "lines", "polygons")
    ids = {p.kind: p.batch.column("id").to_pylist() for p in parts}
    assert ids == {"points": [1, 4], "lines": [2], "polygons": [3]}
    assert plan.geometry_type("lines") == "MultiLineString"


def test_geometry_collections_keep_their_highest_dimension():
    gc = "GEOMETRYCOLLECTION (POINT (5 5), POLYGON ((0 0, 1 0, 1 1, 0 0)))"
    plan, (part,), stats = _clean(_batch([gc]))
    assert plan.kinds == ("polygons",)
    assert _geoms(part)[0].geom_type == "MultiPolygon" and stats["polygons"].repaired == 1


def test_z_rule():
    assert declared_plan("Polygon Z").has_z == {"polygons": True}
    assert declared_plan("3D Point").has_z == {"points": True}
    assert declared_plan("MultiLineString").has_z == {"lines": False}
    assert declared_plan("Unknown") is None
    # Undeclared: Z kept only when some feature has a non-zero Z.
    plan, (part,), _ = _clean(_batch(["POINT Z (1 2 0)", "POINT Z (3 4 0)"]))
    assert plan.has_z["points"] is False and not shapely.has_z(_geoms(part)).any()
    plan, (part,), _ = _clean(_batch(["POINT Z (1 2 7)", "POINT (3 4)"]))
    g = _geoms(part)
    assert plan.geometry_type("points") == "MultiPointZ"
    assert shapely.get_coordinates(g, include_z=True)[:, 2].tolist() == [7, 0]


def test_m_is_dropped_z_kept():
    g = np.array(shapely.from_wkt(["POINT M (1 2 3)", "LINESTRING ZM (0 0 1 2, 1 1 3 4)"]))
    out = geom_rules.drop_m(g)
    assert not shapely.has_m(out).any()
    assert shapely.has_z(out).tolist() == [False, True]


def test_reprojection_and_crs_rules():
    batch = _batch(["POINT (1113194.9079327357 0)"])
    _, (part,), _ = _clean(batch, _src("EPSG:3857", "Point"))
    assert part.bounds[0, 0] == pytest.approx(10.0)
    with pytest.raises(MissingCRSError, match=r"bronze/x.*assume_crs"):
        _clean(batch, _src(None, "Point"))
    with pytest.raises(MissingCRSError):
        _clean(batch, _src('GEOGCS["Undefined geographic SRS"]', "Point"))
    _, (part,), _ = _clean(batch, _src(None, "Point"), assume_crs="EPSG:3857")
    assert part.bounds[0, 0] == pytest.approx(10.0)
    with pytest.raises(InvalidCRSError):
        _clean(batch, _src("EPSG:999999", "Point"))


def test_csv_coordinates_out_of_range():
    src = _src("EPSG:4326", "Point", lonlat_range_check=True)
    with pytest.raises(CoordinateRangeError, match=r"lon=200.0, lat=91.0.*swapped"):
        _clean(_batch(["POINT (1 2)", "POINT (200 91)"]), src)


def test_hostile_column_names_are_sanitized_and_recorded():
    names = [
        "Name",
        "name",
        "select",
        "fid",
        "geom",
        '"; DROP TABLE x; --',
        "Länge",
        "1st",
        "x" * 80,
    ]
    schema = pa.schema([(n, pa.int64()) for n in names] + [(GEOM, pa.binary())])
    cols = plan_columns(schema, GEOM)
    out = [c.name for c in cols]
    assert len(set(out)) == len(out) and "fid" not in out and "geom" not in out
    assert all(n == n.lower() and len(n.encode()) <= 63 for n in out)
    assert out[0] == "name" and out[1] != "name" and out[2] == "select_"
    assert [c.source for c in cols] == names


@pytest.mark.parametrize(
    ("arrow_type", "pg_type"),
    [
        (pa.bool_(), "boolean"),
        (pa.int8(), "smallint"),
        (pa.int32(), "integer"),
        (pa.int64(), "bigint"),
        (pa.uint64(), "numeric"),
        (pa.float32(), "real"),
        (pa.float64(), "double precision"),
        (pa.decimal128(12, 3), "numeric"),
        (pa.string(), "text"),
        (pa.large_string(), "text"),
        (pa.json_(pa.string()), "jsonb"),
        (pa.list_(pa.int32()), "jsonb"),
        (pa.struct([("a", pa.int8())]), "jsonb"),
        (pa.binary(), "bytea"),
        (pa.date32(), "date"),
        (pa.timestamp("ms"), "timestamp"),
        (pa.timestamp("us", tz="Europe/Berlin"), "timestamptz"),
        (pa.time64("us"), "time"),
        (pa.duration("s"), "interval"),
        (pa.dictionary(pa.int32(), pa.string()), "text"),
    ],
)
def test_type_mapping(arrow_type: pa.DataType, pg_type: str):
    assert pg_type_for(arrow_type) == pg_type


def test_attribute_types_pass_through_cleaning():
    batch = _batch(
        ["POINT (1 2)"],
        d=pa.array([dt.date(2020, 1, 2)]),
        ts=pa.array([dt.datetime(2020, 1, 2, 3, 4, tzinfo=dt.UTC)], pa.timestamp("ms", tz="UTC")),
        dec=pa.array([decimal.Decimal("1.25")], pa.decimal128(5, 2)),
        cat=pa.array(["x"]).dictionary_encode(),
    )
    _, (part,), _ = _clean(batch)
    types = {f.name: f.type for f in part.batch.schema}
    assert types["d"] == pa.date32() and types["ts"].tz == "UTC"
    assert types["dec"] == pa.decimal128(5, 2) and types["cat"] == pa.string()


def test_extent_across_the_antimeridian():
    ext = Extent()
    ext.add(np.array([[178.0, -18.0, 179.9, -16.0], [-179.9, -17.0, -178.5, -15.0]]))
    assert ext.bbox() == (178.0, -18.0, -178.5, -15.0)
    assert ext.footprint()["type"] == "MultiPolygon"
    ext = Extent()
    ext.add(np.array([[-10.0, 0.0, -10.0, 0.0], [10.0, 5.0, 10.0, 5.0], [0.0, 9.0, 0.0, 9.0]]))
    assert ext.bbox() == (-10.0, 0.0, 10.0, 9.0)
    assert ext.footprint()["type"] == "Polygon"


def test_source_wkb_is_kept_only_where_shapely_would_write_the_same_bytes():
    """Valid (Multi)Polygons whose WKB is canonical are loaded with their source bytes; every
    other row (big-endian, a part of another byte order, trailing bytes, repaired) is written
    by shapely: either way each output value is what shapely writes for its geometry."""
    square = shapely.from_wkt("POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))")
    two = shapely.MultiPolygon([square, shapely.from_wkt("POLYGON ((5 5, 6 5, 6 6, 5 5))")])
    a, b = shapely.get_parts(two)
    mixed = (
        b"\x01\x06\x00\x00\x00\x02\x00\x00\x00"
        + shapely.to_wkb(a, flavor="iso")
        + shapely.to_wkb(b, flavor="iso", byte_order=0)
    )
    rows = [
        shapely.to_wkb(square, flavor="iso"),
        shapely.to_wkb(two, flavor="iso"),
        shapely.to_wkb(square, flavor="iso", byte_order=0),
        mixed,
        shapely.to_wkb(square, flavor="iso") + b"junk",
        "POLYGON ((0 0, 1 1, 1 0, 0 1, 0 0))",  # bowtie: repaired
        None,
    ]
    _, (part,), stats = _clean(
        _batch(rows, id=list(range(7))), _src(gtype="Polygon"), keep_null_geometries=True
    )
    out = part.batch.column("geom").to_pylist()
    assert part.batch.column("id").to_pylist() == list(range(7))
    assert stats["polygons"].repaired == 1 and out[6] is None
    for i, value in enumerate(out[:6]):
        g = shapely.from_wkb(value)
        assert shapely.get_type_id(g) == 6 and shapely.to_wkb(g, flavor="iso") == value, i
    assert out[0] == out[2] == out[4]  # byte order and trailing bytes do not reach the table
    assert out[1] == out[3] == shapely.to_wkb(two, flavor="iso")
    assert out[0] == shapely.to_wkb(shapely.MultiPolygon([square]), flavor="iso")


def test_hull_candidates_keep_every_hull_vertex():
    """The Akl-Toussaint filter is exact: the hull of the candidates is the hull of all the
    points, for random clouds, grids full of ties and collinear extremes, and it leaves out
    most interior points."""
    rng = np.random.default_rng(3)
    clouds = [
        rng.normal(size=(5000, 2)),
        rng.uniform(-180, 180, size=(2000, 2)),
        np.stack(np.meshgrid(np.arange(20.0), np.arange(30.0)), -1).reshape(-1, 2),
        np.array([[x, 0.0] for x in range(100)] + [[50.0, 1e-9]]),
    ]
    for points in clouds:
        kept = hull_candidates(points)
        hull = shapely.convex_hull(shapely.multipoints(points))
        assert shapely.equals(shapely.convex_hull(shapely.multipoints(kept)), hull)
        assert len(kept) <= len(points)
    assert len(hull_candidates(clouds[0])) < len(clouds[0]) / 10
