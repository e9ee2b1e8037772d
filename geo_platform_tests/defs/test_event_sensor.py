"""The bronze event sensor against real Azurite (blob + queue), ticked by Dagster's own sensor
daemon loop on a real instance: lost, duplicate and redelivered events, a tick whose commit
never happened, and the listing reconciler catching what events missed, exactly once.

The daemon loop (``execute_sensor_iteration``) is what production runs: it evaluates each due
sensor, then commits its result (partitions, runs, cursor). Runs are queued (a queued run
coordinator with nothing dequeuing them), so the test sees exactly what the sensors asked for.
Time is frozen and advanced between iterations, so which sensor is due is decided by the test.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import logging
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pytest
from azure.storage.blob import BlobServiceClient
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.sensor import execute_sensor_iteration

from geo_platform.definitions import build_definitions
from geo_platform.defs.bronze.event_sensor import (
    EVENT_SENSOR_NAME,
    build_event_sensor,
    event_tick,
)
from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.defs.bronze.sensors import ETAGS_TAG, build_bronze_sensor
from geo_platform.lib.errors import ConfigError
from geo_platform.lib.naming import partition_key_for_blob
from geo_platform.lib.types import BlobInfo
from geo_platform.resources import event_queue_from_settings
from geo_platform.resources.blob_store import AzureBlobStore
from geo_platform.services.azurite import ensure_azurite
from geo_platform.settings import Settings
from geo_platform.store.queue import EventQueue

pytestmark = pytest.mark.azurite

EVENT_INTERVAL = 10
RECONCILE_INTERVAL = 600
VISIBILITY = 5
"""Seconds a received message stays hidden: short, so a failed tick's messages return soon, and
longer than a few daemon iterations on a busy machine."""

HARNESS: dg.Definitions | None = None
"""The code location the daemon loads (this module, in process): set by the fixture."""


@dataclasses.dataclass
class World:
    """A private bronze container and event queue on Azurite, a Dagster instance, a clock."""

    store: AzureBlobStore
    queue: EventQueue
    container: str
    instance: dg.DagsterInstance
    context: Any
    now: datetime
    sequencer: int = 0

    def upload(self, path: str, data: bytes = b"II*\x00tiny") -> BlobInfo:
        self.store.upload_bytes(self.container, path, data)
        info = self.store.stat(self.container, path)
        assert info is not None
        return info

    def event(self, blob: BlobInfo | str, kind: str = "BlobCreated", schema: str = "eg") -> str:
        """The message Event Grid writes for this blob (base64 of the event's JSON)."""
        self.sequencer += 1
        path = blob if isinstance(blob, str) else blob.path
        data: dict[str, Any] = {
            "api": "PutBlob" if kind == "BlobCreated" else "DeleteBlob",
            "url": f"http://127.0.0.1/devstoreaccount1/{self.container}/{path}",
            "sequencer": f"{self.sequencer:032x}",
            "blobType": "BlockBlob",
        }
        if isinstance(blob, BlobInfo):
            data.update(eTag=blob.etag, contentLength=blob.size)
        subject = f"/blobServices/default/containers/{self.container}/blobs/{path}"
        event: dict[str, Any] = (
            {"eventType": f"Microsoft.Storage.{kind}", "subject": subject, "data": data}
            if schema == "eg"
            else {"specversion": "1.0", "type": f"Microsoft.Storage.{kind}", "subject": subject,
                  "source": "/subscriptions/x", "data": data}
        )  # fmt: skip
        event["id"] = str(uuid.uuid4())
        return base64.b64encode(json.dumps(event).encode()).decode()

    def tick(self, seconds: float) -> None:
        """Advance the clock, then one iteration of the sensor daemon (evaluate and commit)."""
        self.now += timedelta(seconds=seconds)
        with freeze_time(self.now):
            for _ in execute_sensor_iteration(
                self.context, logging.getLogger("sensor-daemon"), None, None
            ):
                pass

    def runs_by_blob(self) -> dict[str, list[tuple[str, str]]]:
        """For each partition key: (sensor, etag) of every run requested for it. Checks that
        each run's partitions (one, or a range of the partition order) are exactly the files
        it was asked for."""
        out: dict[str, list[tuple[str, str]]] = {}
        for rec in self.instance.get_run_records(ascending=True):
            tags = rec.dagster_run.tags
            assert rec.dagster_run.status == dg.DagsterRunStatus.QUEUED
            assert set(self._covered(tags)) == set(json.loads(tags[ETAGS_TAG]))
            for key, etag in json.loads(tags[ETAGS_TAG]).items():
                out.setdefault(key, []).append((tags.get("dagster/sensor_name", ""), etag))
        return out

    def _covered(self, tags: dict[str, str]) -> list[str]:
        if "dagster/partition" in tags:
            return [tags["dagster/partition"]]
        start, end = (
            tags["dagster/asset_partition_range_start"],
            tags["dagster/asset_partition_range_end"],
        )
        for parts in PARTITIONS.values():
            keys = self.instance.get_dynamic_partitions(parts.name)
            if start in keys:
                return keys[keys.index(start) : keys.index(end) + 1]
        raise AssertionError(f"range {start}..{end} in no partition definition")

    def partitions(self) -> set[str]:
        return {
            k for p in PARTITIONS.values() for k in self.instance.get_dynamic_partitions(p.name)
        }

    def _state(self, sensor: str) -> Any:
        (state,) = [s for s in self.instance.all_instigator_state() if s.name == sensor]
        return state

    def cursor(self, sensor: str) -> str | None:
        return self._state(sensor).instigator_data.cursor

    def set_cursor(self, sensor: str, cursor: str | None) -> None:
        """What a daemon that died after creating a tick's runs, before storing its cursor,
        leaves behind: the runs, and the previous cursor."""
        state = self._state(sensor)
        data = state.instigator_data._replace(cursor=cursor)
        self.instance.update_instigator_state(state.with_data(data))

    def removals(self, path: str) -> list[str]:
        records = self.instance.fetch_observations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey("bronze_raster"),
                asset_partitions=[partition_key_for_blob(path)],
            ),
            limit=10,
        ).records
        return [str(r.asset_observation.metadata["status"].value) for r in records]  # type: ignore[union-attr]


@pytest.fixture
def world(azurite_connection_string: str, settings: Settings) -> Iterator[World]:
    global HARNESS
    suffix = uuid.uuid4().hex[:10]
    container, queue_name = f"bronze-{suffix}", f"events-{suffix}"
    configured = dataclasses.replace(
        settings,
        blob_backend="azure",
        azure_connection_string=azurite_connection_string,
        bronze_container=container,
        event_queue=queue_name,
        sensor_batch_size=3,
    )
    full = build_definitions(configured)
    resources = dict(full.resources or {})
    store, queue = resources["blob_store"], resources["event_queue"]
    store.ensure_container(container)
    queue.ensure_queue()
    HARNESS = dg.Definitions(
        assets=full.assets,
        asset_checks=full.asset_checks,
        jobs=full.jobs,
        sensors=[
            build_bronze_sensor(RECONCILE_INTERVAL, reconciler=True),
            build_event_sensor(EVENT_INTERVAL, enabled=True, visibility_timeout=VISIBILITY),
        ],
        resources=resources,
    )
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name=__name__, attribute="HARNESS"), location_name="harness"
    )
    overrides = {
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
        }
    }
    with (
        dg.instance_for_test(overrides=overrides) as instance,
        create_test_daemon_workspace_context(
            InProcessWorkspaceLoadTarget(origin), instance
        ) as context,
    ):
        w = World(store, queue, container, instance, context, datetime.now(UTC))
        w.tick(0)  # both sensors' first tick: the container and the queue are empty
        yield w
    queue.client().delete_queue()
    queue.close()
    BlobServiceClient.from_connection_string(azurite_connection_string).delete_container(container)


def test_lost_events_are_caught_by_the_reconciler_exactly_once(world: World) -> None:
    blobs = [world.upload(f"rasters/t{i:02d}.tif") for i in range(9)]
    blobs += [world.upload(f"vectors/v{i:02d}.gpkg", b"SQLite format 3\x00") for i in range(3)]
    lost = {b.path for b in blobs[::3]}  # a third of the events never arrive
    delivered = [b for b in blobs if b.path not in lost]
    messages = [world.event(b, schema="eg" if i % 2 else "ce") for i, b in enumerate(delivered)]
    messages += [world.event(delivered[0]), world.event(delivered[5])]  # delivered twice
    world.queue.send(messages)

    world.tick(EVENT_INTERVAL + 1)  # events: partitions and runs
    world.tick(EVENT_INTERVAL + 1)  # deletes the handled messages
    runs = world.runs_by_blob()
    assert set(runs) == {partition_key_for_blob(b.path) for b in delivered}
    assert world.queue.approximate_count() == 0

    world.tick(RECONCILE_INTERVAL)  # the reconciler lists the container
    runs = world.runs_by_blob()
    assert world.partitions() == {partition_key_for_blob(b.path) for b in blobs}
    for blob in blobs:
        requested = runs[partition_key_for_blob(blob.path)]
        sensor = "bronze_sensor" if blob.path in lost else EVENT_SENSOR_NAME
        assert requested == [(sensor, blob.etag)], blob.path  # one run, by the right sensor

    world.tick(RECONCILE_INTERVAL)  # nothing new anywhere: no more runs
    assert world.runs_by_blob() == runs


def test_changed_files_among_new_ones_never_stretch_a_range(world: World) -> None:
    """A batch of events names new files and files whose partitions exist (changed): the new
    ones are batched into ranges of the partition order, the changed ones run on their own,
    and no run covers a partition it was not asked for."""
    first = [world.upload(f"batch/a{i}.tif") for i in range(4)]
    world.queue.send(world.event(b) for b in first)
    world.tick(EVENT_INTERVAL + 1)
    changed = [world.upload(b.path, b"II*\x00v2") for b in first[1:3]]
    new = [world.upload(f"batch/b{i}.tif") for i in range(4)]
    world.queue.send(world.event(b) for b in [new[0], changed[0], new[1], new[2], changed[1]])
    world.queue.send([world.event(new[3])])
    world.tick(EVENT_INTERVAL + 1)
    runs = world.runs_by_blob()  # checks every run's partitions against its files
    for blob in [*changed, *new]:
        assert runs[partition_key_for_blob(blob.path)][-1] == (EVENT_SENSOR_NAME, blob.etag)
    assert sum(map(len, runs.values())) == 4 + 2 + 4


def test_deletions_beyond_a_ticks_budget_are_carried_to_the_next(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tick deletes handled messages for at most DELETE_BUDGET_S; the rest ride along in its
    cursor and go in later ticks, while new events keep being handled."""
    import geo_platform.defs.bronze.event_sensor as event_sensor

    blobs = [world.upload(f"slow/s{i}.tif") for i in range(5)]
    world.queue.send(world.event(b) for b in blobs[:3])
    world.tick(EVENT_INTERVAL + 1)  # handles three
    monkeypatch.setattr(event_sensor, "DELETE_BUDGET_S", 0)
    world.queue.send(world.event(b) for b in blobs[3:])
    world.tick(EVENT_INTERVAL + 1)  # deletes nothing, handles two more
    assert len(event_sensor.decode_cursor(world.cursor(EVENT_SENSOR_NAME))) >= 5
    assert world.queue.approximate_count() == 5  # the first three still there
    monkeypatch.setattr(event_sensor, "DELETE_BUDGET_S", 30)
    world.tick(EVENT_INTERVAL + 1)
    assert event_sensor.decode_cursor(world.cursor(EVENT_SENSOR_NAME)) == []
    assert world.queue.approximate_count() == 0
    assert world.runs_by_blob() == {
        partition_key_for_blob(b.path): [(EVENT_SENSOR_NAME, b.etag)] for b in blobs
    }


def test_a_tick_that_never_commits_loses_nothing(world: World) -> None:
    """Messages are deleted by the tick after the one that handled them: a tick whose result
    was never committed leaves them in the queue, and they come back."""
    blobs = [world.upload(f"crash/c{i}.tif") for i in range(4)]
    world.queue.send(world.event(b) for b in blobs)
    resources = HARNESS.resources  # type: ignore[union-attr]
    lost = event_tick(
        world.instance,
        world.queue,
        world.store,
        resources["platform"],
        world.cursor(EVENT_SENSOR_NAME),
        None,
        visibility_timeout=VISIBILITY,
    )  # evaluated, then the process dies: nothing of it is committed
    assert sum(len(json.loads(r.tags[ETAGS_TAG])) for r in lost.run_requests) == 4
    world.tick(EVENT_INTERVAL + 1)
    assert world.runs_by_blob() == {} and world.partitions() == set()  # hidden, not lost
    time.sleep(VISIBILITY + 0.5)
    world.tick(EVENT_INTERVAL + 1)  # redelivered: handled and committed
    world.tick(EVENT_INTERVAL + 1)  # and deleted
    assert world.runs_by_blob() == {
        partition_key_for_blob(b.path): [(EVENT_SENSOR_NAME, b.etag)] for b in blobs
    }
    assert world.queue.approximate_count() == 0


def test_runs_recorded_but_cursor_lost_is_a_no_op_on_redelivery(world: World) -> None:
    """A daemon that died between creating a tick's runs and storing its cursor: the messages
    come back (never deleted), and handling them again asks for nothing twice, even in a batch
    grouped differently (so with other run keys)."""
    blobs = [world.upload(f"half/h{i}.tif") for i in range(4)]
    world.queue.send(world.event(b) for b in blobs)
    before = world.cursor(EVENT_SENSOR_NAME)
    world.tick(EVENT_INTERVAL + 1)
    first = world.runs_by_blob()
    assert len(first) == 4
    world.set_cursor(EVENT_SENSOR_NAME, before)
    late = world.upload("half/later.tif")
    world.queue.send([world.event(late)])
    time.sleep(VISIBILITY + 0.5)
    world.tick(EVENT_INTERVAL + 1)  # the four again (redelivered) and a new one
    world.tick(EVENT_INTERVAL + 1)
    runs = world.runs_by_blob()
    assert {k: v for k, v in runs.items() if k in first} == first  # nothing twice
    assert runs[partition_key_for_blob(late.path)] == [(EVENT_SENSOR_NAME, late.etag)]
    assert world.queue.approximate_count() == 0


def test_duplicate_late_changed_deleted_and_unreadable_events(world: World) -> None:
    a, b = world.upload("mix/a.tif"), world.upload("mix/b.tif")
    c = world.upload("mix/c.tif")  # its event is lost
    world.queue.send([world.event(a), world.event(a, schema="ce"), world.event(b)])
    world.tick(EVENT_INTERVAL + 1)
    world.tick(RECONCILE_INTERVAL)  # the reconciler: a and b are on their way, c is new
    key = {x.path: partition_key_for_blob(x.path) for x in (a, b, c)}
    assert world.runs_by_blob() == {
        key[a.path]: [(EVENT_SENSOR_NAME, a.etag)],
        key[b.path]: [(EVENT_SENSOR_NAME, b.etag)],
        key[c.path]: [("bronze_sensor", c.etag)],
    }

    # Late duplicates (Event Grid delivers at least once), c's event after the reconciler's run.
    world.queue.send([world.event(a), world.event(c)])
    world.tick(EVENT_INTERVAL + 1)
    assert len(world.runs_by_blob()) == 3 and sum(map(len, world.runs_by_blob().values())) == 3

    # a changes: one more run, for its new etag; the reconciler then sees it on its way.
    a2 = world.upload("mix/a.tif", b"II*\x00changed")
    assert a2.etag != a.etag
    world.queue.send([world.event(a2)])
    world.tick(EVENT_INTERVAL + 1)
    world.tick(RECONCILE_INTERVAL)
    assert world.runs_by_blob()[key[a.path]] == [
        (EVENT_SENSOR_NAME, a.etag),
        (EVENT_SENSOR_NAME, a2.etag),
    ]

    # b is deleted: reported on its partition (derived data is kept), no run.
    world.store.delete(world.container, b.path)
    garbage = "this is not an event"
    event = json.loads(base64.b64decode(world.event(a2)))  # the same, in another container

    event["subject"] = event["subject"].replace(world.container, "elsewhere")
    world.queue.send([world.event(b.path, "BlobDeleted"), garbage, json.dumps(event)])
    world.tick(EVENT_INTERVAL + 1)
    world.tick(EVENT_INTERVAL + 1)
    assert world.removals(b.path) == ["removed from bronze"]
    assert sum(map(len, world.runs_by_blob().values())) == 4  # a twice, b and c once
    assert world.queue.approximate_count() == 0  # the unreadable one too, once reported
    inventory = world.instance.fetch_observations(dg.AssetKey("bronze_inventory"), limit=5)
    reported = [r.asset_observation.metadata for r in inventory.records]  # type: ignore[union-attr]
    assert [m["unreadable_events"].value for m in reported if "unreadable_events" in m] == [1]


def test_a_sidecar_event_runs_its_file_again_and_the_reconciler_agrees(world: World) -> None:
    shp = world.upload("shapes/roads.shp")
    world.upload("shapes/roads.shx")
    world.queue.send([world.event(shp)])
    world.tick(EVENT_INTERVAL + 1)
    key = partition_key_for_blob(shp.path)
    assert world.runs_by_blob() == {key: [(EVENT_SENSOR_NAME, shp.etag)]}
    dbf = world.upload("shapes/roads.dbf")  # the .dbf arrives later
    world.queue.send([world.event(dbf)])
    world.tick(EVENT_INTERVAL + 1)
    runs = world.runs_by_blob()[key]
    assert len(runs) == 2 and runs[1][1].startswith(f"{shp.etag}+sidecars:")
    world.tick(RECONCILE_INTERVAL)  # the reconciler lists both versions as on their way
    world.tick(RECONCILE_INTERVAL)  # and then nothing changed
    assert world.runs_by_blob()[key] == runs


def test_an_er_mapper_data_file_arriving_later_runs_its_header_again(world: World) -> None:
    """ER Mapper: GDAL opens ``dem.ers``, which names its data file ``dem`` (no extension).
    The data file is the header's sidecar: arriving later, it runs the header again; it is
    never a partition of its own, nor reported unsupported."""
    header = world.upload("ers/dem.ers", b"DatasetHeader Begin\nDatasetHeader End\n")
    world.queue.send([world.event(header)])
    world.tick(EVENT_INTERVAL + 1)
    key = partition_key_for_blob(header.path)
    assert world.runs_by_blob() == {key: [(EVENT_SENSOR_NAME, header.etag)]}
    data = world.upload("ers/dem", b"\x00\x01" * 64)
    world.queue.send([world.event(data)])
    world.tick(EVENT_INTERVAL + 1)
    runs = world.runs_by_blob()[key]
    assert len(runs) == 2 and runs[1][1].startswith(f"{header.etag}+sidecars:")
    assert world.instance.get_dynamic_partitions(PARTITIONS["raster"].name) == [key]
    world.tick(RECONCILE_INTERVAL)
    world.tick(RECONCILE_INTERVAL)
    assert world.runs_by_blob()[key] == runs


def test_a_mapinfo_tab_arriving_after_its_picture_runs_it_again(world: World) -> None:
    """A ``.tab`` beside a picture of the same name places it (MapInfo raster registration):
    arriving later it runs the picture again, and is never a vector partition of its own."""
    picture = world.upload("sheets/sheet.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    world.queue.send([world.event(picture)])
    world.tick(EVENT_INTERVAL + 1)
    key = partition_key_for_blob(picture.path)
    assert world.runs_by_blob() == {key: [(EVENT_SENSOR_NAME, picture.etag)]}
    tab = world.upload("sheets/sheet.tab", b'!table\nDefinition Table\n  Type "RASTER"\n')
    world.queue.send([world.event(tab)])
    world.tick(EVENT_INTERVAL + 1)
    runs = world.runs_by_blob()[key]
    assert len(runs) == 2 and runs[1][1].startswith(f"{picture.etag}+sidecars:")
    assert world.instance.get_dynamic_partitions(PARTITIONS["vector"].name) == []
    world.tick(RECONCILE_INTERVAL)
    world.tick(RECONCILE_INTERVAL)
    assert world.runs_by_blob()[key] == runs
    assert world.instance.get_dynamic_partitions(PARTITIONS["vector"].name) == []


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_a_zip_of_rasters_is_a_raster_partition_on_both_sensors(world: World) -> None:
    """A .zip's member list comes from a ranged read of its end on Azure Blob."""
    scan = world.upload("deliveries/scan.zip", _zip({"scan/scan.tif": b"II*\x00", "x.txt": b""}))
    roads = world.upload("deliveries/roads.zip", _zip({"r.shp": b"", "r.shx": b"", "r.dbf": b""}))
    world.queue.send([world.event(scan)])
    world.tick(EVENT_INTERVAL + 1)
    raster_keys = world.instance.get_dynamic_partitions(PARTITIONS["raster"].name)
    assert raster_keys == [partition_key_for_blob(scan.path)]
    world.tick(RECONCILE_INTERVAL)  # the reconciler finds the vector zip, agrees on the raster
    vector_keys = world.instance.get_dynamic_partitions(PARTITIONS["vector"].name)
    assert vector_keys == [partition_key_for_blob(roads.path)]
    assert world.instance.get_dynamic_partitions(PARTITIONS["raster"].name) == raster_keys
    assert sorted(world.runs_by_blob()) == sorted(raster_keys + vector_keys)


def test_settings_decide_the_sensors_intervals(settings: Settings) -> None:
    """GEO_PLATFORM_SENSOR_INTERVAL is the listing sensor's interval; with an event queue the
    listing sensor reconciles every GEO_PLATFORM_RECONCILE_INTERVAL and the event sensor runs
    every GEO_PLATFORM_EVENT_SENSOR_INTERVAL."""

    def sensors(**changes: Any) -> dict[str, tuple[int | None, str]]:
        defs = build_definitions(dataclasses.replace(settings, **changes))
        return {
            s.name: (s.minimum_interval_seconds, s.default_status.value)
            for s in defs.sensors or []
            if s.name in ("bronze_sensor", EVENT_SENSOR_NAME)
        }

    assert sensors(sensor_interval_seconds=45) == {
        "bronze_sensor": (45, "RUNNING"),
        EVENT_SENSOR_NAME: (10, "STOPPED"),
    }
    assert sensors(
        sensor_interval_seconds=45,
        event_queue="bronze-events",
        event_sensor_interval_seconds=5,
        reconcile_interval_seconds=1800,
    ) == {"bronze_sensor": (1800, "RUNNING"), EVENT_SENSOR_NAME: (5, "RUNNING")}


def test_queue_receives_in_parallel_pages_hides_and_deletes(azurite_connection_string: str) -> None:
    """The adapter under the sensor: more than Azure's 32 messages a request, each once; hidden
    until the visibility timeout; a stale pop receipt deletes nothing (the message was
    received again since) and is reported as gone, not as a failure."""
    queue = EventQueue(
        queue_name=f"events-{uuid.uuid4().hex[:10]}", connection_string=azurite_connection_string
    )
    queue.ensure_queue()
    try:
        queue.send(json.dumps({"n": i}) for i in range(100))
        got = queue.receive(100, visibility_timeout=VISIBILITY)
        assert sorted(json.loads(m.content)["n"] for m in got) == list(range(100))
        assert queue.receive(10, visibility_timeout=VISIBILITY) == []  # all hidden
        time.sleep(VISIBILITY + 0.5)
        again = queue.receive(100, visibility_timeout=60)
        assert len(again) == 100 and all(m.dequeue_count == 2 for m in again)
        stale = queue.delete([(m.id, m.pop_receipt) for m in got[:5]])
        assert (stale.deleted, stale.gone, stale.failed) == (0, 5, {})
        receipts = [(m.id, m.pop_receipt) for m in again]
        late = queue.delete(receipts, budget_s=0)  # out of time: nothing tried, all returned
        assert (late.deleted, late.left) == (0, receipts)
        done = queue.delete(receipts)
        assert (done.deleted, done.gone) == (100, 0) and queue.approximate_count() == 0
    finally:
        queue.client().delete_queue()
        queue.close()


def test_services_create_the_configured_event_queue_on_azurite(
    settings: Settings, azurite_connection_string: str
) -> None:
    configured = dataclasses.replace(settings, event_queue=f"events-{uuid.uuid4().hex[:10]}")
    queue = event_queue_from_settings(configured)
    with pytest.raises(ConfigError, match="does not exist"):
        queue.approximate_count()
    ensure_azurite(configured)
    try:
        assert queue.approximate_count() == 0
    finally:
        queue.client().delete_queue()
        queue.close()


def test_an_envi_header_arriving_later_makes_its_data_file_a_raster(world: World) -> None:
    """``hyper`` (ENVI's data file, no extension) is unrecognised binary on its own; its
    ``.hdr``, announced by a later event, makes it a raster partition."""
    data = world.upload("envi/hyper", b"\x00\x01" * 64)
    world.queue.send([world.event(data)])
    world.tick(EVENT_INTERVAL + 1)
    assert world.instance.get_dynamic_partitions(PARTITIONS["raster"].name) == []
    header = world.upload("envi/hyper.hdr", b"ENVI\nsamples = 8\nlines = 8\nbands = 1\n")
    world.queue.send([world.event(header)])
    world.tick(EVENT_INTERVAL + 1)
    key = partition_key_for_blob(data.path)
    assert world.instance.get_dynamic_partitions(PARTITIONS["raster"].name) == [key]
    assert world.runs_by_blob() == {key: [(EVENT_SENSOR_NAME, data.etag)]}
    world.tick(RECONCILE_INTERVAL)  # the reconciler's listing agrees: nothing runs again
    assert world.runs_by_blob() == {key: [(EVENT_SENSOR_NAME, data.etag)]}
