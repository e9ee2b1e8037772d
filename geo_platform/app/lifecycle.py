"""Unpublish and janitor from the terminal: the lifecycle jobs, run in process.

Both run the Dagster job on the platform's instance, so the run, its log and its report show
in the UI like any other. The CLI (``geo-platform unpublish`` / ``janitor``) only parses
options and prints the report.
"""

from __future__ import annotations

import getpass
from typing import Any

from geo_platform.settings import load_settings


def _job_and_resources(name: str) -> tuple[Any, dict[str, Any] | None]:
    """The job from the code location (built from the current settings) when registered
    there, else this package's own job with resources built the same way."""
    from geo_platform.definitions import build_definitions, build_resources
    from geo_platform.defs.lifecycle import LIFECYCLE_JOBS

    settings = load_settings()
    try:
        return build_definitions(settings).resolve_job_def(name), None
    except Exception:  # not registered (yet): same job, resources from the settings
        return next(j for j in LIFECYCLE_JOBS if j.name == name), build_resources(settings)


def run_job(name: str, run_config: dict[str, Any]) -> tuple[bool, dict[str, Any] | None, str]:
    """(success, the op's report, error message): one in-process run on the instance."""
    import dagster as dg

    from geo_platform.app.instance import console_logs, use_platform_instance
    from geo_platform.defs.lifecycle.ops import REQUESTED_BY_TAG

    use_platform_instance(load_settings())
    job, resources = _job_and_resources(name)
    tags = {REQUESTED_BY_TAG: f"cli:{getpass.getuser()}"}
    with dg.DagsterInstance.get() as instance:
        kwargs: dict[str, Any] = {"resources": resources} if resources else {}
        result = job.execute_in_process(
            run_config={**run_config, **console_logs()},
            instance=instance,
            tags=tags,
            raise_on_error=False,
            **kwargs,
        )
    if result.success:
        node = next(iter(run_config["ops"]))
        return True, result.output_for_node(node), ""
    return False, None, _failure_message(result)


def _failure_message(result: Any) -> str:
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            return str(data.user_failure_data.description)
        if data.error is not None:
            return f"{data.error.cls_name}: {data.error.message.strip()}"
    return "the run failed (see the Dagster UI)"


def item_kind(collection: str, item_id: str) -> str:
    """raster/vector from the published item (or its audit record); raster when unknown."""
    from geo_platform.store import db, pgstac
    from geo_platform.store.audit import latest_for_item
    from geo_platform.store.silver_refs import item_kind as kind_of

    with db.connect(load_settings().database_url) as conn:
        item = pgstac.get_item(conn, collection, item_id)
        if item is None:
            last = latest_for_item(conn, collection, item_id)
            item = last.original_item if last else None
    return kind_of(item) if item else "raster"
