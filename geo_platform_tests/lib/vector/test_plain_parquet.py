"""Plain Parquet (no GeoParquet "geo" metadata) with a WKB, EWKB or WKT geometry column, as
DuckDB, Spark, BigQuery and pandas exports write it (``parquet_plain``): published like a CSV's
geometry column, CRS from the EWKB SRID or else lon/lat assumed and range-checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from psycopg import sql

from geo_platform.lib.errors import CoordinateRangeError, UnsupportedFormatError
from geo_platform.lib.vector.options import VectorOptions
from geo_platform.lib.vector.read import open_source
from geo_platform.store import postgis
from geo_platform_tests.lib.vector.conftest import publish_file
from geo_platform_tests.lib.vector.test_publish import _db_check

LONLAT = shapely.points(np.c_[np.linspace(4.0, 5.0, 20), np.linspace(52.0, 53.0, 20)])
RD = shapely.points(np.c_[np.linspace(155000, 156000, 20), np.linspace(463000, 464000, 20)])


def _parquet(tmp_path: Path, name: str, **columns) -> Path:
    path = tmp_path / name
    pq.write_table(pa.table({"id": np.arange(20), **columns}), path)
    assert pq.ParquetFile(path).metadata.metadata is None or b"geo" not in (
        pq.ParquetFile(path).metadata.metadata
    )
    return path


def _xy(conn, table) -> tuple[float, float]:
    return conn.execute(
        sql.SQL("SELECT ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)) "
                "FROM {}.{}").format(sql.Identifier(table.schema), sql.Identifier(table.table))
    ).fetchone()  # fmt: skip


def test_a_wkb_column_in_lonlat_publishes_with_the_crs_assumed(pg_conn, pg_schema, tmp_path):
    path = _parquet(tmp_path, "duck.parquet", geometry=shapely.to_wkb(LONLAT))
    (src,) = open_source(path, "v/duck.parquet")
    assert (src.driver, src.geometry_column, src.fields) == ("Parquet", "geometry", ("id",))
    assert (src.crs, src.crs_assumed, src.lonlat_range_check) == ("EPSG:4326", True, True)
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, t)
    assert (t.rows_loaded, t.geometry_type, t.crs_assumed) == (20, "MultiPoint", True)
    assert _xy(pg_conn, t) == pytest.approx((4.0, 52.0))


def test_a_wkt_column_of_any_name_publishes_and_bad_values_are_counted(
    pg_conn, pg_schema, tmp_path
):
    wkt = list(shapely.to_wkt(LONLAT))
    wkt[150 % 20] = None
    path = _parquet(tmp_path, "spark.parquet", shape_wkt=pa.array(wkt, pa.large_string()))
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, t)
    assert (t.rows_read, t.rows_loaded, t.dropped_null) == (20, 19, 1)
    assert "shape_wkt" not in [c.name for c in t.columns]


def test_ewkb_with_an_srid_declares_the_crs(pg_conn, pg_schema, tmp_path):
    ewkb = shapely.to_wkb(shapely.set_srid(RD, 28992), include_srid=True)
    path = _parquet(tmp_path, "postgis.parquet", geom=ewkb)
    opts = VectorOptions(assume_crs="EPSG:4326")  # the data's own SRID wins over a stand-in
    (src,) = open_source(path, "v/postgis.parquet", opts)
    assert (src.crs, src.crs_assumed) == ("EPSG:28992", False)
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path, opts)
    _db_check(pg_conn, t)
    assert t.source_crs == "EPSG:28992" and t.rows_loaded == 20
    x, y = _xy(pg_conn, t)
    assert 5.3 < x < 5.5 and 52.1 < y < 52.2  # Amersfoort


def test_metres_without_a_crs_are_refused_unless_assume_crs(pg_conn, pg_schema, tmp_path):
    path = _parquet(tmp_path, "metres.parquet", geometry=shapely.to_wkb(RD))
    with pytest.raises(CoordinateRangeError, match=r"metres\.parquet.*assume_crs"):
        publish_file(pg_conn, path, pg_schema, tmp_path)
    assert postgis.staging_tables(pg_conn, pg_schema) == []
    opts = VectorOptions(assume_crs="EPSG:28992")
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path, opts)
    assert (t.source_crs, t.crs_assumed, t.rows_loaded) == ("EPSG:28992", True, 20)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"blob": [b"\x01\x02\x03" * 5] * 20, "note": ["POINT is a word"] * 20},
         r"without a WKB or WKT geometry column \(columns: \['id', 'blob', 'note'\]\)"),
        ({"geom": list(shapely.to_wkb(shapely.set_srid(LONLAT[:10], 4326), include_srid=True))
                  + list(shapely.to_wkb(shapely.set_srid(LONLAT[10:], 3857), include_srid=True))},
         r"mixes SRIDs \[3857, 4326\]"),
    ],
)  # fmt: skip
def test_parquet_without_usable_geometry_is_refused(tmp_path, columns, message):
    path = _parquet(tmp_path, "odd.parquet", **columns)
    with pytest.raises(UnsupportedFormatError, match=rf"v/odd\.parquet.*{message}"):
        open_source(path, "v/odd.parquet")
