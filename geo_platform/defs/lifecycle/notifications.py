"""Run notifications: a failure report and a success summary, as JSON for a webhook.

Payloads carry what someone on call needs (which job, which files failed and why, counts, a
link to the run) and never a secret: resource config and environment are not included, and
every string goes through ``store.webhook.scrub_secrets`` before it is sent.
"""

from collections import Counter
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEvent

from geo_platform.store.webhook import post_json, redact_webhook

MAX_ERRORS = 20
_WRAPPERS = {"DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError"}
MAX_FILES = 200
_KEPT_TAGS = (
    "dagster/partition",
    "dagster/asset_partition_range_start",
    "dagster/asset_partition_range_end",
    "dagster/backfill",
    "dagster/retry_number",
    "dagster/sensor_name",
    "dagster/schedule_name",
    "geo_platform/files",
    "geo_platform/requested_by",
    "geo_platform/source_blob",
)


def _run_times(instance: dg.DagsterInstance, run_id: str) -> dict[str, Any]:
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return {}
    start, end = record.start_time, record.end_time
    return {
        "started_at": start,
        "ended_at": end,
        "duration_s": round(end - start, 3) if start and end else None,
    }


def _counts(instance: dg.DagsterInstance, run_id: str) -> dict[str, Any]:
    mats = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    per_asset: Counter[str] = Counter()
    partitions: set[str] = set()
    for entry in mats:
        mat = entry.asset_materialization
        if mat is None:
            continue
        per_asset[mat.asset_key.to_user_string()] += 1
        if mat.partition:
            partitions.add(mat.partition)
    checks = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    failed_checks = sum(
        1
        for e in checks
        if e.dagster_event and not getattr(e.dagster_event.event_specific_data, "passed", True)
    )
    return {
        "materializations": sum(per_asset.values()),
        "materializations_by_asset": dict(per_asset),
        "partitions_materialized": len(partitions),
        "asset_checks": len(checks),
        "asset_checks_failed": failed_checks,
    }


def _step_error(event: DagsterEvent) -> tuple[dict[str, Any], dict[str, str]]:
    """One step failure: its error summary, and the failed files it names (blob -> error)."""
    data = event.step_failure_data
    error = data.error if data else None
    # Dagster wraps the op's own exception; report that one.
    while error is not None and error.cls_name in _WRAPPERS and error.cause is not None:
        error = error.cause
    user = data.user_failure_data if data else None
    message = (user.description if user and user.description else None) or (
        error.message if error else event.message or ""
    )
    files: dict[str, str] = {}
    if user is not None and "failed_files" in user.metadata:
        value = user.metadata["failed_files"].value
        if isinstance(value, dict):
            files = {str(k): str(v) for k, v in value.items()}
    summary: dict[str, Any] = {
        "step": event.step_key,
        "error_type": (error.cls_name if error else None) or "Failure",
        "message": str(message).strip()[:2000],
    }
    if user is not None and "failed_stages" in user.metadata:
        # A file pipeline step (raster_files, vector_files) runs several stages: name them.
        stages = user.metadata["failed_stages"].value
        if isinstance(stages, dict):
            summary["stages"] = sorted({str(s) for s in stages.values()})
    return summary, files


def base_payload(run: dg.DagsterRun, instance: dg.DagsterInstance, ui_base: str) -> dict[str, Any]:
    return {
        "platform": "geo_platform",
        "run_id": run.run_id,
        "job": run.job_name,
        "status": run.status.value,
        "ui_url": f"{ui_base.rstrip('/')}/runs/{run.run_id}",
        "tags": {k: run.tags[k] for k in _KEPT_TAGS if k in run.tags},
        **_run_times(instance, run.run_id),
    }


def failure_payload(
    run: dg.DagsterRun,
    instance: dg.DagsterInstance,
    step_failures: list[DagsterEvent],
    run_failure: DagsterEvent | None,
    ui_base: str,
) -> dict[str, Any]:
    """What went wrong: failed files (from ``Failure`` metadata), step errors, counts."""
    errors: list[dict[str, Any]] = []
    failed_files: dict[str, str] = {}
    for event in step_failures:
        summary, files = _step_error(event)
        errors.append(summary)
        failed_files.update(files)
    if not errors and run_failure is not None:  # the run itself failed (crash, timeout, ...)
        errors.append({"step": None, "error_type": "RunFailure", "message": run_failure.message})
    return {
        **base_payload(run, instance, ui_base),
        "event": "run_failure",
        "status": "FAILURE",
        "failed_files": dict(list(failed_files.items())[:MAX_FILES]),
        "failed_file_count": len(failed_files),
        "errors": errors[:MAX_ERRORS],
        "failed_steps": len(step_failures),
        "counts": _counts(instance, run.run_id),
    }


def success_payload(
    run: dg.DagsterRun, instance: dg.DagsterInstance, ui_base: str
) -> dict[str, Any]:
    return {
        **base_payload(run, instance, ui_base),
        "event": "run_success",
        "status": "SUCCESS",
        "counts": _counts(instance, run.run_id),
    }


def send(
    url: str, payload: dict[str, Any], log: Any, timeout_s: float = 10.0, retries: int = 3
) -> bool:
    result = post_json(url, payload, timeout_s=timeout_s, retries=retries)
    where = redact_webhook(url)
    if result.ok:
        log.info(f"notified {where} about run {payload['run_id']} (HTTP {result.status})")
    else:
        log.warning(
            f"could not notify {where} about run {payload['run_id']} after {result.attempts} "
            f"attempt(s): {result.error}"
        )
    return result.ok
