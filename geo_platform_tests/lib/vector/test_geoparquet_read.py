"""Issue 17: GeoParquet 1.0 and 1.1 read through pyarrow (pyogrio's GDAL would try its ADBC
driver and fail with "libduckdb.so: cannot open shared object file"), in WKB and in every native
GeoArrow encoding, batch by batch, with the CRS of the "geo" metadata (OGC:CRS84 when absent).

Real files: ``data/geoparquet`` holds files of the GeoParquet project (github.com/opengeospatial/
geoparquet, Apache-2.0): ``examples/example.parquet`` as of its 1.0 (dc941c0) and 1.1 (569b341)
releases (Natural Earth countries, public domain), and ``test_data/`` at 569b341: one file per
geometry type in WKB and native encodings, with the WKT each must read as (``*-wkt.csv``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely
from psycopg import sql
from shapely.geometry import (
    LineString,
    MultiLineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
)

from geo_platform.lib.errors import UnsupportedFormatError
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.vector.batches import iter_batches, open_batches
from geo_platform.lib.vector.read import open_source
from geo_platform_tests.lib.vector.conftest import publish_file

DATA = Path(__file__).parent / "data" / "geoparquet"
TYPES = ["point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon"]
DECLARED = {
    "point": "Point",
    "linestring": "LineString",
    "polygon": "Polygon",
    "multipoint": "MultiPoint",
    "multilinestring": "MultiLineString",
    "multipolygon": "MultiPolygon",
}


def _wkt_rows(geometry_type: str) -> list[str | None]:
    with (DATA / f"data-{geometry_type}-wkt.csv").open(newline="") as fh:
        return [row["geometry"] or None for row in csv.DictReader(fh)]


def _read_all(path: Path, blob: str, batch_size: int = 65_536) -> tuple[Any, list[Any]]:
    """The layer of a GeoParquet file and its geometries (shapely, None for nulls), in order."""
    (src,) = open_source(path, blob)
    geoms: list[Any] = []
    for batch in iter_batches(src, batch_size=batch_size):
        column = batch.column(src.geometry_column)
        assert pa.types.is_binary(column.type)
        geoms += [None if v is None else shapely.from_wkb(v) for v in column.to_pylist()]
    return src, geoms


def _same(got: list[Any], expected: list[Any]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        if e is None:
            assert g is None
        else:
            assert g is not None and g.geom_type == e.geom_type
            assert shapely.equals_exact(shapely.normalize(g), shapely.normalize(e), 1e-9) or (
                g.is_empty and e.is_empty
            )


# --- real files of the GeoParquet project ----------------------------------------------------
@pytest.mark.parametrize("encoding", ["wkb", "native"])
@pytest.mark.parametrize("geometry_type", TYPES)
def test_geoparquet_project_test_data(geometry_type: str, encoding: str) -> None:
    """Every geometry type in WKB and native GeoArrow encoding, read in batches of one and two
    rows (nulls and empties among them), gives the geometries of the project's WKT file."""
    path = DATA / f"data-{geometry_type}-encoding_{encoding}.parquet"
    expected = [None if w is None else shapely.from_wkt(w) for w in _wkt_rows(geometry_type)]
    for batch_size in (1, 2, 1000):
        src, geoms = _read_all(path, f"gp/{path.name}", batch_size)
        assert src.driver == "GeoParquet" and src.crs == "OGC:CRS84"
        assert src.geometry_type == DECLARED[geometry_type]
        assert src.feature_count == len(expected) and src.fields == ("col",)
        _same(geoms, expected)


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_geoparquet_project_example(version: str) -> None:
    """The project's own example (Natural Earth countries, PROJJSON OGC:CRS84, Polygon and
    MultiPolygon declared; 1.1 adds a bbox covering column, which is not an attribute)."""
    path = DATA / f"example-{version}.parquet"
    src, geoms = _read_all(path, f"gp/example-{version}.parquet")
    assert src.crs == "OGC:CRS84" and src.feature_count == 5 and len(geoms) == 5
    assert src.geometry_type == "MultiPolygon"  # Polygon + MultiPolygon: one family
    assert {g.geom_type for g in geoms} == {"Polygon", "MultiPolygon"}
    assert src.fields == ("pop_est", "continent", "name", "iso_a3", "gdp_md_est")
    reference = gpd.read_parquet(path)
    _same(geoms, list(reference.geometry))
    with pytest.raises(pyogrio.errors.DataSourceError, match="libduckdb"):
        pyogrio.read_info(path)  # why the platform does not read GeoParquet through GDAL


@pytest.mark.parametrize("name", ["example-1.1.parquet", "data-polygon-encoding_native.parquet"])
def test_bronze_inventory_of_geoparquet(tmp_path: Path, name: str) -> None:
    inv = inventory_file(DATA / name, f"gp/{name}", "vector")
    (layer,) = inv.layers
    assert inv.format == "Parquet" and inv.driver == "GeoParquet" and inv.crs == "OGC:CRS84"
    assert inv.features == layer["features"] == (5 if name.startswith("example") else 4)


# --- files written by geopandas ----------------------------------------------------------------
_HOLED = Polygon(
    [(500000, 0), (510000, 0), (510000, 10000), (500000, 10000)],
    [[(502000, 2000), (504000, 2000), (504000, 4000), (502000, 4000)]],
)
SHAPES = {
    "points": [Point(500000, 10), Point(501000, 20), None],
    "lines": [LineString([(500000, 0), (501000, 1000)]), LineString([(0, 0), (1, 1), (2, 0)])],
    "polygons": [_HOLED, Polygon([(0, 0), (1, 0), (1, 1)])],
    "multipoints": [MultiPoint([(0, 0), (1, 1)]), MultiPoint([(5, 5)])],
    "multilines": [MultiLineString([[(0, 0), (1, 1)], [(2, 2), (3, 3), (4, 2)]])],
    "multipolygons": [MultiPolygon([_HOLED, Polygon([(0, 0), (1, 0), (1, 1)])]), None],
    "points_z": [Point(500000, 10, 5.5), Point(501000, 20, 7.0)],
}
FLAVOURS = [("1.0.0", "WKB"), ("1.1.0", "WKB"), ("1.1.0", "geoarrow")]


@pytest.mark.parametrize(("version", "encoding"), FLAVOURS)
@pytest.mark.parametrize("shapes", sorted(SHAPES))
def test_geopandas_written(tmp_path: Path, shapes: str, version: str, encoding: str) -> None:
    geoms = SHAPES[shapes]
    df = gpd.GeoDataFrame({"n": range(len(geoms))}, geometry=geoms, crs="EPSG:32631")
    path = tmp_path / f"{shapes}.parquet"
    df.to_parquet(path, schema_version=version, geometry_encoding=encoding, row_group_size=1)
    geo = json.loads(pq.ParquetFile(path).metadata.metadata[b"geo"])
    assert geo["version"] == version
    written = geo["columns"]["geometry"]["encoding"]
    assert (written == "WKB") == (encoding == "WKB")
    src, got = _read_all(path, f"v/{shapes}.parquet", batch_size=1)
    assert src.crs == "EPSG:32631" and src.feature_count == len(geoms) == len(got)
    present = {g.geom_type for g in geoms if g is not None}
    (kind,) = present
    assert src.geometry_type.removesuffix(" Z") == kind
    assert src.geometry_type.endswith(" Z") == (shapes == "points_z")
    _same(got, geoms)
    if shapes == "points_z":
        assert all(shapely.has_z(g) for g in got)


def test_primary_column_is_honoured(tmp_path: Path) -> None:
    """Two geometry columns in different CRSs: the primary one is the layer's geometry (with
    its CRS), the other is kept as a WKB attribute, whatever the encoding."""
    df = gpd.GeoDataFrame(
        {
            "name": ["a", "b"],
            "centroid": gpd.GeoSeries([Point(1, 2), Point(3, 4)], crs="EPSG:4326"),
            "outline": gpd.GeoSeries([_HOLED, Polygon([(0, 0), (1, 0), (1, 1)])], crs="EPSG:32631"),
        },
        geometry="outline",
    )
    for version, encoding in FLAVOURS:
        path = tmp_path / f"two-{version}-{encoding}.parquet"
        df.to_parquet(path, schema_version=version, geometry_encoding=encoding)
        assert json.loads(pq.read_schema(path).metadata[b"geo"])["primary_column"] == "outline"
        (src,) = open_source(path, "v/two.parquet")
        assert src.geometry_column == "outline" and src.crs == "EPSG:32631"
        assert src.geometry_type == "Polygon" and src.fields == ("name", "centroid")
        with open_batches(src) as (schema, batches):
            (batch,) = list(batches)
        assert schema.field("centroid").type == schema.field("outline").type == pa.binary()
        assert batch.schema == schema
        outlines = [shapely.from_wkb(v) for v in batch.column("outline").to_pylist()]
        _same(outlines, list(df["outline"]))
        centroids = [shapely.from_wkb(v) for v in batch.column("centroid").to_pylist()]
        _same(centroids, list(df["centroid"]))
        # the geometry-only pre-scan (columns=[]) reads the primary column only
        (only,) = list(iter_batches(src, columns=[]))
        assert only.schema.names == ["outline"]


def _rewrite_geo(src: Path, dest: Path, change: Any) -> Path:
    table = pq.read_table(src)
    geo = json.loads(table.schema.metadata[b"geo"])
    change(geo["columns"]["geometry"])
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(geo).encode()}), dest)
    return dest


def test_crs_absent_null_and_unknown_encoding(tmp_path: Path) -> None:
    base = tmp_path / "base.parquet"
    gpd.GeoDataFrame({"n": [1]}, geometry=[Point(1, 2)], crs="EPSG:3857").to_parquet(base)
    assert open_source(base, "v/base.parquet")[0].crs == "EPSG:3857"
    absent = _rewrite_geo(base, tmp_path / "absent.parquet", lambda c: c.pop("crs"))
    assert open_source(absent, "v/absent.parquet")[0].crs == "OGC:CRS84"  # the spec's default
    null = _rewrite_geo(base, tmp_path / "null.parquet", lambda c: c.update(crs=None))
    assert open_source(null, "v/null.parquet")[0].crs is None  # explicitly unknown
    wkt = _rewrite_geo(base, tmp_path / "wkt.parquet", lambda c: c.update(encoding="WKT"))
    with pytest.raises(UnsupportedFormatError, match=r"v/wkt.parquet: .*encoding 'WKT'"):
        open_source(wkt, "v/wkt.parquet")


# --- end to end through the vector loader ------------------------------------------------------
def test_native_geoparquet_published_to_postgis(pg_conn, pg_schema, tmp_path: Path) -> None:
    """A GeoArrow-encoded 1.1 file with holed polygons in UTM is loaded, reprojected to
    EPSG:4326 with its holes, and the project's 1.1 example as well."""
    df = gpd.GeoDataFrame({"n": [1, 2]}, geometry=SHAPES["polygons"][:1] * 2, crs="EPSG:32631")
    path = tmp_path / "holed.parquet"
    df.to_parquet(path, schema_version="1.1.0", geometry_encoding="geoarrow")
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path, blob="v/holed.parquet")
    assert (table.rows_loaded, table.geometry_type) == (2, "MultiPolygon")
    assert table.source_crs == "EPSG:32631"
    holes, srid = pg_conn.execute(
        sql.SQL("SELECT min(ST_NumInteriorRings(ST_GeometryN(geom, 1))), min(ST_SRID(geom)) "
                "FROM {}.{}").format(sql.Identifier(pg_schema), sql.Identifier(table.table))
    ).fetchone()  # fmt: skip
    assert (holes, srid) == (1, 4326)
    (world,) = publish_file(
        pg_conn, DATA / "example-1.1.parquet", pg_schema, tmp_path, blob="v/example.parquet"
    )
    assert (world.rows_loaded, world.geometry_type, world.source_crs) == (
        5,
        "MultiPolygon",
        "OGC:CRS84",
    )
