"""H3 grid assets: PostGIS tables with passing checks and STAC items in system-h3-grids."""

from __future__ import annotations

import dagster as dg
import h3
import psycopg
import pytest
from psycopg import sql

from geo_platform.defs.grids.assets import h3_bbox_grid, h3_grid, h3_resolution_partitions
from geo_platform.lib.stac.h3_item import GRID_COLLECTION
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.resources.databases import PgSTACResource, PlatformResource, PostGISResource
from geo_platform.store import pgstac


@pytest.fixture
def resources(pg_dsn: str):
    """Resources, and the grid collection restored afterwards (tests publish into it)."""
    with psycopg.connect(pg_dsn) as conn:
        before_collection = pgstac.get_collection(conn, GRID_COLLECTION)
        pgstac.prepare(conn)
        # Whole items (pgstac stores them dehydrated: no id, collection or geometry in content).
        before = [
            (pgstac.get_item(conn, GRID_COLLECTION, iid),)
            for iid in pgstac.item_ids(conn, GRID_COLLECTION)
        ]
    yield {
        "postgis": PostGISResource(database_url=pg_dsn),
        "pgstac": PgSTACResource(database_url=pg_dsn),
        "platform": PlatformResource(),
    }
    with psycopg.connect(pg_dsn) as conn:
        pgstac.prepare(conn)
        for iid in pgstac.item_ids(conn, GRID_COLLECTION):
            pgstac.delete_item(conn, GRID_COLLECTION, iid)
        if before_collection is None and pgstac.get_collection(conn, GRID_COLLECTION):
            conn.execute("SELECT delete_collection(%s)", (GRID_COLLECTION,))
        else:
            pgstac.upsert_items(conn, [row[0] for row in before])
        conn.commit()


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_partitions_are_resolutions_0_to_4() -> None:
    assert h3_resolution_partitions.get_partition_keys() == ["0", "1", "2", "3", "4"]


def test_grid_partition_loads_table_checks_and_stac(resources, pg_dsn: str, pg_schema: str):
    config = {"ops": {"h3_grid": {"config": {"grid_schema": pg_schema}}}}
    with dg.instance_for_test() as inst:
        for _ in range(2):  # re-materializing replaces the table and the item (idempotent)
            result = dg.materialize(
                [h3_grid], partition_key="2", instance=inst, resources=resources, run_config=config
            )
            assert result.success
    assert _checks(result) == {"cell_count_matches_h3": True, "cell_geometries_valid": True}
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["dagster/row_count"].value == h3.get_num_cells(2) == 5882
    assert meta["dagster/table_name"].value == f"{pg_schema}.cells_res2"
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            sql.SQL(
                "SELECT count(*), count(*) FILTER (WHERE NOT ST_IsValid(geom)) FROM {}.{}"
            ).format(sql.Identifier(pg_schema), sql.Identifier("cells_res2"))
        ).fetchone()
        assert rows == (5882, 0)
        item = pgstac.get_item(conn, GRID_COLLECTION, "cells-res2")
        collection = pgstac.get_collection(conn, GRID_COLLECTION)
    assert item is not None and collection is not None
    assert item["properties"]["table:row_count"] == 5882
    assert item["properties"]["geo_platform:source_blob"] == "h3:res2"
    assert f"table={pg_schema}.cells_res2" in item["assets"]["table"]["href"]
    assert "@" not in item["assets"]["table"]["href"]  # no credentials
    validate_stac(item)
    validate_stac(collection)


def test_bbox_grid_asset(resources, pg_dsn: str, pg_schema: str) -> None:
    config = {"grid_schema": pg_schema, "bbox": [179.5, -17.0, -179.5, -16.0], "resolution": 6}
    with dg.instance_for_test() as inst:
        result = dg.materialize(
            [h3_bbox_grid],
            instance=inst,
            resources=resources,
            run_config={"ops": {"h3_bbox_grid": {"config": config}}},
        )
    assert result.success and all(_checks(result).values())
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    table = meta["dagster/table_name"].value.split(".")[1]
    assert table.startswith("cells_res6_bbox_") and meta["split_at_antimeridian"].value > 0
    with psycopg.connect(pg_dsn) as conn:
        item = pgstac.get_item(conn, GRID_COLLECTION, table.replace("_", "-"))
    assert item is not None and item["geometry"]["type"] == "MultiPolygon"
    assert item["bbox"][0] > 0 > item["bbox"][2]  # crosses the antimeridian, as STAC wants


def test_too_large_bbox_fails_without_retry(resources, pg_schema: str) -> None:
    config = {"grid_schema": pg_schema, "bbox": [-10, -10, 10, 10], "resolution": 12}
    with dg.instance_for_test() as inst:
        result = dg.materialize(
            [h3_bbox_grid],
            instance=inst,
            resources=resources,
            run_config={"ops": {"h3_bbox_grid": {"config": config}}},
            raise_on_error=False,
        )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert "TooLargeError" in failure.description
