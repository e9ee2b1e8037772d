"""Unpublish and janitor from the terminal: the lifecycle jobs, run in process.

Both run the Dagster job on the platform's instance, so the run, its log and its report show
in the UI like any other. The CLI (``geo-platform unpublish`` / ``janitor``) only parses
options and prints the report.
"""

from __future__ import annotations

import getpass
import re
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
    return failure_message(result.get_step_failure_events())


def failure_message(events: Any) -> str:
    """What failed, from a run's step failure events: the ``Failure``'s description, else
    "ErrorClass: message" of the error. A retry wrapper ("RetryRequestedFromPolicy: Exceeded
    max_retries of 3") gives way to the error it retried, which names the problem (a database
    that cannot be reached, with its URL)."""
    from geo_platform.store.webhook import scrub_secrets

    for event in events:
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            return str(data.user_failure_data.description)
        error = data.error
        while error is not None and error.cause is not None and _is_retry(error.cls_name):
            error = error.cause
        if error is not None:
            message = error.message.strip()
            qualified = re.match(rf"^[\w.]*\b{re.escape(error.cls_name)}: ", message)
            message = message[qualified.end() :] if qualified else message
            return scrub_secrets(f"{error.cls_name}: {message}")
    return "the run failed (see the Dagster UI)"


def _is_retry(cls_name: str) -> bool:
    return cls_name in {"RetryRequestedFromPolicy", "RetryRequested"}


def run_failure_message(run_id: str) -> str | None:
    """``failure_message`` of a finished run on the platform's instance (None: no step
    failed, or the run is not there)."""
    import dagster as dg

    from geo_platform.app.instance import dagster_instance

    instance = dagster_instance(load_settings())
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    events = [r.dagster_event for r in records if r.dagster_event is not None]
    return failure_message(events) if events else None


def catalog_message(exc: BaseException) -> str:
    """What ``unpublish``, ``janitor`` and ``promote`` say when the catalog cannot be read."""
    from geo_platform.store.webhook import scrub_secrets

    return f"cannot read the catalog: {scrub_secrets(str(exc))}"


def catalog_problem() -> str | None:
    """``catalog_message`` when the platform database cannot be reached, else None: asked
    before a run, which would retry for half a minute and then say only "Exceeded max_retries"."""
    from geo_platform.store import db

    try:
        db.connect(load_settings().database_url).close()
    except Exception as exc:
        return catalog_message(exc)
    return None


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
