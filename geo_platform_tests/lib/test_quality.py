"""Per-partition quality: rasters from real COG builds; consistency and vectors on real DBs."""

from __future__ import annotations

import dataclasses
import json
import math
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest
from psycopg import sql

from geo_platform.lib.quality.checks import (
    Consistency,
    raster_checks,
    raster_quality,
    vector_checks,
    vector_metadata,
)
from geo_platform.lib.raster.cog import build_cog_tiers
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.vector.records import ColumnInfo, LoadedTable
from geo_platform.store import pgstac
from geo_platform.store.quality import (
    attribute_completeness,
    collection_consistency,
    duplicate_geometries,
    vector_quality,
)
from geo_platform_tests.lib.raster.synth import gradient, write_tif


def _build(tmp_path: Path, data: np.ndarray, **profile):
    src = write_tif(tmp_path / "src.tif", data, **profile)
    out = tmp_path / "out"
    out.mkdir()
    return build_cog_tiers(src, out, RasterOptions(tiers=("analysis",)), name="q/src.tif")


def test_raster_quality_of_a_real_build_with_a_nodata_border(tmp_path):
    data = gradient(3, 64, 64)
    data[:, :, :16] = 0  # a quarter of every row is nodata
    result = _build(tmp_path, data, nodata=0)
    q = raster_quality(result.info, result.grid, result.band_stats)
    assert q.valid_share == pytest.approx(0.75, abs=0.01)
    assert q.problems == () and q.plausible and q.has_crs and q.has_resolution
    meta = q.metadata()
    assert meta["quality/valid_share"] == pytest.approx(0.75, abs=0.01)
    assert all(isinstance(v, int | float | bool) for v in meta.values())
    # A threshold makes a thin raster a problem.
    thin = raster_quality(result.info, result.grid, result.band_stats, min_valid_share=0.8)
    assert any("75" in p for p in thin.problems)


def test_all_zero_and_nan_in_integer_data_are_implausible(tmp_path):
    result = _build(tmp_path, np.zeros((1, 32, 32), dtype="uint16"))
    q = raster_quality(result.info, result.grid, result.band_stats)
    assert q.all_zero and not q.plausible
    assert q.problems == ("every valid pixel is 0 in every band",)
    nan_info = dataclasses.replace(result.info, nodata=math.nan)
    q2 = raster_quality(nan_info, result.grid, result.band_stats)
    assert q2.nan_in_integer and "NaN in integer data" in " ".join(q2.problems)


def test_missing_crs_and_resolution_are_reported(tmp_path):
    result = _build(tmp_path, gradient(1, 32, 32))
    grid = dataclasses.replace(result.grid, crs_code=None, crs_wkt2="", resolution=(0.0, 0.0))
    info = dataclasses.replace(result.info, crs_wkt2="")
    q = raster_quality(info, grid, result.band_stats)
    assert not q.has_crs and not q.has_resolution
    assert "no CRS" in q.problems


def _raster_item(cid: str, iid: str, code: str, res: float) -> dict:
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": iid,
        "collection": cid,
        "geometry": {"type": "Point", "coordinates": [10, 50]},
        "bbox": [10, 50, 10, 50],
        "properties": {
            "datetime": "2024-01-01T00:00:00Z",
            "proj:code": code,
            "proj:transform": [res, 0, 500000, 0, -res, 5000000],
        },
        "links": [],
        "assets": {},
    }


@pytest.fixture
def collection(pg_dsn):
    cid = f"test-quality-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn) as conn:
        pgstac.upsert_collection(
            conn,
            {
                "type": "Collection",
                "stac_version": "1.1.0",
                "id": cid,
                "description": "t",
                "license": "other",
                "links": [],
                "extent": {
                    "spatial": {"bbox": [[-180, -90, 180, 90]]},
                    "temporal": {"interval": [[None, None]]},
                },
            },
        )
        conn.commit()
    yield cid
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("SELECT pgstac.delete_collection(%s)", (cid,))
        conn.commit()


def test_collection_consistency_against_real_pgstac(pg_dsn, collection):
    with psycopg.connect(pg_dsn) as conn:
        pgstac.upsert_items(
            conn,
            [
                _raster_item(collection, "a", "EPSG:32633", 10.0),
                _raster_item(collection, "b", "EPSG:32633", 10.0),
            ],
        )
        conn.commit()
        same = collection_consistency(
            conn, collection, proj_code="EPSG:32633", resolution=(10.0, -10.0), exclude_item="c"
        )
        assert same.consistent and same.items_compared == 2
        other = collection_consistency(
            conn, collection, proj_code="EPSG:4326", resolution=(0.001, -0.001)
        )
        assert not other.consistent
        assert other.crs == {"EPSG:4326": 1, "EPSG:32633": 2}
        assert len(other.resolutions) == 2 and "EPSG:4326" in other.detail
        # Republishing item "a" itself with a new resolution: only "b" is compared.
        again = collection_consistency(
            conn, collection, proj_code="EPSG:32633", resolution=(20.0, -20.0), exclude_item="a"
        )
        assert again.items_compared == 1 and not again.consistent
        assert again.metadata()["quality/collection_resolution_count"] == 2


def _table(pg_schema: str, pg_dsn: str) -> LoadedTable:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        t = sql.Identifier(pg_schema, "parcels")
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (fid bigint, name text, area double precision, "
                "geom geometry(Point, 4326))"
            ).format(t)
        )
        rows = [
            (1, "a", 1.0, "POINT(1 1)"),
            (2, "b", None, "POINT(1 1)"),  # duplicate of 1
            (3, "  ", 3.0, "POINT(1 1)"),  # duplicate of 1, blank name
            (4, None, 4.0, "POINT(2 2)"),
            (5, "e", 5.0, "POINT(3 3)"),
            (6, "f", None, "POINT(3 3)"),  # duplicate of 5
            (7, "g", 7.0, None),
        ]
        for r in rows:
            conn.execute(
                sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, ST_GeomFromText(%s, 4326))").format(t),
                r,
            )
    cols = (
        ColumnInfo("fid", "bigint", None),
        ColumnInfo("name", "text", "Name"),
        ColumnInfo("area", "double precision", "AREA"),
        ColumnInfo("geom", "geometry(Point,4326)", "geometry"),
    )
    return LoadedTable(
        schema=pg_schema,
        table="parcels",
        layer="parcels",
        kind="points",
        rows_read=10,
        rows_loaded=7,
        dropped_null=2,
        dropped_empty=1,
        repaired=4,
        invalid_dropped=0,
        geometry_type="MultiPoint",
        srid=4326,
        bbox=None,
        source_crs="EPSG:4326",
        crs_assumed=False,
        columns=cols,
        geoparquet_path=None,
        footprint=None,
        driver="GPKG",
    )


def test_vector_quality_counts_duplicates_and_completeness(pg_schema, pg_dsn):
    table = _table(pg_schema, pg_dsn)
    with psycopg.connect(pg_dsn) as conn:
        assert duplicate_geometries(conn, pg_schema, "parcels") == (3, 2)
        assert attribute_completeness(conn, pg_schema, "parcels", []) == {}
        q = vector_quality(conn, table)
    assert q.duplicate_geometries == 3 and q.duplicate_groups == 2
    assert q.completeness == {"name": pytest.approx(5 / 7), "area": pytest.approx(5 / 7)}
    assert set(q.completeness) == {"name", "area"}  # fid and geom are not attributes
    assert (q.null_geometries, q.empty_geometries, q.repaired) == (2, 1, 4)
    meta = q.metadata()
    assert meta["quality/duplicate_geometries"] == 3
    assert meta["quality/attribute_completeness_min"] == pytest.approx(5 / 7, abs=1e-6)
    json.dumps(meta)
    assert q.incomplete_columns() == {"name": pytest.approx(5 / 7), "area": pytest.approx(5 / 7)}


def test_verdicts_and_metadata_for_the_silver_assets(tmp_path, pg_schema, pg_dsn):
    result = _build(tmp_path, gradient(1, 32, 32))
    q = raster_quality(result.info, result.grid, result.band_stats)
    checks = raster_checks(q, Consistency("c", 1, {"EPSG:32633": 2}, {"10 x 10": 1, "20 x 20": 1}))
    assert checks["raster_plausible"] == (True, checks["raster_plausible"][1])
    assert "100.0% valid pixels" in checks["raster_plausible"][1]
    assert checks["collection_consistent"][0] is False
    assert set(raster_checks(q, None)) == {"raster_plausible"}

    table = _table(pg_schema, pg_dsn)
    with psycopg.connect(pg_dsn) as conn:
        vq = vector_quality(conn, table)
    verdicts = vector_checks([vq])
    assert verdicts["no_duplicate_geometries"] == (
        False,
        f"{vq.table}: 3 duplicate geometries in 2 groups",
    )
    assert verdicts["attributes_not_empty"][0] is True  # partly empty, not empty
    assert "partly empty columns" in verdicts["attributes_not_empty"][1]
    meta = vector_metadata([vq, vq])
    assert meta["quality/duplicate_geometries"] == 6 and meta["quality/repaired"] == 8
    assert vector_metadata([]) == {}
