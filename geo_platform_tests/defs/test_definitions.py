"""The code location loads, and the asset graph has the shape the design describes."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg

from geo_platform.app.instance import dagster_env
from geo_platform.definitions import defs
from geo_platform.settings import REPO_ROOT, load_settings


def test_definitions_validate_cli(tmp_path):
    env = {**os.environ, **dagster_env(load_settings()), "DAGSTER_HOME": str(tmp_path)}
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


def _names(d: dg.Definitions) -> dict[str, set[str]]:
    return {
        "assets": {k.to_user_string() for a in d.assets or [] for k in a.keys},
        "jobs": {j.name for j in d.jobs or []},
        "sensors": {s.name for s in d.sensors or []},
        "schedules": {s.name for s in d.schedules or []},
    }


def test_each_domain_contributes_its_own_definitions():
    """definitions.py lists no job, sensor or schedule: each comes from exactly one domain's
    Definitions, and together they are the code location's."""
    from geo_platform.definitions import DOMAINS
    from geo_platform.defs import bronze, pipeline, promotion

    settings = load_settings()
    parts = [bronze.build_defs(settings), *(d.defs for d in DOMAINS)]
    parts += [promotion.build_defs(settings), pipeline.defs]
    seen: dict[str, set[str]] = {k: set() for k in ("assets", "jobs", "sensors", "schedules")}
    for part in parts:
        for kind, names in _names(part).items():
            assert not names & seen[kind], f"{kind} {names & seen[kind]} in two domains"
            seen[kind] |= names
    assert seen == _names(defs)
    graph = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert seen["assets"] == graph
    assert {"quality_job", "janitor", "promote_job", "raster_collection_job"} <= seen["jobs"]
    assert {"silver_automation", "raster_collection_sensor"} <= seen["sensors"]
    assert seen["schedules"] == {"janitor_daily", "quality_schedule"}
    assert set(defs.resources or {}) == {
        "blob_store", "postgis", "pgstac", "platform", "lifecycle", "promotion", "event_queue"
    }  # fmt: skip


def test_resources_carry_the_settings_the_assets_need(tmp_path):
    """Values reach assets through resources built from Settings in one place."""
    import dataclasses

    from geo_platform.resources import build_resources

    settings = dataclasses.replace(
        load_settings(),
        state_dir=tmp_path / "state",
        raster_collections="scenes/, tiles/",
        tiling_threshold_pixels=1234,
        tiling_tile_size=256,
        tiling_work_dir=str(tmp_path / "work"),
        janitor_apply=True,
        stac_port=9181,
    )
    res = build_resources(settings)
    platform = res["platform"]
    assert platform.raster_collections == "scenes/, tiles/"
    assert (platform.tiling_threshold_pixels, platform.tiling_tile_size) == (1234, 256)
    assert platform.tiling_work_dir == str(tmp_path / "work")
    assert platform.analytics_dir == str(tmp_path / "state" / "analytics")
    assert platform.stac_port == 9181
    assert res["lifecycle"].janitor_apply is True
    assert res["promotion"].production_container == settings.production_container


# Dagster code still reading settings itself, being moved onto PlatformResource by its owners.
_PENDING_SETTINGS_READERS = {"catalog/assets.py"}


def test_defs_never_read_settings_themselves():
    """Nothing under geo_platform/defs imports load_settings or reads os.environ."""
    import ast

    root = REPO_ROOT / "geo_platform" / "defs"
    readers = set()
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            imported = isinstance(node, ast.ImportFrom) and any(
                a.name == "load_settings" for a in node.names
            )
            environ = isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}
            if imported or environ:
                readers.add(path.relative_to(root).as_posix())
    assert readers <= _PENDING_SETTINGS_READERS, sorted(readers - _PENDING_SETTINGS_READERS)


def test_dg_cli_checks_and_lists_the_code_location(tmp_path):
    """`dg check defs` and `dg list defs` work on the project ([tool.dg] in pyproject.toml)
    and see exactly the Definitions the classic `dagster` CLI loads."""
    import json
    from pathlib import Path

    dg_cli = Path(sys.executable).parent / "dg"
    env = {**os.environ, **dagster_env(load_settings()), "DAGSTER_HOME": str(tmp_path)}
    env["VIRTUAL_ENV"] = str(Path(sys.executable).parent.parent)
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(dg_cli), *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
            env=env,
        )  # fmt: skip

    check = run("check", "defs")
    assert check.returncode == 0, check.stdout + check.stderr
    listed = run("list", "defs", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    found = json.loads(listed.stdout)
    expected = _names(defs)
    assert {a["asset_key"] for a in found["assets"]} == expected["assets"]
    assert {j["name"] for j in found["jobs"]} == expected["jobs"]
    assert {s["name"] for s in found["sensors"]} == expected["sensors"]
    assert {s["name"] for s in found["schedules"]} == expected["schedules"]
