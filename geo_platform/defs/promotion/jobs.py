"""Promote and demote jobs: copy a dataset from staging to production, or take it out again.

Launch from the UI (Launchpad: edit the config; ``dry_run`` is true unless you say otherwise)
or from ``geo-platform promote|demote``. The op's output metadata holds the full report (what
was or would be copied, replaced and removed) and the audit row id.
"""

import dagster as dg
from pydantic import Field

import geo_platform.defs.promotion.ops as ops
from geo_platform.defs.common import TRANSIENT_RETRY
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PlatformResource
from geo_platform.resources.promotion import PromotionResource

JOB_TAGS = {"dagster/max_runtime": "7200"}


class PromoteConfig(dg.Config):
    """What to promote. Dry run by default: set ``dry_run: false`` to really copy."""

    collection: str = Field(description="The dataset: a STAC collection id in staging.")
    items: list[str] | None = Field(
        default=None,
        description="Only these item ids (default: the whole collection, and production items "
        "no longer in staging are removed).",
    )
    dry_run: bool = Field(default=True, description="Only report what would be done.")


class DemoteConfig(dg.Config):
    """What to take out of production (staging is never touched). Dry run by default."""

    collection: str = Field(description="A STAC collection id in production.")
    items: list[str] | None = Field(
        default=None, description="Only these item ids (default: the whole collection)."
    )
    dry_run: bool = Field(default=True, description="Only report what would be done.")


@dg.op(
    retry_policy=TRANSIENT_RETRY,
    out=dg.Out(dict, description="The promotion report (JSON, no secrets)."),
    description=(
        "Copy a dataset (PostGIS tables by streaming binary COPY, COG/GeoParquet blobs, STAC "
        "items and collection) from staging to production, atomically for readers, with hrefs "
        "rewritten to production and an audit row in audit.promotions. Dry run by default."
    ),
)
def promote_dataset(
    context: dg.OpExecutionContext,
    config: PromoteConfig,
    blob_store: dg.ResourceParam[BlobStore],
    platform: PlatformResource,
    promotion: PromotionResource,
) -> dg.Output[dict]:
    from geo_platform.workflows.promote import PromotionRequest, item_ids_arg

    req = PromotionRequest(config.collection, item_ids_arg(config.items))
    result = ops.permanent_as_failure(
        lambda: ops.run_promotion(
            blob_store,
            platform,
            promotion,
            req,
            dry_run=config.dry_run,
            run_id=context.run_id,
            who=ops.requested_by(context.run),
        )
    )
    return _reported(context, result.as_dict())


@dg.op(
    retry_policy=TRANSIENT_RETRY,
    out=dg.Out(dict, description="The demotion report (JSON)."),
    description=(
        "Remove a dataset (or some items) from production only: items and tables in one "
        "transaction, then the blobs; system-* collections protected; audited. Dry run by "
        "default."
    ),
)
def demote_dataset(
    context: dg.OpExecutionContext,
    config: DemoteConfig,
    blob_store: dg.ResourceParam[BlobStore],
    platform: PlatformResource,
    promotion: PromotionResource,
) -> dg.Output[dict]:
    from geo_platform.workflows.promote import item_ids_arg

    result = ops.permanent_as_failure(
        lambda: ops.run_demotion(
            blob_store,
            platform,
            promotion,
            config.collection,
            item_ids_arg(config.items),
            dry_run=config.dry_run,
            run_id=context.run_id,
            who=ops.requested_by(context.run),
        )
    )
    return _reported(context, result.as_dict())


@dg.job(tags=JOB_TAGS, description="Promote a dataset from staging to production (dry run first).")
def promote_job() -> None:
    promote_dataset()


@dg.job(tags=JOB_TAGS, description="Take a dataset out of production (dry run first).")
def demote_job() -> None:
    demote_dataset()


def run_config(op: str, collection: str, items: list[str] | None, dry_run: bool) -> dict:
    """Run config for ``promote_job`` (op ``promote_dataset``) or ``demote_job``."""
    cfg = {"collection": collection, "items": items or None, "dry_run": dry_run}
    return {"ops": {op: {"config": cfg}}}


PROMOTION_JOBS = [promote_job, demote_job]


def _reported(context: dg.OpExecutionContext, report: dict) -> dg.Output[dict]:
    """Log the report line by line and return it as the op's output, with UI metadata."""
    for line in ops.report_lines(report):
        context.log.info(line)
    return dg.Output(report, metadata=ops.report_metadata(report))
