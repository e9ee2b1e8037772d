"""A bronze file's way to the catalog, stage by stage, in one step: files stay independent.

A batch of files (a partition range) goes through the stages of its kind (bronze inventory,
silver, catalog) in one op, a ``@multi_asset`` whose assets are the stages. Each file is carried
from stage to stage on its own: a success is recorded at once as that asset partition's
materialization, a file that fails stops there and its neighbours go on, and the op fails at the
end naming every file that failed and the stage where it stopped.

Why one op, not one asset per stage: Dagster runs a downstream step only if the upstream step
emitted its output, and the output of a partitioned asset materializes *every* partition of the
run. With a step per stage, a batch in which one file failed at silver could either publish no
file downstream (the failed step skips the catalog step) or mark the bad file materialized.
Dagster 1.13 has no way to fail one partition of a multi-partition step (dagster #17836); it
marks a partition FAILED when a failed run planned it and did not materialize it. Here that is
exactly the bad file: failed at its stage and at the stages after it (never materialized there),
while the good files of the same run are materialized at every stage and reach pgstac.

Transient errors are retried by the op's retry policy, only for the files that hit them: a
retry skips what earlier attempts of the run materialized and keeps their permanent failures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from geo_platform.defs.common import (
    BATCH_POLICY,
    TRANSIENT_RETRY,
    Outcome,
    add_partition_metadata,
    check_result,
    describe_error,
    partition_keys,
)
from geo_platform.lib.errors import is_retryable
from geo_platform.lib.naming import blob_for_partition_key
from geo_platform.store.bronze import kept_bronze_copies


@dataclass(frozen=True)
class StageContext:
    """What a stage's work sees: the step's context and the run config of its file pipeline."""

    context: dg.AssetExecutionContext
    config: Any

    @property
    def resources(self) -> Any:
        return self.context.resources

    @property
    def log(self) -> Any:
        return self.context.log

    @property
    def run_id(self) -> str:
        return self.context.run.run_id


StageRun = Callable[[StageContext, list[str]], "dict[str, Outcome | BaseException]"]
"""A stage's work over the run's files that reached it: each partition key -> its outcome, or
the error it failed with."""


@dataclass(frozen=True)
class Stage:
    """One stage of a bronze file: its asset, the checks it reports, its work, and the
    resources that work reads."""

    spec: dg.AssetSpec
    run: StageRun
    check_specs: tuple[dg.AssetCheckSpec, ...] = ()
    resources: frozenset[str] = frozenset()

    @property
    def key(self) -> dg.AssetKey:
        return self.spec.key


FileFn = Callable[[StageContext, str, str], "Mapping[str, Any] | Outcome"]


def per_file(
    fn: FileFn, session: Callable[[StageContext], AbstractContextManager[Any]] | None = None
) -> StageRun:
    """Work done file by file: ``fn(ctx, partition_key, blob)`` returns the file's metadata (or
    an ``Outcome``); what it raises is that file's failure. ``session`` wraps all files (one
    connection for the run, say)."""

    def run(ctx: StageContext, keys: list[str]) -> dict[str, Outcome | BaseException]:
        out: dict[str, Outcome | BaseException] = {}
        with session(ctx) if session else nullcontext():
            for key in keys:
                try:
                    out[key] = _outcome(fn(ctx, key, blob_for_partition_key(key)))
                except Exception as exc:
                    out[key] = exc
        return out

    return run


def batched(
    prepare: Callable[[StageContext, str, str], Any],
    commit: Callable[[StageContext, dict[str, Any]], Mapping[str, Mapping[str, Any] | Exception]],
) -> StageRun:
    """Work cheaper done once per run (one transaction for all files): ``prepare`` runs per
    file (a failure stays that file's), then ``commit({key: prepared})`` once returns each
    key's metadata, or the error that refused that file alone. If the commit fails, every
    prepared file fails with its error."""

    def run(ctx: StageContext, keys: list[str]) -> dict[str, Outcome | BaseException]:
        out: dict[str, Outcome | BaseException] = {}
        prepared: dict[str, Any] = {}
        for key in keys:
            try:
                prepared[key] = prepare(ctx, key, blob_for_partition_key(key))
            except Exception as exc:
                out[key] = exc
        if prepared:
            try:
                done = commit(ctx, prepared)
                out.update(
                    {k: m if isinstance(m, Exception) else _outcome(m) for k, m in done.items()}
                )
            except Exception as exc:
                ctx.log.error(f"publishing {len(prepared)} file(s) failed: {describe_error(exc)}")
                out.update(dict.fromkeys(prepared, exc))
        return out

    return run


def _outcome(value: Mapping[str, Any] | Outcome) -> Outcome:
    return value if isinstance(value, Outcome) else Outcome(value)


@dataclass(frozen=True)
class FileFailure:
    """Where a file stopped and why."""

    stage: str
    error: str
    error_type: str
    transient: bool = False


@dataclass
class _Earlier:
    """What earlier attempts of this step in the same run did (set on a retry)."""

    done: set[tuple[dg.AssetKey, str]] = field(default_factory=set)
    failed: dict[str, FileFailure] = field(default_factory=dict)


def file_pipeline(
    name: str,
    stages: Sequence[Stage],
    partitions_def: dg.PartitionsDefinition,
    config_cls: type[dg.Config],
    *,
    pool: str | None = None,
    description: str | None = None,
) -> dg.AssetsDefinition:
    """The stages of one kind of bronze file as one subsettable multi-asset: a run (sensor
    batch, backfill, automation, a stage job) executes the selected stages in order.
    ``config_cls``: the run config of the stages (``ops: {name: {config: ...}}``)."""

    def files(context: dg.AssetExecutionContext, config: Any) -> Iterator[Any]:
        yield from run_stages(context, stages, config)

    # Dagster reads the run config's schema from the annotation of ``config`` (as an object:
    # this module's annotations are strings).
    files.__annotations__ = {"context": dg.AssetExecutionContext, "config": config_cls}

    return dg.multi_asset(
        name=name,
        specs=[s.spec.replace_attributes(skippable=True) for s in stages],
        check_specs=[c for s in stages for c in s.check_specs],
        partitions_def=partitions_def,
        can_subset=True,
        backfill_policy=BATCH_POLICY,
        retry_policy=TRANSIENT_RETRY,
        pool=pool,
        required_resource_keys=set().union(*(s.resources for s in stages)),
        description=description,
    )(files)


StageEvent = (
    dg.AssetMaterialization | dg.MaterializeResult | dg.AssetCheckResult | dg.AssetObservation
)


def run_stages(
    context: dg.AssetExecutionContext, stages: Sequence[Stage], config: Any
) -> Iterator[StageEvent]:
    """Carry each partition of the run through the selected stages; fail at the end naming
    every file that failed (the good ones are materialized by then)."""
    keys = partition_keys(context)
    earlier = _earlier_attempts(context) if context.retry_number else _Earlier()
    ctx = StageContext(context, config)
    with kept_bronze_copies():  # a bronze file downloaded and hashed once for all its stages
        yield from _stages(context, stages, ctx, keys, earlier)


def _stages(
    context: dg.AssetExecutionContext,
    stages: Sequence[Stage],
    ctx: StageContext,
    keys: list[str],
    earlier: _Earlier,
) -> Iterator[StageEvent]:
    failed = dict(earlier.failed)
    alive = [k for k in keys if k not in failed]
    for stage in stages:
        if stage.key not in context.selected_asset_keys:
            continue
        todo = [k for k in alive if (stage.key, k) not in earlier.done]
        before = set(failed)
        done = _run_stage(ctx, stage, todo, failed)
        yield from _stage_checks(context, stage, done)
        _gate_blocking(stage, done, failed)
        yield from _materialize(context, stage.key, done, complete=len(done) == len(keys))
        yield from _failure_observations(
            stage.key, {k: failed[k] for k in failed if k not in before}
        )
        alive = [
            k for k in alive if k not in failed and (k in done or (stage.key, k) in earlier.done)
        ]
    if failed:
        raise stage_failure(context, failed)


def _run_stage(
    ctx: StageContext, stage: Stage, keys: list[str], failed: dict[str, FileFailure]
) -> dict[str, Outcome]:
    name = stage.key.to_user_string()
    try:
        results = stage.run(ctx, keys) if keys else {}
    except Exception as exc:  # the stage could not start (say, no database): all its files
        results = dict.fromkeys(keys, exc)
    done: dict[str, Outcome] = {}
    for key in keys:
        result = results.get(key)
        if result is None:
            result = RuntimeError(f"stage {name} returned no result for this file")
        if isinstance(result, BaseException):
            ctx.log.error(f"{blob_for_partition_key(key)}: {name}: {describe_error(result)}")
            failed[key] = FileFailure(
                name, describe_error(result), type(result).__name__, is_retryable(result)
            )
        else:
            done[key] = result
    return done


def _stage_checks(
    context: dg.AssetExecutionContext, stage: Stage, done: dict[str, Outcome]
) -> Iterator[dg.AssetCheckResult]:
    """One result per selected check of the stage, over the files it processed in this step."""
    selected = context.selected_asset_check_keys
    for spec in stage.check_specs:
        if spec.key not in selected:
            continue
        per_file = {
            blob_for_partition_key(k): o.checks[spec.name]
            for k, o in done.items()
            if spec.name in o.checks
        }
        yield check_result(spec, per_file)


def _gate_blocking(stage: Stage, done: dict[str, Outcome], failed: dict[str, FileFailure]) -> None:
    """A file that failed a blocking check stays materialized at this stage (with the failed
    check) but goes no further, as Dagster's blocking checks gate what is downstream."""
    blocking = [s.name for s in stage.check_specs if s.blocking]
    for key, outcome in done.items():
        for check_name in blocking:
            ok, why = outcome.checks.get(check_name, (True, ""))
            if not ok:
                failed[key] = FileFailure(
                    stage.key.to_user_string(),
                    f"blocking check {check_name} failed: {why}",
                    "BlockingCheckFailed",
                )
                break


def _materialize(
    context: dg.AssetExecutionContext, key: dg.AssetKey, done: dict[str, Outcome], complete: bool
) -> Iterator[dg.AssetMaterialization | dg.MaterializeResult]:
    """Every file of the run done: one output (its partitions keep their own metadata, and
    steps downstream of the op in the same run go on). Otherwise one materialization per
    file that succeeded, so the others are not marked materialized."""
    if complete:
        add_partition_metadata(context, key, {p: o.metadata for p, o in done.items()})
        yield dg.MaterializeResult(asset_key=key)
        return
    for partition, outcome in done.items():
        yield dg.AssetMaterialization(
            asset_key=key, partition=partition, metadata=dict(outcome.metadata)
        )


FAILED_STAGE = "geo_platform/failed_stage"


def _failure_observations(
    key: dg.AssetKey, failed: dict[str, FileFailure]
) -> Iterator[dg.AssetObservation]:
    """Why each file stopped, on its partition of the stage (the UI shows it with the
    partition; a retry reads it back)."""
    for partition, f in failed.items():
        yield dg.AssetObservation(
            asset_key=key,
            partition=partition,
            metadata={
                FAILED_STAGE: f.stage,
                "error": f.error,
                "error_type": f.error_type,
                "transient": f.transient,
            },
        )


def stage_failure(context: dg.AssetExecutionContext, failed: dict[str, FileFailure]) -> dg.Failure:
    """The op's failure: which files failed, at which stage and why. Retried (by the retry
    policy) while some file hit a transient error and retries remain."""
    transient = [k for k, f in failed.items() if f.transient]
    retry = bool(transient) and context.retry_number < TRANSIENT_RETRY.max_retries
    lines = [f"{blob_for_partition_key(k)}: {f.stage}: {f.error}" for k, f in failed.items()]
    head = f"{len(failed)} file(s) failed"
    if retry:
        head += f"; {len(transient)} with a transient error, retried"
    return dg.Failure(
        description=head + ":\n" + "\n".join(lines[:50]),
        metadata={
            "failed_files": dg.MetadataValue.json(
                {blob_for_partition_key(k): f.error for k, f in failed.items()}
            ),
            "failed_stages": dg.MetadataValue.json(
                {blob_for_partition_key(k): f.stage for k, f in failed.items()}
            ),
            "error_types": sorted({f.error_type for f in failed.values()}),
        },
        allow_retries=retry,
    )


def _earlier_attempts(context: dg.AssetExecutionContext) -> _Earlier:
    """On a retry: the op's materializations so far in this run, and the files that failed
    for good in earlier attempts (they are not retried, and stay failures)."""
    out = _Earlier()
    own = set(context.assets_def.keys)
    records = context.instance.get_records_for_run(
        context.run.run_id,
        of_type={dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.ASSET_OBSERVATION},
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.event_specific_data if event is not None else None
        mat = getattr(data, "materialization", None) or getattr(data, "asset_observation", None)
        if mat is None or mat.asset_key not in own or not mat.partition:
            continue
        if isinstance(mat, dg.AssetMaterialization):
            out.done.add((mat.asset_key, mat.partition))
        elif FAILED_STAGE in mat.metadata and not mat.metadata["transient"].value:
            meta = {k: v.value for k, v in mat.metadata.items()}
            out.failed[mat.partition] = FileFailure(
                str(meta[FAILED_STAGE]), str(meta["error"]), str(meta["error_type"])
            )
    return out
