"""Lifecycle jobs: unpublish rasters or vectors, and the janitor (dry run by default, always).

Launch from the UI (Launchpad: edit the config), the CLI (``geo-platform unpublish`` and
``geo-platform janitor``) or a sensor. Every job reports what it would remove / removed in its
op's output metadata and in the run log.
"""

from collections.abc import Callable
from typing import Any

import dagster as dg

import geo_platform.defs.lifecycle.ops as ops
from geo_platform.defs.common import TRANSIENT_RETRY
from geo_platform.lib.errors import is_retryable
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PlatformResource, PostGISResource
from geo_platform.resources.lifecycle import LifecycleResource
from geo_platform.resources.promotion import PromotionResource

# A stuck lifecycle run is failed by run monitoring after an hour (dagster.yaml enables it).
JOB_TAGS = {"dagster/max_runtime": "3600"}


class UnpublishConfig(dg.Config):
    """What to unpublish. Dry run by default: set ``dry_run: false`` to really remove."""

    item_ids: list[str]
    collection: str
    dry_run: bool = True
    delete_blobs: bool = True
    drop_table: bool = True
    reason: str = ""


class JanitorConfig(dg.Config):
    """Dry run by default; ``older_than_hours`` protects work in progress."""

    dry_run: bool = True
    older_than_hours: float = 24.0
    temp_dirs: list[str] | None = None
    """Folders searched for stale temp folders of killed runs (default: the system temp)."""


def _unpublish_op(kind: str) -> dg.OpDefinition:
    @dg.op(
        name=f"unpublish_{kind}_items",
        retry_policy=TRANSIENT_RETRY,
        out=dg.Out(dict, description="The unpublish report (JSON)."),
        tags={"kind": kind},
        description=(
            f"Unpublish {kind} STAC items: silver blobs / tables, the item, the collection when "
            "empty (never system-*), audited in audit.unpublished. Dry run by default."
        ),
    )
    def _op(
        context: dg.OpExecutionContext,
        config: UnpublishConfig,
        blob_store: dg.ResourceParam[BlobStore],
        postgis: PostGISResource,
        platform: PlatformResource,
        promotion: PromotionResource,
    ) -> dg.Output[dict]:
        return _report(
            context,
            lambda: ops.unpublish(
                blob_store, postgis, platform, promotion,
                collection=config.collection, item_ids=config.item_ids, kind=kind,
                dry_run=config.dry_run, delete_blobs=config.delete_blobs,
                drop_table=config.drop_table, reason=config.reason,
                who=ops.requested_by(context.run), run_id=context.run_id, log=context.log.info,
            ),
            ops.report_metadata,
        )  # fmt: skip

    return _op


def _report(
    context: dg.OpExecutionContext,
    work: Callable[[], tuple[dict[str, Any], list[dg.AssetObservation]]],
    metadata: Callable[[dict[str, Any]], dict[str, Any]],
) -> dg.Output[dict]:
    """Run a lifecycle op's ``work``: transient errors are raised for the retry policy (which
    re-plans and completes what is left), others become a ``Failure`` without retries; its
    observations are logged and its report is the output, with ``metadata(report)``."""
    try:
        report, observations = work()
    except Exception as exc:
        if is_retryable(exc):
            raise
        raise ops.as_failure(exc) from exc
    for obs in observations:
        context.log_event(obs)
    return dg.Output(report, metadata=metadata(report))


unpublish_raster_items = _unpublish_op("raster")
unpublish_vector_items = _unpublish_op("vector")


@dg.job(
    name="unpublish_raster",
    tags=JOB_TAGS,
    description="Remove published rasters: COG tiers, thumbnails, item JSON, STAC items.",
)
def unpublish_raster() -> None:
    unpublish_raster_items()


@dg.job(
    name="unpublish_vector",
    tags=JOB_TAGS,
    description="Remove published vectors: PostGIS tables, GeoParquet, item JSON, STAC items.",
)
def unpublish_vector() -> None:
    unpublish_vector_items()


UNPUBLISH_JOBS = {"raster": unpublish_raster, "vector": unpublish_vector}


def unpublish_run_config(kind: str, **config: Any) -> dict[str, Any]:
    """Run config for ``unpublish_<kind>`` (fields of ``UnpublishConfig``)."""
    UnpublishConfig(**config)  # validate early, with a readable error
    return {"ops": {f"unpublish_{kind}_items": {"config": config}}}


@dg.op(
    retry_policy=TRANSIENT_RETRY,
    out=dg.Out(dict, description="The janitor report (JSON)."),
    description="Find orphans (unreferenced silver blobs, stale staging blobs and tables, "
    "STAC items whose data is gone, temp folders of killed runs) and remove them unless dry run.",
)
def janitor_sweep(
    context: dg.OpExecutionContext,
    config: JanitorConfig,
    blob_store: dg.ResourceParam[BlobStore],
    postgis: PostGISResource,
    platform: PlatformResource,
    promotion: PromotionResource,
) -> dg.Output[dict]:
    return _report(
        context,
        lambda: ops.sweep(
            blob_store, postgis, platform, promotion,
            dry_run=config.dry_run, older_than_hours=config.older_than_hours,
            temp_dirs=config.temp_dirs, who=f"janitor ({ops.requested_by(context.run)})",
            run_id=context.run_id, log=context.log.info,
        ),
        ops.janitor_metadata,
    )  # fmt: skip


@dg.job(
    name="janitor",
    tags=JOB_TAGS,
    description="Intermediate files must never accumulate: report (dry run) or remove orphans.",
)
def janitor() -> None:
    janitor_sweep()


def janitor_run_config(**config: Any) -> dict[str, Any]:
    JanitorConfig(**config)
    return {"ops": {"janitor_sweep": {"config": config}}}


@dg.schedule(
    name="janitor_daily",
    job=janitor,
    cron_schedule="30 3 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily janitor pass: a report only, unless GEO_PLATFORM_JANITOR_APPLY=1.",
)
def janitor_daily(
    context: dg.ScheduleEvaluationContext, lifecycle: LifecycleResource
) -> dg.RunRequest:
    return dg.RunRequest(
        run_config=janitor_run_config(dry_run=not lifecycle.janitor_apply),
        tags={ops.REQUESTED_BY_TAG: "schedule:janitor_daily"},
    )
