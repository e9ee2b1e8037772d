"""A GeoParquet's secondary geometry columns load as PostGIS geometries in EPSG:4326, each
reprojected from its own CRS (``secondary_geoms``); before, they were WKB ``bytea`` that no
spatial query could use. A column of unknown or unreadable CRS stays ``bytea`` (and the file
still loads). Real PostGIS."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pyarrow.parquet as pq
import pytest
import shapely
from psycopg import sql
from shapely.geometry import Point, Polygon

from geo_platform_tests.lib.vector.conftest import publish_file


def _frame() -> gpd.GeoDataFrame:
    outline = [Polygon([(x, 5_760_000), (x + 500, 5_760_000), (x + 500, 5_760_500)])
               for x in (600_000, 601_000, 602_000)]  # fmt: skip
    df = gpd.GeoDataFrame(
        {"name": ["a", "b", "c"], "outline": gpd.GeoSeries(outline, crs="EPSG:32631")},
        geometry="outline",
    )
    df["centroid"] = df.outline.centroid.to_crs("EPSG:28992")  # a third CRS
    df["label"] = gpd.GeoSeries([Point(4.5, 52.0), None, Point(4.6, 52.1)], crs="EPSG:4326")
    df["site"] = gpd.GeoSeries([Point(1, 2), Point(3, 4), Point(5, 6)], crs="EPSG:4326")
    df["legacy"] = df["site"]
    return df


def _unknown_crs(path: Path) -> None:
    table = pq.read_table(path)
    geo = json.loads(table.schema.metadata[b"geo"])
    geo["columns"]["site"]["crs"] = None  # explicitly unknown
    geo["columns"]["legacy"]["crs"] = "EPSG:999999"  # PROJ knows no such CRS
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(geo).encode()}), path)


@pytest.mark.parametrize("encoding", ["WKB", "geoarrow"])
def test_secondary_geometries_load_as_lonlat_geometries(pg_conn, pg_schema, tmp_path, encoding):
    df = _frame()
    path = tmp_path / "parcels.parquet"
    df.to_parquet(path, schema_version="1.1.0", geometry_encoding=encoding)
    _unknown_crs(path)
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    types = {c.name: c.pg_type for c in table.columns}
    assert types["centroid"] == types["label"] == "geometry(Geometry,4326)"
    assert types["site"] == types["legacy"] == "bytea"  # cannot be placed: WKB, as before
    target = sql.SQL("{}.{}").format(sql.Identifier(table.schema), sql.Identifier(table.table))
    rows = pg_conn.execute(
        sql.SQL(
            "SELECT ST_AsBinary(centroid), ST_SRID(centroid), ST_AsBinary(label),"
            " format_type(a.atttypid, a.atttypmod), ST_AsBinary(ST_Centroid(geom))"
            " FROM {} t, pg_attribute a WHERE a.attrelid = %s::regclass AND a.attname = 'label'"
            " ORDER BY fid"
        ).format(target),
        [f"{table.schema}.{table.table}"],
    ).fetchall()
    expected = df.outline.centroid.to_crs("EPSG:4326")
    for (centroid, srid, label, declared, middle), want, given in zip(
        rows, expected, df.label, strict=True
    ):
        assert srid == 4326 and declared == "geometry(Geometry,4326)"
        got = shapely.from_wkb(bytes(centroid))
        assert got.distance(want) < 1e-7  # reprojected from EPSG:28992
        assert got.distance(shapely.from_wkb(bytes(middle))) < 1e-6  # where the polygon is
        assert (label is None) == (given is None)
        if given is not None:
            assert shapely.from_wkb(bytes(label)).equals(given)
    assert table.geoparquet_path is not None
    written = pq.read_table(table.geoparquet_path)
    (first,) = shapely.from_wkb(written.column("centroid").to_pylist()[:1])
    assert first.distance(expected.iloc[0]) < 1e-7  # the GeoParquet copy holds the same
