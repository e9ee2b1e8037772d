"""The bronze sensor: list the bronze container, add partitions, request runs, report the rest.

One tick lists the container page by page and compares it with the state saved in the cursor
(path -> kind + etag digest). New supported files become dynamic partitions and runs; a changed
etag re-runs; removed blobs are reported as observations on their partition (derived data is
never deleted automatically); unsupported files are reported once, never silently dropped.

No blob can stop a tick: a name the platform cannot take (``..`` segments, not UTF-8) is reported
as unsupported; a blob whose collection marker cannot be checked, or whose content cannot be read
now, is reported and judged again next tick; a listing that fails part-way is resumed folder by
folder (the top-level folders the previous tick knew), and the failed parts are reported and
never mistaken for deletions. Blobs with an unknown or no extension are recognised by their
first bytes (``lib.content``), read once per etag.

Runs are batched: new partitions are added in order, so a burst of new files forms contiguous
partition ranges, and each range of up to ``sensor_batch_size`` files and ``BATCH_MAX_BYTES``
becomes one run. Run keys hash the files and their etags: a re-delivered blob is a no-op, a
changed blob runs again.
Each run also carries the etags it was asked for (``ETAGS_TAG``): a file version that an
unfinished run of this sensor or of the event sensor (``event_sensor``) already covers, or that
was the last one materialized, is not requested again, so the two sensors never ask twice.
"""

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from geo_platform.defs.bronze.jobs import PIPELINE_JOBS
from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.lib.bronze import (
    HeadReader,
    TickPlan,
    plan_tick,
    reportable,
)
from geo_platform.lib.bronze_cursor import decode_state, encode_state
from geo_platform.lib.content import HEAD_BYTES, LONG_HEAD_BYTES, wants_longer_head
from geo_platform.lib.errors import TooLargeError
from geo_platform.lib.naming import display_name, partition_key_for_blob
from geo_platform.lib.raster.collection import MARKER_NAME, collection_prefix_for, parse_prefixes
from geo_platform.lib.types import BlobInfo, DataKind
from geo_platform.lib.zip_kind import TAIL_BYTES
from geo_platform.resources.blob_store import BlobStore, LocalBlobStore
from geo_platform.resources.databases import PlatformResource

MAX_REPORTED = 200
ETAG_CHECK_LIMIT = 1000
"""Partitions whose last materialized etag one query looks up."""
ETAGS_TAG = "geo_platform/etags"
"""On each run a bronze sensor requests: JSON {partition key: etag} of the files it asked for.
Read back from unfinished runs, it tells either bronze sensor (listing or events) that a file
version is already on its way, so the other one does not request it again."""
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
MAX_SNIFFS = 100
"""Candidates (unknown extension) whose first bytes one tick reads; the rest wait a tick."""
MAX_SNIFF_DOWNLOAD = 16 * 2**20
"""On a store without ranged reads (``read_head``), larger candidates are not downloaded by
the sensor: they are reported, with the advice to name them with their format's extension."""


@dataclass
class TickRequests:
    """Everything a tick asks Dagster to do (the sensor returns it; ``ingest`` executes it)."""

    add: dict[DataKind, list[str]] = field(default_factory=lambda: {"raster": [], "vector": []})
    runs: list[dg.RunRequest] = field(default_factory=list)
    events: list[dg.AssetObservation] = field(default_factory=list)
    skipped_same_etag: int = 0


BATCH_MAX_BYTES = 512 * 2**20
"""The files of one batched run add up to at most this (a larger file runs alone): small files
share runs of up to ``sensor_batch_size``, large ones (minutes each) never make one long run."""


def contiguous_ranges(
    order: dict[str, int],
    keys: Iterable[str],
    max_size: int,
    sizes: dict[str, int] | None = None,
    max_bytes: int | None = None,
) -> list[list[str]]:
    """Group keys into runs of consecutive positions in the partition order, at most max_size
    keys and, with ``sizes``, at most ``max_bytes`` of them."""
    groups: list[list[str]] = []
    last, total = -2, 0
    for key in sorted(keys, key=order.__getitem__):
        pos, size = order[key], (sizes or {}).get(key, 0)
        fits = max_bytes is None or total + size <= max_bytes
        if groups and pos == last + 1 and len(groups[-1]) < max_size and fits:
            groups[-1].append(key)
            total += size
        else:
            groups.append([key])
            total = size
        last = pos
    return groups


def _run_request(kind: DataKind, keys: Sequence[str], etags: dict[str, str]) -> dg.RunRequest:
    digest = hashlib.sha1("\n".join(f"{k}@{etags[k]}" for k in keys).encode()).hexdigest()
    job = PIPELINE_JOBS[kind].name
    asked = json.dumps({k: etags[k] for k in keys}, separators=(",", ":"), ensure_ascii=False)
    if len(keys) == 1:
        return dg.RunRequest(
            job_name=job,
            partition_key=keys[0],
            run_key=f"{kind}:{keys[0]}@{etags[keys[0]]}",
            tags={ETAGS_TAG: asked},
        )
    return dg.RunRequest(
        job_name=job,
        run_key=f"{kind}:batch:{digest}",
        tags={
            ASSET_PARTITION_RANGE_START_TAG: keys[0],
            ASSET_PARTITION_RANGE_END_TAG: keys[-1],
            "geo_platform/files": str(len(keys)),
            ETAGS_TAG: asked,
        },
    )


def _latest_etags(
    instance: dg.DagsterInstance, kind: DataKind, keys: list[str]
) -> dict[str, set[str]]:
    """The etags each partition is taken care of for: the one it was last materialized from,
    and those that unfinished runs requested by a bronze sensor carry (``ETAGS_TAG``)."""
    out: dict[str, set[str]] = defaultdict(set)
    if not keys:
        return out
    for start in range(0, len(keys), ETAG_CHECK_LIMIT):
        chunk = keys[start : start + ETAG_CHECK_LIMIT]
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(f"bronze_{kind}"), asset_partitions=chunk),
            limit=len(chunk) * 3,
        ).records
        seen: set[str] = set()
        for rec in records:  # newest first
            mat = rec.asset_materialization
            if mat and mat.partition and mat.partition not in seen:
                seen.add(mat.partition)
                etag = mat.metadata.get("etag")
                out[mat.partition].add(str(etag.value) if etag is not None else "")
    wanted = set(keys)
    runs = instance.get_run_records(
        dg.RunsFilter(job_name=PIPELINE_JOBS[kind].name, statuses=IN_FLIGHT)
    )
    for rec in runs:
        asked = rec.dagster_run.tags.get(ETAGS_TAG)
        for key, etag in (json.loads(asked) if asked else {}).items():
            if key in wanted:
                out[key].add(etag)
    return out


def _partition_order(
    instance: dg.DagsterInstance, name: str, keys: list[str] | None
) -> tuple[dict[str, int], int]:
    """Positions of the definition's partitions, and the position a new one gets next.

    With ``keys``, only those are looked up, by a query bounded by them: the existing ones get
    positions that are never adjacent (each runs on its own), and the new ones, appended in
    order, still form contiguous ranges."""
    if keys is None:
        existing = instance.get_dynamic_partitions(name)
        return {k: i for i, k in enumerate(existing)}, len(existing)
    found = instance.get_existing_dynamic_partitions(name, keys) if keys else set()
    return {k: -2 * (i + 1) for i, k in enumerate(sorted(found))}, 0


def requests_for_plan(
    instance: dg.DagsterInstance, plan: TickPlan, batch_size: int, bounded: bool = False
) -> TickRequests:
    """Turn a tick plan into partition adds, batched run requests and observations.

    ``bounded``: look up only the partitions the plan names (the event sensor, whose cost must
    not grow with the number of partitions), instead of reading the whole partition order."""
    req = TickRequests()
    for kind, parts in PARTITIONS.items():
        keys = None
        if bounded:
            keys = [partition_key_for_blob(b.path) for b in [*plan.new[kind], *plan.changed[kind]]]
            keys += [partition_key_for_blob(p) for p, k in plan.removed.items() if k == kind]
        order, next_position = _partition_order(instance, parts.name, keys)
        etags: dict[str, str] = {}
        sizes: dict[str, int] = {}
        fresh: list[str] = []
        rerun: list[str] = []
        for blob in [*plan.new[kind], *plan.changed[kind]]:
            key = partition_key_for_blob(blob.path)
            etags[key], sizes[key] = blob.etag, blob.size or 0
            (rerun if key in order else fresh).append(key)
        # Existing partitions (a changed file, or one the cursor did not know: cursor reset,
        # ingest, or announced by an event): run only those whose version was neither the last
        # one materialized nor is on its way in an unfinished run of either bronze sensor.
        done = _latest_etags(instance, kind, rerun)
        same = [k for k in rerun if etags[k] in done.get(k, ())]
        req.skipped_same_etag += len(same)
        rerun = [k for k in rerun if etags[k] not in done.get(k, ())]
        req.add[kind] = fresh
        for i, key in enumerate(fresh):
            order[key] = next_position + i
        for group in contiguous_ranges(order, [*fresh, *rerun], batch_size, sizes, BATCH_MAX_BYTES):
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
    if plan.unsupported or plan.retry:
        req.events.append(_unsupported_observation(plan.unsupported, plan.retry))
    return req


def _unsupported_observation(
    items: list[tuple[BlobInfo, str]],
    retry: list[tuple[BlobInfo, str]] | None = None,
    listing_errors: dict[str, str] | None = None,
) -> dg.AssetObservation:
    metadata: dict[str, object] = {
        "unsupported_new": len(items),
        "unsupported_files": dg.MetadataValue.json(reportable(items, MAX_REPORTED)),
    }
    if retry:
        metadata["skipped_this_tick"] = len(retry)
        metadata["skipped_files"] = dg.MetadataValue.json(reportable(retry, MAX_REPORTED))
    if listing_errors:
        metadata["listing_errors"] = dg.MetadataValue.json(listing_errors)
    return dg.AssetObservation(asset_key=dg.AssetKey("bronze_inventory"), metadata=metadata)


def bronze_tick(
    instance: dg.DagsterInstance,
    store: BlobStore,
    platform: PlatformResource,
    cursor: str | None,
    log: object,
) -> dg.SensorResult:
    """One evaluation of the bronze sensor (separate from the decorator for tests and benches)."""
    state = decode_state(cursor)
    listing = TolerantListing(store, platform.bronze_container, state)
    ranged = callable(getattr(store, "read_head", None)) or isinstance(store, LocalBlobStore)
    plan = plan_tick(
        listing,
        state,
        max_new=platform.sensor_max_adds_per_tick,
        in_collection=collection_membership(store, platform),
        read_head=head_reader(store, platform.bronze_container),
        max_sniffs=MAX_SNIFFS if ranged else MAX_SNIFFS // 10,
        unlisted=listing.unlisted,
        read_tail=tail_reader(store, platform.bronze_container),
    )
    req = requests_for_plan(instance, plan, platform.sensor_batch_size)
    if listing.errors:
        req.events.append(_unsupported_observation([], None, listing.errors))
    _log_plan(log, plan, req, listing.errors)
    return dg.SensorResult(
        run_requests=req.runs,
        dynamic_partitions_requests=[
            PARTITIONS[kind].build_add_request(keys) for kind, keys in req.add.items() if keys
        ],
        asset_events=req.events,
        cursor=encode_state(plan.state),
    )


class TolerantListing:
    """The container's blobs in path order; a listing that fails part-way goes on.

    After a failure, each top-level folder the previous tick knew (from ``state``) that sorts
    after the last listed blob is listed on its own, so one bad prefix costs only itself. When
    nothing at all can be listed (the store is down), the error is raised: the tick fails and
    shows as failed, rather than passing with an empty listing.
    ``errors`` says where listing failed; ``unlisted(path)`` is True for paths the listing
    could not cover (their state is kept and they are not reported as removed).
    """

    def __init__(self, store: BlobStore, container: str, state: dict[str, str]) -> None:
        self.store, self.container = store, container
        self.folders = sorted({p.split("/", 1)[0] + "/" for p in state if "/" in p})
        self.errors: dict[str, str] = {}
        self.failed_after: str | None = None
        self.resumed: list[str] = []

    def __iter__(self) -> Iterator[BlobInfo]:
        last = ""
        try:
            for blob in self.store.list_blobs(self.container):
                last = blob.path
                yield blob
            return
        except Exception as exc:
            first_error = exc
            where = f"after {display_name(last)!r}" if last else "from the start"
            self.errors[f"listing {where}"] = _describe(exc)
            self.failed_after = last
        listed = bool(last)
        for prefix in self.folders:
            if prefix < last or last.startswith(prefix):
                continue  # listed before the failure, or the folder it failed in
            try:
                for blob in self.store.list_blobs(self.container, prefix):
                    listed = True
                    yield blob
            except Exception as exc:
                self.errors[display_name(prefix)] = _describe(exc)
                continue
            self.resumed.append(prefix)
        if not listed:  # nothing could be listed: the store is down, the tick fails honestly
            raise first_error

    def unlisted(self, path: str) -> bool:
        if self.failed_after is None or path <= self.failed_after:
            return False
        return not any(path.startswith(p) for p in self.resumed)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def head_reader(store: BlobStore, container: str) -> HeadReader:
    """The first ``HEAD_BYTES`` of a blob (``LONG_HEAD_BYTES`` of bzip2 data whose first block
    is longer, ``content.wants_longer_head``): a ranged read where the store offers one
    (``read_head``), the stored file itself on a local store, else a download of a blob of at
    most ``MAX_SNIFF_DOWNLOAD`` bytes."""
    ranged = getattr(store, "read_head", None)

    def read(blob: BlobInfo) -> bytes:
        if callable(ranged):
            head = bytes(ranged(container, blob.path, HEAD_BYTES))
            if wants_longer_head(head):
                head = bytes(ranged(container, blob.path, LONG_HEAD_BYTES))
            return head
        if not isinstance(store, LocalBlobStore) and blob.size > MAX_SNIFF_DOWNLOAD:
            raise TooLargeError(
                f"too large ({blob.size} bytes) to recognise by its content in the sensor; "
                "name it with its format's extension (.tif, .gpkg...)",
                path=blob.path,
            )
        with store.local_copy(container, blob.path) as local, local.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
            return head + fh.read(LONG_HEAD_BYTES - len(head)) if wants_longer_head(head) else head

    return read


def tail_reader(store: BlobStore, container: str) -> HeadReader:
    """The last ``zip_kind.TAIL_BYTES`` of a blob (a ranged read): a zip's member list."""

    def read(blob: BlobInfo) -> bytes:
        length = min(blob.size, TAIL_BYTES)
        return bytes(store.read_range(container, blob.path, blob.size - length, length))

    return read


def collection_membership(store: BlobStore, platform: PlatformResource) -> Callable[[str], bool]:
    """Whether a bronze blob belongs to a raster collection: under a configured prefix, or in a
    folder (or below one) holding a ``_collection.json`` marker. One lookup per folder; a
    lookup that fails raises for every blob of that folder (the tick skips them, not itself)."""
    prefixes = parse_prefixes(platform.raster_collections)
    marked: dict[str, bool | Exception] = {}

    def has_marker(folder: str) -> bool:
        if folder not in marked:
            try:
                marked[folder] = store.exists(platform.bronze_container, f"{folder}/{MARKER_NAME}")
            except Exception as exc:
                marked[folder] = exc
        found = marked[folder]
        if isinstance(found, Exception):
            raise found
        return found

    def member(path: str) -> bool:
        if collection_prefix_for(path, prefixes):
            return True
        parts = path.split("/")[:-1]
        return any(has_marker("/".join(parts[: i + 1])) for i in range(len(parts)))

    return member


def _log_plan(
    log: object, plan: TickPlan, req: TickRequests, listing_errors: dict[str, str] | None = None
) -> None:
    info = getattr(log, "info", print)
    warning = getattr(log, "warning", print)
    new = {k: len(v) for k, v in plan.new.items()}
    changed = {k: len(v) for k, v in plan.changed.items()}
    info(
        f"bronze: listed {plan.listed} blobs; new {new}; changed {changed}; "
        f"removed {len(plan.removed)}; sidecars {plan.sidecars}; runs {len(req.runs)}; "
        f"unchanged partitions skipped {req.skipped_same_etag}; "
        f"recognised by content {plan.sniffed}"
    )
    for where, error in (listing_errors or {}).items():
        warning(f"bronze: {where} failed; the rest of the tick goes on: {error}")
    for name, reason in reportable(plan.unsupported, 50).items():
        warning(f"bronze: not publishing {name!r}: {reason}")
    if len(plan.unsupported) > 50:
        warning(f"bronze: ... and {len(plan.unsupported) - 50} more unsupported blobs")
    for name, reason in reportable(plan.retry, 50).items():
        warning(f"bronze: skipping {name!r} this tick: {reason}")
    for path in list(plan.removed)[:50]:
        warning(f"bronze: {path!r} was removed; derived data is kept (unpublish to remove it)")
    if plan.deferred:
        info(f"bronze: {plan.deferred} new blobs deferred to the next tick (limit per tick)")


def build_bronze_sensor(
    interval_seconds: int = 30, reconciler: bool = False
) -> dg.SensorDefinition:
    """The listing sensor, every ``interval_seconds`` (GEO_PLATFORM_SENSOR_INTERVAL; with
    events on, GEO_PLATFORM_RECONCILE_INTERVAL: it then reconciles what events missed)."""
    role = (
        "Reconciles the bronze container with the blob events (bronze_event_sensor): lists it "
        f"every {interval_seconds} s and catches what events missed. "
        if reconciler
        else f"Watches the bronze container (listed every {interval_seconds} s): "
    )

    @dg.sensor(
        name="bronze_sensor",
        jobs=list(PIPELINE_JOBS.values()),
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=role
        + "new files become partitions and runs, changed files (new etag) run again, removed "
        "and unsupported files are reported.",
    )
    def bronze_sensor(
        context: dg.SensorEvaluationContext,
        blob_store: dg.ResourceParam[BlobStore],
        platform: PlatformResource,
    ) -> dg.SensorResult:
        return bronze_tick(context.instance, blob_store, platform, context.cursor, context.log)

    return bronze_sensor


bronze_sensor = build_bronze_sensor()
"""With the default interval (tests, benchmarks); the code location builds its own from settings
(``geo_platform.defs.bronze.build_defs``)."""
