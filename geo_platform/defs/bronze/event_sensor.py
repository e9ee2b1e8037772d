"""The bronze event sensor: blob events from a Storage Queue become partitions and runs.

Azure Blob Storage announces every blob written or deleted to Event Grid, and an Event Grid
subscription writes those events to a Storage Queue (deploy/README.md, "Event Grid -> Storage
Queue"). Each tick reads at most ``MAX_MESSAGES`` messages from that queue, so it costs in
proportion to the events, never to the size of the container: no listing, and only the
partitions the events name are looked up (``requests_for_plan(..., bounded=True)``: new files
are batched into partition ranges as the listing sensor does; a file whose partition exists
already, a changed one, runs on its own). The listing sensor (``bronze_sensor``) stays, on a
slower interval, as the reconciler that catches what events missed (events do get lost).

A tick does what the listing sensor does with the blobs the events name, through the same
planning (``lib.bronze.plan_tick``: names, kinds, collections, sidecars, content sniffing) and
the same requests (``sensors.requests_for_plan``: partition adds, batched runs whose run keys
hash partition + etag, removal observations).

When is a message deleted? Only once the partitions and runs it caused are recorded:

1. A tick *receives* messages with a visibility timeout: they stay in the queue, hidden.
2. It returns its ``SensorResult`` with the messages' ids and pop receipts as its cursor.
   Dagster commits the result after the function returns: partitions, then runs, then the
   cursor. The function itself never deletes what it has just received (a tick that fails
   to commit would lose those events).
3. The *next* tick starts by deleting the messages named in its cursor: a cursor is only
   visible once the tick that wrote it was committed, runs included. Azure deletes one
   message a request, so a tick spends at most ``DELETE_BUDGET_S`` on it and carries the
   rest in its own cursor to the ticks after (a burst is cleaned up over a few ticks, and no
   tick holds up the sensor daemon); while ``MAX_OUTSTANDING`` messages wait to be deleted,
   it reads fewer new ones.

If a tick fails or its commit is cut short, its cursor is not stored, its messages are not
deleted, and they come back after the visibility timeout: they are processed again. Processing
an event again is a no-op: for a partition that exists, a run is requested only if its etag is
neither the one it was last materialized from nor on its way in an unfinished run of either
bronze sensor (every run they request carries ``ETAGS_TAG``); and a run request that is
repeated as it was keeps its run key, which Dagster does not launch twice. The same check makes
a duplicate event (Event Grid delivers at least once) and a reconciler tick that lists a blob
an event already brought in no-ops, so each file version gets one run. A message whose blob a
tick had to put off (content sniffing limit, a collection marker that could not be read) is
not deleted: it comes back after the timeout. Unreadable messages are reported (an observation
of ``bronze_inventory``) and deleted; the reconciler finds their blobs.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg

from geo_platform.defs.bronze.jobs import PIPELINE_JOBS
from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.defs.bronze.sensors import (
    MAX_SNIFFS,
    TickRequests,
    collection_membership,
    head_reader,
    requests_for_plan,
    tail_reader,
)
from geo_platform.lib.blob_events import BlobEvent, latest_per_blob, parse_message
from geo_platform.lib.bronze import (
    TickPlan,
    classify,
    extension,
    plan_tick,
    state_entry,
)
from geo_platform.lib.file_kinds import envi_data_files
from geo_platform.lib.naming import partition_key_for_blob
from geo_platform.lib.sidecar_events import companions_prefix, files_of_sidecar
from geo_platform.lib.types import BlobInfo, DataKind
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PlatformResource
from geo_platform.store.queue import DeleteReport, EventQueue, QueueMessage

EVENT_SENSOR_NAME = "bronze_event_sensor"
MAX_MESSAGES = 1000
"""Messages one tick reads (Azure returns 32 a request; they are read in parallel)."""
MIN_VISIBILITY_TIMEOUT = 300
DELETE_BUDGET_S = 0.5
"""Seconds a tick spends at most deleting handled messages (one request each)."""
MAX_OUTSTANDING = 2 * MAX_MESSAGES
"""Handled messages waiting to be deleted, at most: beyond, a tick reads fewer new ones."""
MAX_REPORTED = 100


@dataclass
class EventBatch:
    """The messages of one tick, read: the last event of each bronze blob, and the rest."""

    events: list[BlobEvent] = field(default_factory=list)
    messages_of: dict[str, set[str]] = field(default_factory=dict)
    """blob path -> ids of the messages that announced it."""
    unreadable: dict[str, str] = field(default_factory=dict)
    """message id -> why it could not be read."""
    ignored: Counter[str] = field(default_factory=Counter)
    """Events of other types, and events of other containers, by kind."""


def read_batch(messages: Sequence[QueueMessage], container: str) -> EventBatch:
    """Parse messages; keep the events of ``container``, the last one per blob."""
    batch = EventBatch()
    found: list[BlobEvent] = []
    for message in messages:
        try:
            parsed = parse_message(message.content)
        except Exception as exc:  # a message we cannot read is reported, never a failed tick
            batch.unreadable[message.id] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        batch.ignored.update(parsed.ignored)
        for event in parsed.events:
            if event.container != container:
                batch.ignored[f"container {event.container!r}"] += 1
                continue
            found.append(event)
            batch.messages_of.setdefault(event.path, set()).add(message.id)
    batch.events = latest_per_blob(found)
    return batch


def plan_events(
    instance: dg.DagsterInstance, batch: EventBatch, store: BlobStore, platform: PlatformResource
) -> TickPlan:
    """The listing sensor's plan, for the blobs the events name (created ones as a listing of
    new blobs, deleted ones as blobs gone from a state that held them)."""
    listing: list[BlobInfo] = []
    deleted: dict[str, str] = {}  # partition key -> blob path
    for event in batch.events:
        if event.kind == "created":
            size = event.size
            if size is None:  # BlobCreated always carries contentLength; be safe anyway
                info = store.stat(platform.bronze_container, event.path)
                if info is None:
                    continue  # gone again: its BlobDeleted follows
                size = info.size
            listing.append(BlobInfo(event.path, size, event.etag))
        else:
            deleted[partition_key_for_blob(event.path)] = event.path
    gone: dict[str, str] = {}  # blob path -> kind letter, for the partitions that exist
    for kind, parts in PARTITIONS.items():
        if deleted:
            for key in instance.get_existing_dynamic_partitions(parts.name, list(deleted)):
                gone[deleted[key]] = kind[0]
    # A created sidecar (a .dbf after its .shp, a .prj added): its file runs again. The file is
    # listed as known, so that plan_tick sees only its sidecar as new.
    for main, kind in _files_of_created_sidecars(store, platform.bronze_container, listing):
        listing.append(main)
        gone[main.path] = state_entry(kind, main.etag)
    listing.extend(_envi_data_of_created_headers(store, platform.bronze_container, listing))
    return plan_tick(
        listing,
        gone,
        max_new=platform.sensor_max_adds_per_tick,
        in_collection=collection_membership(store, platform),
        read_head=head_reader(store, platform.bronze_container),
        max_sniffs=MAX_SNIFFS,
        read_tail=tail_reader(store, platform.bronze_container),
    )


def _files_of_created_sidecars(
    store: BlobStore, container: str, created: list[BlobInfo]
) -> list[tuple[BlobInfo, DataKind]]:
    named = {b.path for b in created}
    found: dict[str, tuple[BlobInfo, DataKind]] = {}
    bare = 0  # blobs looked up that may be sidecars by what is beside them: extensionless
    for blob in created:  # (an ER Mapper header's data file), a MapInfo .tab placing a raster
        if classify(blob.path, blob.size).kind != "sidecar":
            if extension(blob.path) not in ("", ".tab") or bare >= MAX_SNIFFS:
                continue  # beyond the cap (a Zarr store's chunks): the reconciler's listing
            bare += 1
        near = store.list_blobs(container, prefix=companions_prefix(blob.path))
        for main, kind in files_of_sidecar(blob.path, near):
            if main.path not in named:
                found[main.path] = (main, kind)
    return list(found.values())


def _envi_data_of_created_headers(
    store: BlobStore, container: str, created: list[BlobInfo]
) -> list[BlobInfo]:
    """The ENVI data files (``file_kinds.envi_data_files``) a created ``.hdr`` makes rasters,
    when they arrived in an earlier batch (and were taken for unrecognised binary then)."""
    named = {b.path for b in created}
    found: dict[str, BlobInfo] = {}
    for header in created:
        if extension(header.path) != ".hdr":
            continue
        near = list(store.list_blobs(container, prefix=companions_prefix(header.path)))
        envi = envi_data_files([*(b.path for b in near), header.path])
        found.update({b.path: b for b in near if b.path in envi and b.path not in named})
    return list(found.values())


def put_off(batch: EventBatch, plan: TickPlan) -> set[str]:
    """Ids of the messages not to delete: those announcing a blob the plan put off."""
    keep: set[str] = set()
    for event in batch.events:
        if event.kind == "created" and event.path not in plan.state:
            keep |= batch.messages_of.get(event.path, set())
    return keep


def encode_cursor(receipts: Sequence[tuple[str, str]]) -> str:
    return json.dumps({"delete": [list(r) for r in receipts]}, separators=(",", ":"))


def decode_cursor(cursor: str | None) -> list[tuple[str, str]]:
    """The (message id, pop receipt) pairs to delete; an unreadable cursor deletes nothing
    (those messages come back and are no-ops)."""
    if not cursor:
        return []
    try:
        return [(str(i), str(r)) for i, r in json.loads(cursor)["delete"]]
    except (ValueError, KeyError, TypeError):
        return []


def event_tick(
    instance: dg.DagsterInstance,
    queue: EventQueue,
    store: BlobStore,
    platform: PlatformResource,
    cursor: str | None,
    log: object,
    visibility_timeout: int = MIN_VISIBILITY_TIMEOUT,
    max_messages: int = MAX_MESSAGES,
) -> dg.SensorResult:
    """One evaluation of the event sensor (separate from the decorator for tests and benches)."""
    if not queue.configured:
        return dg.SensorResult(skip_reason="no event queue configured (GEO_PLATFORM_EVENT_QUEUE)")
    # The ticks that received these are committed: their messages can go.
    deleted = queue.delete(decode_cursor(cursor), budget_s=DELETE_BUDGET_S)
    room = min(max_messages, MAX_OUTSTANDING - len(deleted.left))
    messages = queue.receive(room, visibility_timeout) if room > 0 else []
    batch = read_batch(messages, platform.bronze_container)
    plan = plan_events(instance, batch, store, platform)
    req = requests_for_plan(instance, plan, platform.sensor_batch_size, bounded=True)
    if batch.unreadable:
        req.events.append(_unreadable_observation(batch.unreadable))
    keep = put_off(batch, plan)
    done = deleted.left + [(m.id, m.pop_receipt) for m in messages if m.id not in keep]
    _log(log, messages, batch, plan, req, deleted, len(keep))
    if not messages and not deleted.deleted:
        return dg.SensorResult(skip_reason="no blob events", cursor=encode_cursor(done))
    return dg.SensorResult(
        run_requests=req.runs,
        dynamic_partitions_requests=[
            PARTITIONS[kind].build_add_request(keys) for kind, keys in req.add.items() if keys
        ],
        asset_events=req.events,
        cursor=encode_cursor(done),
    )


def _unreadable_observation(unreadable: dict[str, str]) -> dg.AssetObservation:
    shown = dict(list(unreadable.items())[:MAX_REPORTED])
    return dg.AssetObservation(
        asset_key=dg.AssetKey("bronze_inventory"),
        metadata={
            "unreadable_events": len(unreadable),
            "unreadable_messages": dg.MetadataValue.json(shown),
        },
    )


def _log(
    log: object,
    messages: Sequence[QueueMessage],
    batch: EventBatch,
    plan: TickPlan,
    req: TickRequests,
    deleted: DeleteReport,
    kept: int,
) -> None:
    info = getattr(log, "info", print)
    warning = getattr(log, "warning", print)
    kinds = Counter(e.kind for e in batch.events)
    new = {k: len(v) for k, v in plan.new.items()}
    info(
        f"bronze events: {len(messages)} messages, {dict(kinds)} blobs; new {new}; removed "
        f"{len(plan.removed)}; runs {len(req.runs)}; already on their way or done "
        f"{req.skipped_same_etag}; put off {kept} messages; deleted {deleted.deleted} handled "
        f"messages of earlier ticks ({len(deleted.left)} left for the next tick)"
    )
    if deleted.failed:
        warning(f"bronze events: {len(deleted.failed)} messages could not be deleted (they return)")
    if batch.ignored:
        info(f"bronze events: ignored {dict(batch.ignored)}")
    for message_id, reason in list(batch.unreadable.items())[:20]:
        warning(f"bronze events: unreadable message {message_id}: {reason}")


def build_event_sensor(
    interval_seconds: int = 10, enabled: bool = False, visibility_timeout: int | None = None
) -> dg.SensorDefinition:
    """The event sensor, every ``interval_seconds`` (GEO_PLATFORM_EVENT_SENSOR_INTERVAL);
    running by default when a queue is configured (GEO_PLATFORM_EVENT_QUEUE).

    Received messages stay hidden for ``visibility_timeout`` seconds (default: ten intervals,
    at least 5 minutes): long enough for the next tick to delete them, short enough that the
    messages of a tick that failed come back soon."""
    visibility = visibility_timeout or max(MIN_VISIBILITY_TIMEOUT, 10 * interval_seconds)

    @dg.sensor(
        name=EVENT_SENSOR_NAME,
        jobs=list(PIPELINE_JOBS.values()),
        minimum_interval_seconds=interval_seconds,
        default_status=(
            dg.DefaultSensorStatus.RUNNING if enabled else dg.DefaultSensorStatus.STOPPED
        ),
        description=(
            "Reads bronze blob events (Event Grid -> Storage Queue, GEO_PLATFORM_EVENT_QUEUE) "
            f"every {interval_seconds} s: created files become partitions and runs, deleted "
            "files are reported; no listing. A message is deleted by the tick after the one "
            "that handled it, once that tick's runs are recorded."
        ),
    )
    def bronze_event_sensor(
        context: dg.SensorEvaluationContext,
        event_queue: dg.ResourceParam[EventQueue],
        blob_store: dg.ResourceParam[BlobStore],
        platform: PlatformResource,
    ) -> dg.SensorResult:
        return event_tick(
            context.instance,
            event_queue,
            blob_store,
            platform,
            context.cursor,
            context.log,
            visibility_timeout=visibility,
        )

    return bronze_event_sensor
