"""Per-layer outcomes in the vector pipeline (issue 17), on real Dagster, PostGIS and pgstac.

A GeoPackage with two good layers and two bad ones (no CRS; latitude 200) is materialized at
every stage: its good layers reach pgstac, its ``vector_table`` metadata names the failed layers
and the ``all_layers_published`` check fails with severity WARN. A GeoPackage whose every layer
is bad fails at ``vector_table`` with every layer's error.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from geo_platform.definitions import defs
from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.lib import naming
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource, PostGISResource
from geo_platform.store.catalog import items_of_source
from geo_platform_tests.fixtures.vector_world import (
    add_nocrs_layer,
    add_out_of_range_layer,
    write_partial_gpkg,
)

pytestmark = pytest.mark.filterwarnings("ignore:'crs' was not provided")
STAGES = ["bronze_vector", "vector_table", "vector_stac_item"]


@pytest.fixture
def env(tmp_path: Path, pg_dsn: str) -> Iterator[dict[str, Any]]:
    prefix = f"lo{uuid.uuid4().hex[:6]}"
    schema = f"geo_{prefix}"
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store.ensure_container("bronze")
    files = {
        "a_mixed.gpkg": write_partial_gpkg(tmp_path / "mixed.gpkg", prefix),
        "b_allbad.gpkg": add_out_of_range_layer(add_nocrs_layer(tmp_path / "allbad.gpkg")),
    }
    keys = []
    for name, local in files.items():
        store.upload_file("bronze", f"{prefix}/{name}", local)
        keys.append(f"{prefix}/{name}")
    resources = {
        "blob_store": store,
        "postgis": PostGISResource(database_url=pg_dsn, geo_schema=schema),
        "pgstac": PgSTACResource(database_url=pg_dsn),
        "platform": PlatformResource(geo_schema=schema),
    }
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(PARTITIONS["vector"].name, keys)
        yield {"inst": inst, "keys": keys, "resources": resources, "prefix": prefix}
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(
            "SELECT pgstac.delete_collection(id) FROM pgstac.collections WHERE id = %s",
            (naming.collection_id(keys[0]),),
        )


def test_a_partial_file_is_materialized_with_its_failed_layers_named(env, pg_dsn):
    inst, keys = env["inst"], env["keys"]
    mixed, allbad = keys
    run = defs.resolve_job_def("vector_pipeline_job").execute_in_process(
        instance=inst,
        tags={"dagster/asset_partition_range_start": keys[0],
              "dagster/asset_partition_range_end": keys[-1]},
        resources=env["resources"],
        raise_on_error=False,
    )  # fmt: skip

    assert not run.success  # the all-bad file fails; the partial one does not
    status = inst.get_status_by_partition(
        dg.AssetKey("vector_stac_item"), keys, PARTITIONS["vector"]
    )
    assert {k: v.value for k, v in status.items()} == {mixed: "MATERIALIZED", allbad: "FAILED"}
    good = {naming.table_name(mixed, layer, multi_layer=True) for layer in ("towns", "parcels")}
    with psycopg.connect(pg_dsn) as conn:
        assert {item_id for _, item_id in items_of_source(conn, mixed)} == good
        assert items_of_source(conn, allbad) == []

    table_mats = {
        e.materialization.partition: e.materialization.metadata
        for e in run.get_asset_materialization_events()
        if e.materialization.asset_key == dg.AssetKey("vector_table")
    }
    assert set(table_mats) == {mixed}
    failed_layers = table_mats[mixed]["failed_layers"].value
    assert set(failed_layers) == {"survey", "wells"}
    assert failed_layers["survey"].startswith("MissingCRSError: ")
    assert failed_layers["wells"].startswith("CoordinateRangeError: ")

    (check,) = [
        e.event_specific_data
        for e in run.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == "all_layers_published"
    ]
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    why = check.metadata["failed"].value[mixed]
    assert "layer 'survey': MissingCRSError" in why and "layer 'wells': CoordinateRangeError" in why

    failure = run.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert failure.metadata["failed_stages"].value == {allbad: "vector_table"}
    error = failure.metadata["failed_files"].value[allbad]
    assert "every layer failed" in error
    assert "layer 'survey': MissingCRSError" in error
    assert "layer 'wells': CoordinateRangeError" in error
