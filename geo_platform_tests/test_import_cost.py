"""What loading the code location and the CLI imports (issue 18: start-up cost).

Every run, step worker, sensor tick and `geo-platform ingest --wait` imports
``geo_platform.definitions``; every `geo-platform` command imports ``geo_platform.cli.main``. The
heavy libraries behind the work (GDAL bindings, DuckDB, h3, Arrow, the Azure SDK...) are
imported by the functions that use them, so neither import may load them. Checked in a fresh
interpreter, by module name rather than by time, so the test fails for a real regression and
never for a slow machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = (
    "aiohttp",
    "azure.core",
    "azure.storage.blob",
    "azure.storage.queue",
    "cogeo_mosaic",
    "duckdb",
    "geopandas",
    "h3",
    "jsonschema",
    "pyarrow",
    "pyogrio",
    "pyproj",
    "rasterio",
    "requests",
    "rio_cogeo",
    "rio_tiler",
    "shapely",
)
"""Libraries of the platform's work that loading the definitions must not import."""
CLI_ALSO = ("dagster", "psycopg", "pydantic")
"""Not even these for the CLI: a command imports what it runs (``--help`` imports nothing)."""


def loaded_after(module: str, watched: tuple[str, ...]) -> list[str]:
    """The ``watched`` modules that ``import module`` loads, in a fresh interpreter (local blob
    backend: a configured Azure backend rightly imports the Azure SDK)."""
    code = (
        f"import json, sys; import {module}; "
        f"print(json.dumps([m for m in {list(watched)!r} if m in sys.modules]))"
    )
    env = {**os.environ, "GEO_PLATFORM_BLOB_BACKEND": "local"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_loading_the_definitions_imports_no_heavy_library() -> None:
    assert loaded_after("geo_platform.definitions", HEAVY) == []


@pytest.mark.parametrize("module", ["geo_platform.cli.main", "geo_platform.app.instance"])
def test_the_cli_and_the_instance_import_no_heavy_library(module: str) -> None:
    watched = HEAVY + CLI_ALSO if module.endswith("cli.main") else HEAVY
    assert loaded_after(module, watched) == []


def test_the_checker_sees_an_import() -> None:
    """The check can fail: a module that does import one of them is reported."""
    assert loaded_after("geo_platform.lib.h3.grid", HEAVY) == ["h3", "pyarrow", "shapely"]


@pytest.mark.parametrize(
    "module", ["geo_platform.workflows.publish_vector", "geo_platform.workflows.catalog"]
)
def test_a_vector_file_loads_no_mosaic_or_azure_library(module: str) -> None:
    """The vector stage and the catalog stage of a vector file, on the local store: no
    cogeo-mosaic (which loads every backend), no Azure SDK, no aiohttp, no rasterio stack
    for the vector checks."""
    watched = ("cogeo_mosaic", "azure.storage.blob", "aiohttp", "rio_tiler", "duckdb", "h3")
    assert loaded_after(module, watched) == []
