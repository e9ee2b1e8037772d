"""Wiring shared by every partitioned asset: one run may carry many partitions.

Sensors and backfills batch partitions into one run (a partition range) to avoid paying the run
start-up cost per file. Files stay independent: each partition is processed on its own, a
success is recorded as that partition's materialization at once, and the run fails at the end
naming every file that failed, so Dagster marks exactly those partitions as failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import dagster as dg

from geo_platform.lib.errors import GeoPlatformError, is_retryable
from geo_platform.lib.naming import blob_for_partition_key

# Retries only help with transient failures; input errors raise Failure(allow_retries=False).
TRANSIENT_RETRY = dg.RetryPolicy(
    max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
BATCH_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=25)

PartitionFn = Callable[[str, str], Mapping[str, Any]]


def partition_keys(context: dg.AssetExecutionContext) -> list[str]:
    """The partitions this run covers, in order (one key or a range)."""
    return list(context.partition_keys)


def each_partition(
    context: dg.AssetExecutionContext, fn: PartitionFn
) -> Iterator[dg.AssetMaterialization]:
    """Run ``fn(partition_key, blob_path)`` for every partition in the run.

    ``fn`` returns the materialization metadata. Errors are collected per partition and
    re-raised at the end as one ``Failure`` (permanent) or as the first transient error (so
    the retry policy retries the run; publishing is idempotent).
    """
    failures: dict[str, BaseException] = {}
    for key in partition_keys(context):
        blob = blob_for_partition_key(key)
        try:
            metadata = fn(key, blob)
        except Exception as exc:
            failures[key] = exc
            context.log.error(f"{blob}: {describe_error(exc)}")
            continue
        yield dg.AssetMaterialization(
            asset_key=context.asset_key, partition=key, metadata=dict(metadata)
        )
    if failures:
        raise_failures(context, failures)


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
