"""Promote and demote from the terminal: the promotion jobs, run now, in process.

The jobs run on the platform's Dagster instance (like ``ingest --wait``), so each promotion is
a run in the UI with its config, logs and report. The CLI (``geo-platform promote`` /
``demote``) only parses options and prints the report.
"""

from __future__ import annotations

import getpass
from typing import Any

from geo_platform.settings import load_settings


def _job(name: str) -> Any:
    """The job from the code location, or (not registered yet) with resources from settings."""
    import dagster as dg

    from geo_platform.definitions import build_resources, defs
    from geo_platform.defs.promotion import PROMOTION_JOBS, promotion_resource

    try:
        return defs.resolve_job_def(name)
    except (dg.DagsterInvariantViolationError, KeyError, ValueError):
        settings = load_settings()
        resources = {**build_resources(settings), "promotion": promotion_resource(settings)}
        local = dg.Definitions(jobs=PROMOTION_JOBS, resources=resources)
        return local.resolve_job_def(name)


def run_job(job_name: str, op: str, collection: str, items: list[str], apply: bool) -> dict:
    """Execute ``job_name`` in process; the report, or ``{"error": ...}`` when it failed."""
    from geo_platform.app.instance import console_logs, dagster_instance
    from geo_platform.defs.promotion import run_config
    from geo_platform.defs.promotion.ops import REQUESTED_BY_TAG

    instance = dagster_instance(load_settings())
    result = _job(job_name).execute_in_process(
        # The run logs to the instance (the UI) as usual; the terminal gets the report.
        run_config={**run_config(op, collection, items, dry_run=not apply), **console_logs()},
        instance=instance,
        tags={REQUESTED_BY_TAG: f"cli:{getpass.getuser()}"},
        raise_on_error=False,
    )
    if result.success:
        report: dict = result.output_for_node(op)
        return {"run_id": result.run_id, **report}
    failure = result.get_step_failure_events()
    message = "run failed"
    if failure and failure[0].step_failure_data.user_failure_data is not None:
        message = failure[0].step_failure_data.user_failure_data.description or message
    elif failure and failure[0].step_failure_data.error is not None:
        message = failure[0].step_failure_data.error.message.strip().splitlines()[-1]
    return {"run_id": result.run_id, "error": message}
