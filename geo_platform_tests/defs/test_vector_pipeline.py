"""Bronze vectors through the silver table stage and into pgstac, on real services."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import dagster as dg
import psycopg
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from geo_platform.definitions import defs
from geo_platform.defs.bronze.partitions import bronze_vector_partitions
from geo_platform.lib import naming
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource, PostGISResource
from geo_platform.store.catalog import items_of_source
from geo_platform_tests.fixtures.helpers import TESTDATA

FILES = {
    "ynp.gpkg": "vectors/gpkg_multilayer/ynp_features.gpkg",
    "trio.geojson": "vectors/misc/trio.geojson",
    "kinked.geojson": "vectors/geojson_invalid/switzerlandKinked.geojson",
    "legacy/counties.zip": "vectors/shp_zip_no_prj/counties.zip",
    "nocrs/counties.zip": "vectors/shp_zip_no_prj/counties.zip",
}
STAGES = ["bronze_vector_job", "vector_table_job", "vector_catalog_job"]


@pytest.fixture
def env(tmp_path: Path, pg_dsn: str):
    prefix = f"v{uuid.uuid4().hex[:6]}"
    schema = f"geo_{prefix}"
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store.ensure_container("bronze")
    for name, rel in FILES.items():
        store.upload_file("bronze", f"{prefix}/{name}", TESTDATA / rel)
    rules = json.dumps({f"{prefix}/legacy/": {"assume_crs": "EPSG:4326"}})
    resources = {
        "blob_store": store,
        "postgis": PostGISResource(database_url=pg_dsn, geo_schema=schema),
        "pgstac": PgSTACResource(database_url=pg_dsn),
        "platform": PlatformResource(geo_schema=schema, vector_rules=rules),
    }
    keys = [f"{prefix}/{n}" for n in FILES]
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(bronze_vector_partitions.name, keys)
        yield inst, store, resources, prefix, schema, keys
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        for cid in {naming.collection_id(k) for k in keys}:
            conn.execute(
                "SELECT pgstac.delete_collection(id) FROM pgstac.collections WHERE id = %s", (cid,)
            )


def _stats(conn, schema, table):
    q = sql.SQL(
        "SELECT count(*), count(*) FILTER (WHERE NOT ST_IsValid(geom)), "
        "array_agg(DISTINCT ST_SRID(geom)), array_agg(DISTINCT GeometryType(geom)) "
        "FROM {}.{}"
    ).format(sql.Identifier(schema), sql.Identifier(table))
    return conn.execute(q).fetchone()


def test_vectors_publish_tables_parquet_and_items(env, pg_dsn):
    inst, store, resources, prefix, schema, keys = env
    tags = {"dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1]}  # fmt: skip
    results = [
        defs.resolve_job_def(job).execute_in_process(
            instance=inst, tags=tags, resources=resources, raise_on_error=False
        )
        for job in STAGES
    ]
    silver = results[1]
    failed = silver.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert set(failed.metadata["failed_files"].value) == {f"{prefix}/nocrs/counties.zip"}
    assert (
        "MissingCRSError" in failed.metadata["failed_files"].value[f"{prefix}/nocrs/counties.zip"]
    )
    expected = {
        naming.table_name(f"{prefix}/ynp.gpkg", "roads", True): (2021, "MULTILINESTRING"),
        naming.table_name(f"{prefix}/ynp.gpkg", "points_of_interest", True): (1399, "MULTIPOINT"),
        naming.table_name(f"{prefix}/ynp.gpkg", "ynp_bnd", True): (1, "MULTIPOLYGON"),
        naming.table_name(f"{prefix}/kinked.geojson"): (1, "MULTIPOLYGON"),
        naming.table_name(f"{prefix}/legacy/counties.zip"): (14, "MULTIPOLYGON"),
    }
    with psycopg.connect(pg_dsn) as conn:
        for table, (rows, gtype) in expected.items():
            count, invalid, srids, types = _stats(conn, schema, table)
            assert (count, invalid, srids, types) == (rows, 0, [4326], [gtype]), table
        trio = [t for (t,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND table_name LIKE %s", (schema, "%trio%")).fetchall()]  # fmt: skip
        assert len(trio) == 3  # a layer mixing points, lines and polygons is split by dimension
        for blob in (f"{prefix}/ynp.gpkg", f"{prefix}/legacy/counties.zip"):
            assert items_of_source(conn, blob)
        assert items_of_source(conn, f"{prefix}/nocrs/counties.zip") == []
    roads = naming.table_name(f"{prefix}/ynp.gpkg", "roads", True)
    parquet = (
        Path(store.root)
        / "silver"
        / naming.silver_prefix(f"{prefix}/ynp.gpkg")
        / f"{roads}.parquet"
    )
    meta = pq.read_metadata(parquet)
    assert meta.num_rows == 2021
    geo = json.loads(meta.metadata[b"geo"])
    assert geo["version"].startswith("1.1")
    mats = {
        e.materialization.partition: e.materialization.metadata
        for e in silver.get_asset_materialization_events()
    }
    kinked = mats[f"{prefix}/kinked.geojson"]
    assert kinked["repaired"].value == 1
    assert "dagster/column_schema" in kinked
