"""What the Dagster instance remembers: failed files by reason and materializations over time.

The silver and catalog assets end a run that had bad files with a ``Failure`` whose metadata
holds ``failed_files`` ({blob: "ErrorType: message"}) and ``error_types``. This module reads
those back (runs with status FAILURE, then their STEP_FAILURE events) and the materialization
history of the partitioned assets, as plain records for ``workflows.quality_report``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

from geo_platform.workflows.quality_report import FailureFacts, Materialization, error_type_of

MAX_RUNS = 500
PAGE = 1000


def _value(entry: Any) -> Any:
    return getattr(entry, "value", entry)


def _failures_of_run(
    instance: dg.DagsterInstance, run_id: str, when: datetime
) -> list[FailureFacts]:
    out: list[FailureFacts] = []
    conn = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_FAILURE)
    for record in conn.records:
        event = record.event_log_entry.dagster_event
        if event is None:
            continue
        data = event.step_failure_data
        meta = data.user_failure_data.metadata if data and data.user_failure_data else {}
        files = _value(meta.get("failed_files")) if meta else None
        step = event.step_key or "?"
        if isinstance(files, dict) and files:
            for blob, message in files.items():
                text = str(message)
                out.append(FailureFacts(when, run_id, step, str(blob), error_type_of(text), text))
        elif data is not None and data.error is not None:
            # A crash (not a per-file Failure): no file named, the error class is the reason.
            out.append(
                FailureFacts(
                    when,
                    run_id,
                    step,
                    "(run)",
                    data.error.cls_name or "error",
                    data.error.message.strip()[:500],
                )
            )
    return out


def failed_files(
    instance: dg.DagsterInstance, since: datetime | None = None, limit: int = MAX_RUNS
) -> list[FailureFacts]:
    """Every failed file of the last ``limit`` failed runs created after ``since``."""
    records = instance.get_run_records(
        RunsFilter(statuses=[DagsterRunStatus.FAILURE], created_after=since), limit=limit
    )
    out: list[FailureFacts] = []
    for rec in records:
        when = rec.create_timestamp
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        out.extend(_failures_of_run(instance, rec.dagster_run.run_id, when))
    return out


def materializations(
    instance: dg.DagsterInstance, asset_keys: Iterable[dg.AssetKey], since: datetime | None = None
) -> list[Materialization]:
    """Materialization events of ``asset_keys`` (one per partition materialized)."""
    after = since.timestamp() if since else None
    out: list[Materialization] = []
    for key in asset_keys:
        cursor = None
        while True:
            result = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, after_timestamp=after),
                limit=PAGE,
                cursor=cursor,
            )
            for rec in result.records:
                when = datetime.fromtimestamp(rec.timestamp, tz=UTC)
                out.append(Materialization(when, key.to_user_string()))
            if not result.has_more:
                break
            cursor = result.cursor
    return out
