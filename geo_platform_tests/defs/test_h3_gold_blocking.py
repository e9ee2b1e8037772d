"""The H3 aggregate's checks block publication: totals that do not match are never published.

Natural Earth's countries, as silver GeoParquet, go through ``h3_aggregate`` on the real
services (PostGIS, blob store). A good run publishes the gold table with the source's area.
Then the polygon cover is made to lose the polar cells (what the aggregation did before issue
17: Antarctica lost 46%); that run fails its blocking check, and neither the gold table nor the
GeoParquet is written: the good aggregate stays, and a resolution never published stays
unpublished.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import geopandas as gpd
import numpy as np
import psycopg
import pytest
import shapely
from h3.api import basic_int as h3i
from psycopg import sql

from geo_platform.defs.analytics.assets import TOTALS_CHECK, h3_aggregate
from geo_platform.defs.bronze.partitions import bronze_vector_partitions
from geo_platform.lib import naming
from geo_platform.lib.h3 import cover
from geo_platform.lib.h3.contrib import SPHERE
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.resources.databases import PlatformResource, PostGISResource
from geo_platform_tests.fixtures.helpers import TESTDATA

BLOB = "world/countries.zip"
TABLE = "countries"
NATURAL_EARTH = TESTDATA / "vectors" / "shp_zip_with_prj" / "naturalearth_lowres.zip"


@pytest.fixture
def env(tmp_path: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GEO_PLATFORM_STATE_DIR", str(tmp_path / "state"))
    suffix = uuid.uuid4().hex[:6]
    geo, gold = f"geo_{suffix}", f"gold_{suffix}"
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store.ensure_container("silver")
    silver = tmp_path / "countries.parquet"  # what the vector stage publishes: lon/lat GeoParquet
    gpd.read_file(NATURAL_EARTH).to_parquet(silver, schema_version="1.1.0")
    store.upload_file("silver", f"{naming.silver_prefix(BLOB)}/{TABLE}.parquet", silver)
    resources = {
        "blob_store": store,
        "postgis": PostGISResource(database_url=pg_dsn, geo_schema=geo),
        "platform": PlatformResource(
            geo_schema=geo, analytics_dir=str(tmp_path / "state" / "analytics")
        ),
    }
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(bronze_vector_partitions.name, [BLOB])
        yield inst, store, resources, gold
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for schema in (geo, gold):
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _run(inst, resources, gold: str, res: int) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [h3_aggregate],
        partition_key=BLOB,
        instance=inst,
        resources=resources,
        run_config={"ops": {"h3_aggregate": {"config": {"resolution": res, "gold_schema": gold}}}},
        raise_on_error=False,
    )


def _gold(pg_dsn: str, schema: str, table: str) -> tuple[int, float] | None:
    """(rows, sum of area_m2) of a gold table, or None when it does not exist."""
    with psycopg.connect(pg_dsn) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", [f'"{schema}"."{table}"']).fetchone()
        if exists is None or exists[0] is None:
            return None
        row = conn.execute(
            sql.SQL("SELECT count(*), sum(area_m2) FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
        ).fetchone()
    assert row is not None
    return int(row[0]), float(row[1])


def _totals_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == TOTALS_CHECK]
    return check


def _lose_polar_cells(real):
    """The cover, minus every cell whose center lies south of 60S (a wrong aggregation)."""

    def lossy(poly, resolution):
        found = real(poly, resolution)
        keep = np.array([h3i.cell_to_latlng(c)[0] > -60 for c in found.cells.tolist()], bool)
        return cover.Cover(found.cells[keep], found.share[keep], found.inner, found.boundary)

    return lossy


def test_a_total_mismatch_blocks_the_gold_table(env, pg_dsn: str, monkeypatch) -> None:
    inst, store, resources, gold = env
    good = _run(inst, resources, gold, 2)
    assert good.success
    assert _totals_check(good).passed
    prefix, table = naming.silver_prefix(BLOB), TABLE
    source = sum(
        abs(SPHERE.geometry_area_perimeter(shapely.segmentize(g, 0.05))[0])
        for g in shapely.get_parts(gpd.read_file(NATURAL_EARTH).geometry.values)
    )
    published = _gold(pg_dsn, gold, f"{table}_h3_res2")
    assert published is not None and published[1] == pytest.approx(source, rel=1e-4)
    h3_file = f"{prefix}/h3/{table}_res2.parquet"
    before = store.href("silver", h3_file)
    before_bytes = Path(before).read_bytes()

    monkeypatch.setattr(cover, "polygon_cover", _lose_polar_cells(cover.polygon_cover))
    bad = _run(inst, resources, gold, 2)
    assert not bad.success
    check = _totals_check(bad)
    assert not check.passed and check.blocking
    assert BLOB in check.metadata["failed"].value
    failure = bad.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert "not published" in failure.description and BLOB in failure.description
    assert not [e for e in bad.get_asset_materialization_events()]  # the partition failed
    # The good aggregate is still what is published: table and GeoParquet untouched.
    assert _gold(pg_dsn, gold, f"{table}_h3_res2") == published
    assert Path(store.href("silver", h3_file)).read_bytes() == before_bytes

    # A resolution never published before stays unpublished.
    bad = _run(inst, resources, gold, 1)
    assert not bad.success and not _totals_check(bad).passed
    assert _gold(pg_dsn, gold, f"{table}_h3_res1") is None
    assert not store.exists("silver", f"{prefix}/h3/{table}_res1.parquet")
