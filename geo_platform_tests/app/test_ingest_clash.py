"""`ingest --wait` (``app.ingest.execute_pipeline`` on the platform's definitions, real PostGIS
and pgstac, a test instance) with duplicate content: a copy of a file published elsewhere is
*published* with ``duplicate_of`` naming the original, and a copy whose pointer item would take
the name of another file's table in the same batch is refused alone (the catalog stage's batch
still publishes the other file)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import geopandas as gpd
import psycopg
import pytest
from psycopg import sql
from shapely.geometry import Point

from geo_platform.app.ingest import FileResult, execute_pipeline, upload
from geo_platform.cli.ingest import details
from geo_platform.definitions import build_definitions
from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.defs.pipeline import PIPELINE_STAGES
from geo_platform.lib import naming
from geo_platform.resources.blob_store import blob_store_from_settings
from geo_platform.settings import Settings


def _points(path: Path, n: int) -> Path:
    gpd.GeoDataFrame({"k": list(range(n))}, geometry=[Point(i, i) for i in range(n)],
                     crs="EPSG:4326").to_file(path)  # fmt: skip
    return path


@pytest.fixture
def world(tmp_path: Path, pg_dsn: str, settings: Settings) -> Iterator[dict[str, Any]]:
    prefix = f"ic{uuid.uuid4().hex[:6]}"
    cfg = dataclasses.replace(settings, blob_backend="local", blob_root=tmp_path / "blobs",
                              database_url=pg_dsn, geo_schema=f"geo_{prefix}",
                              duplicates="link")  # fmt: skip
    defs = build_definitions(cfg)
    store = blob_store_from_settings(cfg)

    def ingest(inst: dg.DagsterInstance, files: list[tuple[Path, str]]) -> dict[str, FileResult]:
        named = [(local, f"{prefix}/{blob}") for local, blob in files]
        results = {info.path: FileResult(file=str(local), blob=info.path)
                   for local, info in upload(store, cfg.bronze_container, named)}  # fmt: skip
        inst.add_dynamic_partitions(PARTITIONS["vector"].name, list(results))
        execute_pipeline(defs, inst, PIPELINE_STAGES, {"vector": list(results)}, results)
        return {blob.removeprefix(f"{prefix}/"): r for blob, r in results.items()}

    with dg.instance_for_test() as inst:
        yield {"ingest": lambda files: ingest(inst, files), "prefix": prefix, "cfg": cfg}
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
            sql.Identifier(cfg.geo_schema)))  # fmt: skip
        conn.execute(
            "SELECT pgstac.delete_collection(id) FROM pgstac.collections WHERE id LIKE %s",
            (f"{prefix}%",),
        )


@pytest.mark.slow
def test_a_copy_is_reported_as_such_and_never_takes_another_files_name(world, tmp_path):
    ingest = world["ingest"]
    original = _points(tmp_path / "roads.geojson", 4)
    assert ingest([(original, "elsewhere/roads.geojson")])["elsewhere/roads.geojson"].status == (
        "published"
    )

    out = ingest([
        (original, "copy/roads.geojson"),  # the same content in another folder: a pointer
        (original, "here/roads.geojson"),  # and beside a file with data under the same name
        (_points(tmp_path / "roads.gpkg", 6), "here/roads.gpkg"),
    ])  # fmt: skip

    copy = out["copy/roads.geojson"]
    original_blob = f"{world['prefix']}/elsewhere/roads.geojson"
    assert copy.status == "published" and copy.duplicate_of == original_blob
    assert copy.tables == [] and [i["id"] for i in copy.stac_items] == [
        naming.table_name(f"{world['prefix']}/copy/roads.geojson")
    ]
    assert f"(duplicate of {original_blob}: its items point at that file's outputs)" in details(
        copy
    )
    rebuilt = dataclasses.replace(copy, tables=["geo.copy_roads"])  # duplicates=publish
    assert details(rebuilt).endswith(f"(same content as {original_blob})")

    clash, real = out["here/roads.geojson"], out["here/roads.gpkg"]
    assert real.status == "published" and real.duplicate_of is None
    table = naming.table_name(f"{world['prefix']}/here/roads.gpkg")
    assert real.tables == [f"{world['cfg'].geo_schema}.{table}"]
    assert clash.status == "failed" and "NameClashError" in (clash.error or "")
    assert "here/roads.gpkg" in (clash.error or "")
    with psycopg.connect(world["cfg"].database_url) as conn:
        owner = conn.execute(
            "SELECT content->'properties'->>'geo_platform:source_blob' FROM pgstac.items "
            "WHERE collection = %s AND id = %s",
            (naming.collection_id(f"{world['prefix']}/here/roads.gpkg"), table),
        ).fetchall()
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(world["cfg"].geo_schema), sql.Identifier(table))).fetchone()  # fmt: skip
    assert owner == [(f"{world['prefix']}/here/roads.gpkg",)] and rows == (6,)
