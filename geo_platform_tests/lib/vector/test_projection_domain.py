"""Coordinates outside their projection's domain are not published somewhere else.

PROJ inverts Web Mercator for any number: y = 1e9 m comes out at the pole, x = 1e9 m wrapped
round the Earth, without an error. A feature with such a coordinate (data in another CRS than
declared, a garbage value) was published there and stretched the item's bbox to latitude 90.
Such a coordinate does not survive the way back (``Reprojector.xy``): the feature is dropped and
counted as invalid, the others publish as before. Real PostGIS."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from psycopg import sql
from shapely.geometry import Point, Polygon

from geo_platform.lib.vector.reproject import Reprojector
from geo_platform_tests.lib.vector.conftest import publish_file


def test_out_of_domain_mercator_coordinates_become_unplaceable() -> None:
    merc = Reprojector("EPSG:3857", None, "x")
    x, y = merc.xy(np.array([500000.0, 1e9, -3e7, 2.0e7]), np.array([6.8e6, 1e9, 100.0, 0.0]))
    assert np.isfinite(x[[0, 3]]).all() and np.isinf(x[[1, 2]]).all() and np.isinf(y[[1, 2]]).all()
    assert abs(x[0] - 4.4916) < 1e-3 and abs(y[0] - 51.9993) < 1e-3
    utm = Reprojector("EPSG:32631", None, "x")  # far outside its zone, still in its domain
    x, y = utm.xy(np.array([-2e6, 3e6]), np.array([5e6, 5.5e6]))
    assert np.isfinite(x).all() and np.isfinite(y).all()


def test_features_outside_the_domain_are_dropped_and_counted(pg_conn, pg_schema, tmp_path):
    points = gpd.GeoDataFrame(
        {"n": [1, 2, 3]},
        geometry=[Point(500000, 6800000), Point(1e9, 1e9), Point(-3e7, 100)],
        crs=3857,
    )
    path = tmp_path / "stations.gpkg"
    points.to_file(path, layer="stations")
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    assert (table.rows_read, table.rows_loaded, table.invalid_dropped) == (3, 1, 2)
    assert table.bbox is not None and table.bbox[3] < 53  # not stretched to the pole
    bad_vertex = Polygon([(500000, 6800000), (5e9, 6800000), (510000, 6810000)])
    good = Polygon([(500000, 6800000), (510000, 6800000), (510000, 6810000)])
    shapes = gpd.GeoDataFrame({"n": [1, 2]}, geometry=[good, bad_vertex], crs=3857)
    path = tmp_path / "parcels.gpkg"
    shapes.to_file(path, layer="parcels")
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    assert (table.rows_loaded, table.invalid_dropped) == (1, 1)
    target = sql.SQL("{}.{}").format(sql.Identifier(table.schema), sql.Identifier(table.table))
    (n,) = pg_conn.execute(sql.SQL("SELECT array_agg(n) FROM {}").format(target)).fetchone()
    assert n == [1]
