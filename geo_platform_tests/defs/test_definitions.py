"""The code location loads, and the asset graph has the shape the design describes."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg

from geo_platform import services
from geo_platform.definitions import defs
from geo_platform.settings import REPO_ROOT, load_settings


def test_definitions_validate_cli(tmp_path):
    env = {**os.environ, **services.dagster_env(load_settings()), "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_asset_graph():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"bronze_raster", "bronze_vector", "bronze_inventory"} <= keys
    for key in ("bronze_raster", "bronze_vector"):
        node = graph.get(dg.AssetKey(key))
        assert isinstance(node.partitions_def, dg.DynamicPartitionsDefinition)
        assert node.group_name == "bronze"
    assert defs.resolve_sensor_def("bronze_sensor") is not None
    for job in ("bronze_raster_job", "bronze_vector_job"):
        assert defs.resolve_job_def(job) is not None


def test_executor_is_a_deployment_choice():
    import dataclasses

    import pytest

    from geo_platform.definitions import build_definitions
    from geo_platform.lib.errors import ConfigError
    from geo_platform.settings import load_settings

    base = load_settings()
    k8s = build_definitions(dataclasses.replace(base, executor="k8s"))
    assert k8s.resolve_job_def("raster_pipeline_job").executor_def.name == "k8s"
    local = build_definitions(dataclasses.replace(base, executor="multiprocess"))
    assert local.resolve_job_def("raster_pipeline_job").executor_def.name == "multiprocess"
    with pytest.raises(ConfigError, match="GEO_PLATFORM_EXECUTOR"):
        build_definitions(dataclasses.replace(base, executor="celery-ish"))
