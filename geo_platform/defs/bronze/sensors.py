"""The bronze sensor: list the bronze container, add partitions, request runs, report the rest.

One tick lists the container page by page and compares it with the state saved in the cursor
(path -> kind + etag digest). New supported files become dynamic partitions and runs; a changed
etag re-runs; removed blobs are reported as observations on their partition (derived data is
never deleted automatically); unsupported files are reported once, never silently dropped.

Runs are batched: new partitions are added in order, so a burst of new files forms contiguous
partition ranges, and each range of up to ``sensor_batch_size`` files becomes one run. Run keys
hash the files and their etags: a re-delivered blob is a no-op, a changed blob runs again.
"""

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from geo_platform.defs.bronze.jobs import PIPELINE_JOBS
from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.lib.bronze import TickPlan, decode_state, encode_state, plan_tick
from geo_platform.lib.naming import partition_key_for_blob
from geo_platform.lib.raster.collection import MARKER_NAME, collection_prefix_for, parse_prefixes
from geo_platform.lib.types import BlobInfo, DataKind
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PlatformResource

MAX_REPORTED = 200
ETAG_CHECK_LIMIT = 1000


@dataclass
class TickRequests:
    """Everything a tick asks Dagster to do (the sensor returns it; ``ingest`` executes it)."""

    add: dict[DataKind, list[str]] = field(default_factory=lambda: {"raster": [], "vector": []})
    runs: list[dg.RunRequest] = field(default_factory=list)
    events: list[dg.AssetObservation] = field(default_factory=list)
    skipped_same_etag: int = 0


def contiguous_ranges(order: dict[str, int], keys: Iterable[str], max_size: int) -> list[list[str]]:
    """Group keys into runs of consecutive positions in the partition order, at most max_size."""
    groups: list[list[str]] = []
    last = -2
    for key in sorted(keys, key=order.__getitem__):
        pos = order[key]
        if groups and pos == last + 1 and len(groups[-1]) < max_size:
            groups[-1].append(key)
        else:
            groups.append([key])
        last = pos
    return groups


def _run_request(kind: DataKind, keys: Sequence[str], etags: dict[str, str]) -> dg.RunRequest:
    digest = hashlib.sha1("\n".join(f"{k}@{etags[k]}" for k in keys).encode()).hexdigest()
    job = PIPELINE_JOBS[kind].name
    if len(keys) == 1:
        return dg.RunRequest(
            job_name=job, partition_key=keys[0], run_key=f"{kind}:{keys[0]}@{etags[keys[0]]}"
        )
    return dg.RunRequest(
        job_name=job,
        run_key=f"{kind}:batch:{digest}",
        tags={
            ASSET_PARTITION_RANGE_START_TAG: keys[0],
            ASSET_PARTITION_RANGE_END_TAG: keys[-1],
            "geo_platform/files": str(len(keys)),
        },
    )


def _latest_etags(instance: dg.DagsterInstance, kind: DataKind, keys: list[str]) -> dict[str, str]:
    """The etag each partition was last materialized from (for at most ETAG_CHECK_LIMIT keys)."""
    if not keys or len(keys) > ETAG_CHECK_LIMIT:
        return {}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(f"bronze_{kind}"), asset_partitions=keys),
        limit=len(keys) * 3,
    ).records
    out: dict[str, str] = {}
    for rec in records:  # newest first
        mat = rec.asset_materialization
        if mat and mat.partition and mat.partition not in out:
            etag = mat.metadata.get("etag")
            out[mat.partition] = str(etag.value) if etag is not None else ""
    return out


def requests_for_plan(
    instance: dg.DagsterInstance, plan: TickPlan, batch_size: int
) -> TickRequests:
    """Turn a tick plan into partition adds, batched run requests and observations."""
    req = TickRequests()
    for kind, parts in PARTITIONS.items():
        existing = instance.get_dynamic_partitions(parts.name)
        order = {k: i for i, k in enumerate(existing)}
        etags: dict[str, str] = {}
        fresh: list[str] = []
        rerun: list[str] = []
        for blob in plan.new[kind]:
            key = partition_key_for_blob(blob.path)
            etags[key] = blob.etag
            (rerun if key in order else fresh).append(key)
        # Partitions that exist although the cursor did not know them (cursor reset, ingest):
        # run only those whose last materialization came from another etag.
        last = _latest_etags(instance, kind, rerun)
        if last:
            same = [k for k in rerun if last.get(k) == etags[k]]
            req.skipped_same_etag += len(same)
            rerun = [k for k in rerun if last.get(k) != etags[k]]
        for blob in plan.changed[kind]:
            key = partition_key_for_blob(blob.path)
            etags[key] = blob.etag
            if key in order:
                rerun.append(key)
            else:
                fresh.append(key)
        req.add[kind] = fresh
        for i, key in enumerate(fresh):
            order[key] = len(existing) + i
        for group in contiguous_ranges(order, [*fresh, *rerun], batch_size):
            req.runs.append(_run_request(kind, group, etags))
        for path, removed_kind in plan.removed.items():
            key = partition_key_for_blob(path)
            if removed_kind == kind and key in order:
                req.events.append(
                    dg.AssetObservation(
                        asset_key=dg.AssetKey(f"bronze_{kind}"),
                        partition=key,
                        metadata={"status": "removed from bronze", "blob": path},
                    )
                )
    if plan.unsupported:
        req.events.append(_unsupported_observation(plan.unsupported))
    return req


def _unsupported_observation(items: list[tuple[BlobInfo, str]]) -> dg.AssetObservation:
    listed = {b.path: reason for b, reason in items[:MAX_REPORTED]}
    return dg.AssetObservation(
        asset_key=dg.AssetKey("bronze_inventory"),
        metadata={
            "unsupported_new": len(items),
            "unsupported_files": dg.MetadataValue.json(listed),
        },
    )


def bronze_tick(
    instance: dg.DagsterInstance,
    store: BlobStore,
    platform: PlatformResource,
    cursor: str | None,
    log: object,
) -> dg.SensorResult:
    """One evaluation of the bronze sensor (separate from the decorator for tests and benches)."""
    state = decode_state(cursor)
    listing = store.list_blobs(platform.bronze_container)
    in_collection = collection_membership(store, platform)
    plan = plan_tick(
        listing, state, max_new=platform.sensor_max_adds_per_tick, in_collection=in_collection
    )
    req = requests_for_plan(instance, plan, platform.sensor_batch_size)
    _log_plan(log, plan, req)
    return dg.SensorResult(
        run_requests=req.runs,
        dynamic_partitions_requests=[
            PARTITIONS[kind].build_add_request(keys) for kind, keys in req.add.items() if keys
        ],
        asset_events=req.events,
        cursor=encode_state(plan.state),
    )


def collection_membership(store: BlobStore, platform: PlatformResource) -> Callable[[str], bool]:
    """Whether a bronze blob belongs to a raster collection: under a configured prefix, or in a
    folder (or below one) holding a ``_collection.json`` marker. One lookup per folder."""
    prefixes = parse_prefixes(platform.raster_collections)
    marked: dict[str, bool] = {}

    def has_marker(folder: str) -> bool:
        if folder not in marked:
            marked[folder] = store.exists(platform.bronze_container, f"{folder}/{MARKER_NAME}")
        return marked[folder]

    def member(path: str) -> bool:
        if collection_prefix_for(path, prefixes):
            return True
        parts = path.split("/")[:-1]
        return any(has_marker("/".join(parts[: i + 1])) for i in range(len(parts)))

    return member


def _log_plan(log: object, plan: TickPlan, req: TickRequests) -> None:
    info = getattr(log, "info", print)
    warning = getattr(log, "warning", print)
    new = {k: len(v) for k, v in plan.new.items()}
    changed = {k: len(v) for k, v in plan.changed.items()}
    info(
        f"bronze: listed {plan.listed} blobs; new {new}; changed {changed}; "
        f"removed {len(plan.removed)}; sidecars {plan.sidecars}; runs {len(req.runs)}; "
        f"unchanged partitions skipped {req.skipped_same_etag}"
    )
    for blob, reason in plan.unsupported[:50]:
        warning(f"bronze: not publishing {blob.path!r}: {reason}")
    if len(plan.unsupported) > 50:
        warning(f"bronze: ... and {len(plan.unsupported) - 50} more unsupported blobs")
    for path in list(plan.removed)[:50]:
        warning(f"bronze: {path!r} was removed; derived data is kept (unpublish to remove it)")
    if plan.deferred:
        info(f"bronze: {plan.deferred} new blobs deferred to the next tick (limit per tick)")


@dg.sensor(
    name="bronze_sensor",
    jobs=list(PIPELINE_JOBS.values()),
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Watches the bronze container: new files become partitions and runs, changed files "
        "(new etag) run again, removed and unsupported files are reported."
    ),
)
def bronze_sensor(
    context: dg.SensorEvaluationContext,
    blob_store: dg.ResourceParam[BlobStore],
    platform: PlatformResource,
) -> dg.SensorResult:
    return bronze_tick(context.instance, blob_store, platform, context.cursor, context.log)
