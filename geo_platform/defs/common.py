"""Wiring shared by every partitioned asset: one run may carry many partitions.

Sensors and backfills batch partitions into one run (a partition range) to avoid paying the run
start-up cost per file. Files stay independent: each partition is processed on its own, a
success is recorded as that partition's materialization at once, and the run fails at the end
naming every file that failed, so Dagster marks exactly those partitions as failed.

``each_partition`` does this for one asset; the stages of a bronze file (inventory, silver,
catalog) go through ``geo_platform.defs.stages``, which carries each file from stage to stage
in one step so that a bad file never holds back the good ones of its batch.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from geo_platform.lib.errors import GeoPlatformError, is_retryable
from geo_platform.lib.naming import blob_for_partition_key

# Retries only help with transient failures; input errors raise Failure(allow_retries=False).
TRANSIENT_RETRY = dg.RetryPolicy(
    max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
BATCH_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=25)

# Silver and catalog stages follow bronze, but never launch again a partition whose latest run
# failed: that run's own retry policy handled transient errors, and a permanent error stays
# until the file changes (the bronze sensor runs it again) or someone backfills it (--failed).
# Without it, a file that failed in a sensor's run was launched a second time by automation.
FOLLOW_UPSTREAM = (
    dg.AutomationCondition.eager() & ~dg.AutomationCondition.execution_failed()
).with_label("eager, unless its latest run failed")


@dataclass
class Outcome:
    """What processing one partition produced: metadata, and check verdicts by check name.

    The metadata also names the process that did the work (``step_worker``)."""

    metadata: Mapping[str, Any]
    checks: dict[str, tuple[bool, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.metadata = {**self.metadata, **step_worker()}


def step_worker() -> dict[str, Any]:
    """Where the step ran: host name and process id. With the Celery executor each step runs on
    whichever worker took it (``GEO_PLATFORM_EXECUTOR=celery``): this is how a materialization
    tells which one (a pod's host name is the pod's name)."""
    return {"worker_host": socket.gethostname(), "worker_pid": os.getpid()}


PartitionFn = Callable[[str, str], "Mapping[str, Any] | Outcome"]


def partition_keys(context: dg.AssetExecutionContext) -> list[str]:
    """The partitions this run covers, in order (one key or a range)."""
    return list(context.partition_keys)


def each_partition(
    context: dg.AssetExecutionContext, fn: PartitionFn
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult | dg.MaterializeResult]:
    """Run ``fn(partition_key, blob_path)`` for every partition in the run.

    ``fn`` returns the materialization metadata (or an ``Outcome`` with check verdicts too).
    When every file succeeds, the run ends with one ``MaterializeResult`` (each partition keeps
    its own metadata), so downstream assets in the same run go on. When some fail, the good
    files are recorded as materialized one by one and the step fails naming the bad ones
    (a permanent ``Failure``, or the first transient error so that the retry policy applies).
    """
    failures: dict[str, BaseException] = {}
    done: dict[str, Outcome] = {}
    for key in partition_keys(context):
        blob = blob_for_partition_key(key)
        try:
            out = fn(key, blob)
        except Exception as exc:
            failures[key] = exc
            context.log.error(f"{blob}: {describe_error(exc)}")
            continue
        done[key] = out if isinstance(out, Outcome) else Outcome(out)
    yield from finish(context, done, failures)


def finish(
    context: dg.AssetExecutionContext,
    done: dict[str, Outcome],
    failures: dict[str, BaseException],
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult | dg.MaterializeResult]:
    verdicts: dict[str, dict[str, tuple[bool, str]]] = {}
    for key, outcome in done.items():
        for name, verdict in outcome.checks.items():
            verdicts.setdefault(name, {})[blob_for_partition_key(key)] = verdict
    yield from check_results(context, verdicts)
    if not failures:
        add_partition_metadata(context, context.asset_key, {k: o.metadata for k, o in done.items()})
        yield dg.MaterializeResult()
        return
    for key, outcome in done.items():
        yield dg.AssetMaterialization(
            asset_key=context.asset_key, partition=key, metadata=dict(outcome.metadata)
        )
    raise_failures(context, failures)


def add_partition_metadata(
    context: dg.AssetExecutionContext,
    asset_key: dg.AssetKey,
    by_partition: Mapping[str, Mapping[str, Any]],
) -> None:
    """``context.add_asset_metadata(metadata, asset_key=..., partition_key=...)`` for each
    partition of the run: the output's materialization of each partition carries its own.

    Dagster's call checks every key against the run's range by reading all the dynamic
    partitions of the definition from the instance (three queries per call, each on a new
    connection): per file and stage, that cost more than the rest of the wiring. The keys are
    checked once here against the run's partition keys, then recorded as that call does."""
    targeted = set(partition_keys(context))
    unknown = sorted(set(by_partition) - targeted)
    if unknown:
        raise dg.DagsterInvariantViolationError(
            f"metadata for partitions this run does not target: {unknown[:5]}"
        )
    step = context.get_step_execution_context()
    accumulator = getattr(step, "_metadata_accumulator", None)
    if accumulator is None or asset_key not in context.assets_def.keys:  # another Dagster
        for key, metadata in by_partition.items():
            context.add_asset_metadata(dict(metadata), asset_key=asset_key, partition_key=key)
        return
    for key, metadata in by_partition.items():
        accumulator = accumulator.with_additional_asset_metadata(
            asset_key=asset_key, partition_key=key, metadata=dict(metadata)
        )
    step._metadata_accumulator = accumulator


def check_results(
    context: dg.AssetExecutionContext, verdicts: dict[str, dict[str, tuple[bool, str]]]
) -> Iterator[dg.AssetCheckResult]:
    """One result per declared check for the run's files (which file failed, and why)."""
    for spec in context.assets_def.check_specs:
        yield check_result(spec, verdicts.get(spec.name, {}))


SEVERITY_KEY = "geo_platform/severity"
WARN_ONLY = {SEVERITY_KEY: "WARN"}
"""An ``AssetCheckSpec``'s metadata for a check whose failure is a warning (severity WARN)."""


def check_result(
    spec: dg.AssetCheckSpec, per_file: Mapping[str, tuple[bool, str]]
) -> dg.AssetCheckResult:
    """A check's result over the files it judged: passed only if every file passed. Its
    severity is ERROR, or WARN for a spec declared with ``metadata=WARN_ONLY``."""
    if not per_file:
        # Dagster requires every declared check; none of this run's files was subject to it
        # (e.g. tiled large rasters, duplicates published as pointers).
        return dg.AssetCheckResult(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=True,
            description="not applicable to the files of this run",
            metadata={"files_checked": 0},
        )
    failed = {blob: why for blob, (ok, why) in per_file.items() if not ok}
    severity = (spec.metadata or {}).get(SEVERITY_KEY, "ERROR")
    return dg.AssetCheckResult(
        asset_key=spec.asset_key,
        check_name=spec.name,
        passed=not failed,
        severity=dg.AssetCheckSeverity(getattr(severity, "value", severity)),
        description=f"{len(per_file) - len(failed)}/{len(per_file)} files passed",
        metadata={
            "files_checked": len(per_file),
            "failed": dg.MetadataValue.json(failed),
            "details": dg.MetadataValue.json({b: why for b, (_, why) in per_file.items()}),
        },
    )


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, GeoPlatformError):
        return f"{type(exc).__name__}: {exc.message}"
    return f"{type(exc).__name__}: {str(exc)[:500]}"


def raise_failures(context: dg.AssetExecutionContext, failures: dict[str, BaseException]) -> None:
    transient = [exc for exc in failures.values() if is_retryable(exc)]
    if transient and len(transient) == len(failures):
        raise transient[0]
    lines = [f"{blob_for_partition_key(k)}: {describe_error(e)}" for k, e in failures.items()]
    raise dg.Failure(
        description=f"{len(failures)} file(s) failed:\n" + "\n".join(lines[:50]),
        metadata={
            "failed_files": dg.MetadataValue.json(
                {blob_for_partition_key(k): describe_error(e) for k, e in failures.items()}
            ),
            "error_types": sorted({type(e).__name__ for e in failures.values()}),
        },
        allow_retries=False,
    )
