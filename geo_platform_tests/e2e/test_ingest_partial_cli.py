"""`geo-platform ingest --wait --json` on a GeoPackage with good and bad layers (issue 17): the
file is *partial*, each failed layer is named with its error, and the exit code is 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from geo_platform.lib import naming
from geo_platform.settings import REPO_ROOT
from geo_platform_tests.fixtures.vector_world import write_partial_gpkg

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:'crs' was not provided")]


def test_cli_ingest_json_reports_partial(pg_instance_env, local_blob_root, tmp_path):
    local = write_partial_gpkg(tmp_path / "mixed.gpkg", tmp_path.name)
    env = {**os.environ, **pg_instance_env, "GEO_PLATFORM_BLOB_ROOT": str(local_blob_root)}
    proc = subprocess.run(
        [sys.executable, "-m", "geo_platform.cli.main", "ingest", str(local),
         "--prefix", "partial", "--wait", "--json"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # partial: not everything given was published
    (row,) = json.loads(proc.stdout)
    assert row["blob"] == "partial/mixed.gpkg"
    assert row["status"] == "partial" and row["error"] is None
    assert set(row["failed_layers"]) == {"survey", "wells"}
    assert row["failed_layers"]["survey"].startswith("MissingCRSError: ")
    assert row["failed_layers"]["wells"].startswith("CoordinateRangeError: ")
    good = {naming.table_name(row["blob"], n, multi_layer=True) for n in ("towns", "parcels")}
    assert {i["id"] for i in row["stac_items"]} == good


def test_cli_ingest_of_an_empty_folder_says_so(local_blob_root, tmp_path):
    empty = tmp_path / "drop"
    empty.mkdir()
    env = {**os.environ, "GEO_PLATFORM_BLOB_ROOT": str(local_blob_root)}
    proc = subprocess.run(
        [sys.executable, "-m", "geo_platform.cli.main", "ingest", str(empty), "--prefix", "x"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stdout == ""
    assert f"No files to ingest in {empty}." in proc.stderr
