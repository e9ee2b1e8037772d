"""Lifecycle sensors: unpublish on bronze removal (opt-in), and run notifications.

``bronze_removal_unpublish_sensor`` reads the "removed from bronze" observations the bronze
sensor records (cursor = the last event storage id handled). With
GEO_PLATFORM_UNPUBLISH_ON_REMOVAL=off (the default) it only advances its cursor: removals that
happen while it is off are never acted on later. ``dry_run`` launches dry-run unpublish jobs (a
report of what would go), ``on`` the real ones. A blob that is back in bronze by the time the
sensor looks is left alone.
"""

import dagster as dg

from geo_platform.defs.lifecycle.jobs import UNPUBLISH_JOBS, unpublish_run_config
from geo_platform.defs.lifecycle.notifications import failure_payload, send, success_payload
from geo_platform.defs.lifecycle.ops import REQUESTED_BY_TAG
from geo_platform.lib.naming import blob_for_partition_key
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PlatformResource, PostGISResource
from geo_platform.resources.lifecycle import LifecycleResource

REMOVED_STATUS = "removed from bronze"
SENSOR_NAME = "bronze_removal_unpublish_sensor"
FETCH_LIMIT = 500


def _removals(
    instance: dg.DagsterInstance, after: int | None
) -> tuple[list[tuple[int, str, str]], int | None]:
    """(storage id, kind, blob) of removal observations after ``after``, in order, and the
    storage id up to which the result is complete (the new cursor)."""
    found: list[tuple[int, str, str]] = []
    complete_to: int | None = None
    for kind in UNPUBLISH_JOBS:
        records = instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(f"bronze_{kind}"), after_storage_id=after),
            limit=FETCH_LIMIT,
            ascending=True,
        ).records
        if len(records) == FETCH_LIMIT:  # more to come: stop where this page ends
            last = records[-1].storage_id
            complete_to = last if complete_to is None else min(complete_to, last)
        for rec in records:
            obs = rec.asset_observation
            if obs is None or obs.metadata.get("status") is None:
                continue
            if obs.metadata["status"].value != REMOVED_STATUS:
                continue
            blob_meta = obs.metadata.get("blob")
            blob = (
                str(blob_meta.value) if blob_meta else blob_for_partition_key(obs.partition or "")
            )
            found.append((rec.storage_id, kind, blob))
    found.sort()
    if complete_to is not None:
        found = [f for f in found if f[0] <= complete_to]
    return found, complete_to


def removal_tick(
    instance: dg.DagsterInstance,
    cursor: str | None,
    mode: str,
    store: BlobStore,
    postgis: PostGISResource,
    platform: PlatformResource,
    log: object,
) -> dg.SensorResult:
    """One evaluation (separate from the decorator for tests)."""
    after = int(cursor) if cursor else None
    removals, complete_to = _removals(instance, after)
    new_cursor = max([after or 0, *(r[0] for r in removals)])
    if complete_to is not None:
        new_cursor = max(new_cursor, complete_to)
    info = getattr(log, "info", print)
    if mode == "off" or not removals:
        if removals:
            info(f"{len(removals)} bronze removal(s) seen; unpublish on removal is off")
        return dg.SensorResult(skip_reason="no action", cursor=str(new_cursor or "") or None)
    from geo_platform.store.catalog import items_of_source  # jsonschema: only with removals

    runs = []
    with postgis.connect() as conn:
        for storage_id, kind, blob in removals:
            if store.exists(platform.bronze_container, blob):
                info(f"{blob!r} is back in bronze: not unpublishing")
                continue
            by_collection: dict[str, list[str]] = {}
            for collection, item in items_of_source(conn, blob):
                by_collection.setdefault(collection, []).append(item)
            for collection, ids in sorted(by_collection.items()):
                runs.append(_request(kind, blob, collection, ids, mode, storage_id))
                info(f"{mode}: unpublish {kind} {collection}/{ids} (bronze {blob!r} removed)")
        conn.rollback()
    return dg.SensorResult(run_requests=runs, cursor=str(new_cursor))


def _request(
    kind: str, blob: str, collection: str, ids: list[str], mode: str, storage_id: int
) -> dg.RunRequest:
    return dg.RunRequest(
        job_name=UNPUBLISH_JOBS[kind].name,
        run_key=f"unpublish:{storage_id}:{collection}:{mode}",
        run_config=unpublish_run_config(
            kind,
            item_ids=sorted(ids),
            collection=collection,
            dry_run=mode != "on",
            reason=f"bronze blob {blob!r} was removed",
        ),
        tags={REQUESTED_BY_TAG: f"sensor:{SENSOR_NAME}", "geo_platform/source_blob": blob},
    )


@dg.sensor(
    name=SENSOR_NAME,
    jobs=list(UNPUBLISH_JOBS.values()),
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Opt-in (GEO_PLATFORM_UNPUBLISH_ON_REMOVAL=dry_run|on): when a bronze file is removed, "
        "launch the unpublish of its STAC items (dry run or real). Off by default."
    ),
)
def bronze_removal_unpublish_sensor(
    context: dg.SensorEvaluationContext,
    lifecycle: LifecycleResource,
    blob_store: dg.ResourceParam[BlobStore],
    postgis: PostGISResource,
    platform: PlatformResource,
) -> dg.SensorResult:
    return removal_tick(
        context.instance,
        context.cursor,
        lifecycle.unpublish_on_removal,
        blob_store,
        postgis,
        platform,
        context.log,
    )


# --- notifications ---------------------------------------------------------------------------
@dg.run_failure_sensor(
    name="run_failure_notification_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="POSTs a JSON failure report (failed files, errors, link) to the webhook.",
)
def run_failure_notification_sensor(
    context: dg.RunFailureSensorContext, lifecycle: LifecycleResource
) -> dg.SkipReason | None:
    if not lifecycle.webhook_url:
        return dg.SkipReason("no webhook configured (GEO_PLATFORM_WEBHOOK_URL)")
    payload = failure_payload(
        context.dagster_run,
        context.instance,
        list(context.get_step_failure_events()),
        context.failure_event,
        lifecycle.ui_base_url,
    )
    send(
        lifecycle.webhook_url,
        payload,
        context.log,
        lifecycle.webhook_timeout_s,
        lifecycle.webhook_retries,
    )
    return None


@dg.run_status_sensor(
    name="run_success_notification_sensor",
    run_status=dg.DagsterRunStatus.SUCCESS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="POSTs a JSON summary of each successful run (counts, link) to the webhook.",
)
def run_success_notification_sensor(
    context: dg.RunStatusSensorContext, lifecycle: LifecycleResource
) -> dg.SkipReason | None:
    if not lifecycle.webhook_url or not lifecycle.notify_success:
        return dg.SkipReason("success summaries are off or no webhook is configured")
    payload = success_payload(context.dagster_run, context.instance, lifecycle.ui_base_url)
    send(
        lifecycle.webhook_url,
        payload,
        context.log,
        lifecycle.webhook_timeout_s,
        lifecycle.webhook_retries,
    )
    return None


LIFECYCLE_SENSORS = [
    bronze_removal_unpublish_sensor,
    run_failure_notification_sensor,
    run_success_notification_sensor,
]
