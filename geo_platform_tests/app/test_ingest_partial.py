"""`ingest --wait` reports a file whose bad layers were left out as *partial* (issue 17).

The files go through ``app.ingest.execute_pipeline`` (what ``ingest --wait`` runs) on the
platform's definitions, real PostGIS/pgstac, a local store in ``tmp_path`` and a test instance;
the command's JSON, text details and exit code are shaped from those results.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from geo_platform.app.ingest import FileResult, execute_pipeline, upload
from geo_platform.cli.ingest import details, exit_code
from geo_platform.definitions import build_definitions
from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.defs.pipeline import PIPELINE_STAGES
from geo_platform.lib import naming
from geo_platform.resources.blob_store import blob_store_from_settings
from geo_platform.settings import Settings
from geo_platform_tests.fixtures.vector_world import (
    add_nocrs_layer,
    add_out_of_range_layer,
    write_partial_gpkg,
)

pytestmark = pytest.mark.filterwarnings("ignore:'crs' was not provided")


@pytest.fixture
def ingested(tmp_path: Path, pg_dsn: str, settings: Settings) -> Iterator[dict[str, Any]]:
    prefix = f"ip{uuid.uuid4().hex[:6]}"
    schema = f"geo_{prefix}"
    cfg = dataclasses.replace(
        settings,
        blob_backend="local",
        blob_root=tmp_path / "blobs",
        database_url=pg_dsn,
        geo_schema=schema,
    )
    store = blob_store_from_settings(cfg)
    files = [
        (write_partial_gpkg(tmp_path / "mixed.gpkg", prefix), f"{prefix}/mixed.gpkg"),
        (add_out_of_range_layer(add_nocrs_layer(tmp_path / "bad.gpkg")), f"{prefix}/bad.gpkg"),
    ]
    results = {
        info.path: FileResult(file=str(local), blob=info.path)
        for local, info in upload(store, cfg.bronze_container, files)
    }
    keys = list(results)
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(PARTITIONS["vector"].name, keys)
        execute_pipeline(build_definitions(cfg), inst, PIPELINE_STAGES, {"vector": keys}, results)
        yield {"results": results, "keys": keys, "schema": schema}
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(
            "SELECT pgstac.delete_collection(id) FROM pgstac.collections WHERE id = %s",
            (naming.collection_id(keys[0]),),
        )


def test_ingest_says_partial_and_names_each_failed_layer(ingested: dict[str, Any]) -> None:
    mixed, bad = ingested["keys"]
    rows = {
        r["blob"]: r
        for r in json.loads(json.dumps([r.as_dict() for r in ingested["results"].values()]))
    }

    partial = rows[mixed]
    assert partial["status"] == "partial" and partial["error"] is None
    assert set(partial["failed_layers"]) == {"survey", "wells"}
    assert partial["failed_layers"]["survey"].startswith("MissingCRSError: ")
    assert partial["failed_layers"]["wells"].startswith("CoordinateRangeError: ")
    good = {naming.table_name(mixed, layer, multi_layer=True) for layer in ("towns", "parcels")}
    assert {i["id"] for i in partial["stac_items"]} == good
    assert sorted(partial["tables"]) == sorted(f"{ingested['schema']}.{t}" for t in good)

    failed = rows[bad]
    assert failed["status"] == "failed" and failed["failed_layers"] == {}
    assert "layer 'survey': MissingCRSError" in failed["error"]
    assert "layer 'wells': CoordinateRangeError" in failed["error"]

    text = details(ingested["results"][mixed])
    assert "layer 'survey' failed: MissingCRSError: " in text
    assert "layer 'wells' failed: CoordinateRangeError: " in text
    assert exit_code([ingested["results"][mixed]]) == 1  # partial: not everything published
    done = FileResult(file="x", blob="x", status="published")
    assert exit_code([done, FileResult(file="y", blob="y", status="skipped")]) == 0


def test_a_file_given_by_name_that_is_not_published_fails(tmp_path: Path) -> None:
    """`ingest dem.vrt` must not exit 0 with nothing published; the README found in a folder
    given stays skipped, and so does a sidecar given by name (published with its file)."""
    from geo_platform.app.ingest import SIDECAR, collect_files, refuse_named

    folder = tmp_path / "delivery"
    folder.mkdir()
    (folder / "README.txt").write_text("about")
    vrt, prj = tmp_path / "dem.vrt", tmp_path / "dem.prj"
    vrt.write_text("<VRTDataset/>")
    prj.write_text("PROJCS[]")
    paths = [vrt, prj, folder]
    results = [FileResult(file=str(local), blob=blob) for local, blob in collect_files(paths)]
    for r, why in zip(results, ["a GDAL VRT references other files", SIDECAR, "x"], strict=True):
        r.status, r.error = "skipped", why
    refuse_named(results, [p for p in paths if p.is_file()])
    assert [(Path(r.file).name, r.status) for r in results] == [
        ("dem.vrt", "failed"), ("dem.prj", "skipped"), ("README.txt", "skipped")
    ]  # fmt: skip
    assert results[0].error == "a GDAL VRT references other files"
    assert exit_code(results) == 1 and exit_code(results[1:]) == 0
