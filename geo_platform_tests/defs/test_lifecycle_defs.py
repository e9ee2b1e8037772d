"""The lifecycle definitions load next to the platform's, with safe defaults."""

from __future__ import annotations

import dataclasses

import dagster as dg
import pytest

from geo_platform.definitions import build_definitions
from geo_platform.defs import lifecycle
from geo_platform.lib.errors import ConfigError
from geo_platform.resources.lifecycle import LifecycleResource, lifecycle_resource_from_settings
from geo_platform.settings import Settings


def _defs(settings: Settings) -> dg.Definitions:
    """The platform's own Definitions: lifecycle jobs, schedules and sensors are registered."""
    return build_definitions(settings)


def test_definitions_load_and_defaults_are_safe(settings: Settings) -> None:
    defs = _defs(settings)
    dg.Definitions.validate_loadable(defs)
    for name in ("unpublish_raster", "unpublish_vector", "janitor"):
        assert defs.resolve_job_def(name).name == name
    sensors = {s.name for s in lifecycle.LIFECYCLE_SENSORS}
    assert sensors == {"bronze_removal_unpublish_sensor", "run_failure_notification_sensor",
                       "run_success_notification_sensor"}  # fmt: skip
    # The daily janitor only reports unless told to apply.
    schedule = defs.resolve_schedule_def("janitor_daily")
    for apply, dry in ((False, True), (True, False)):
        res = LifecycleResource(janitor_apply=apply)
        with dg.build_schedule_context(resources={"lifecycle": res}) as ctx:
            [request] = schedule.evaluate_tick(ctx).run_requests or []
        assert request.run_config["ops"]["janitor_sweep"]["config"]["dry_run"] is dry
    # Unpublish and janitor config default to a dry run: the run config leaves dry_run out,
    # and the registered jobs' config schemas resolve it to True.
    cfg = lifecycle.unpublish_run_config("raster", item_ids=["a"], collection="c")
    assert "dry_run" not in cfg["ops"]["unpublish_raster_items"]["config"]
    resolved = dg.validate_run_config(defs.resolve_job_def("unpublish_raster"), cfg)
    op_config = resolved["ops"]["unpublish_raster_items"]["config"]
    assert op_config["dry_run"] is True and op_config["item_ids"] == ["a"]
    assert op_config["delete_blobs"] is True and op_config["drop_table"] is True
    janitor = dg.validate_run_config(defs.resolve_job_def("janitor"), {})
    assert janitor["ops"]["janitor_sweep"]["config"]["dry_run"] is True


def test_lifecycle_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    res = lifecycle_resource_from_settings(settings)
    assert res.unpublish_on_removal == "off" and not res.janitor_apply
    assert res.ui_base_url.endswith(f":{settings.dagster_ui_port}")
    with pytest.raises(ConfigError):
        lifecycle_resource_from_settings(
            dataclasses.replace(settings, unpublish_on_removal="always")
        )
    # A webhook URL from the environment is passed as an EnvVar (hidden in the UI).
    monkeypatch.setenv("GEO_PLATFORM_WEBHOOK_URL", "http://127.0.0.1:9/hook/token")
    from geo_platform.settings import load_settings

    fresh = load_settings()
    assert fresh.webhook_url == "http://127.0.0.1:9/hook/token"
    assert "token" not in repr(fresh)
    res = lifecycle_resource_from_settings(fresh)
    assert isinstance(res.webhook_url, dg.EnvVar)  # the UI shows the name, not the URL
    with dg.build_resources({"lifecycle": res}) as built:  # resolved when used
        assert built.lifecycle.webhook_url == "http://127.0.0.1:9/hook/token"


def test_instance_retries_crashed_runs_and_fails_stuck_ones(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dagster.yaml: crashed runs are re-launched (op failures are left to op retry policies),
    and run monitoring fails runs stuck starting/cancelling or running too long."""
    from dagster._core.instance.config import dagster_instance_config

    from geo_platform.defs.lifecycle.jobs import JOB_TAGS
    from geo_platform.settings import REPO_ROOT

    for key in ("USER", "PASSWORD", "HOST", "DB", "PORT"):
        monkeypatch.setenv(f"DAGSTER_PG_{key}", "5432" if key == "PORT" else "x")
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").symlink_to(REPO_ROOT / "dagster.yaml")
    config, _ = dagster_instance_config(str(home))
    assert config["run_retries"]["enabled"] and config["run_retries"]["max_retries"] >= 1
    assert config["run_retries"]["retry_on_asset_or_op_failure"] is False
    monitoring = config["run_monitoring"]
    assert monitoring["enabled"] and monitoring["max_runtime_seconds"] > 0
    assert monitoring["start_timeout_seconds"] > 0 and monitoring["cancel_timeout_seconds"] > 0
    # Lifecycle runs have their own, shorter limit.
    assert float(JOB_TAGS["dagster/max_runtime"]) < monitoring["max_runtime_seconds"]
    for job in lifecycle.LIFECYCLE_JOBS:
        assert job.tags["dagster/max_runtime"] == JOB_TAGS["dagster/max_runtime"]
