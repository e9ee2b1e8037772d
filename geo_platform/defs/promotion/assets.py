"""Auto-promotion: production copies of the catalog items of collections marked auto-promote.

Design (thin on purpose): ``raster_production_item`` / ``vector_production_item`` share the
catalog assets' partitions (one bronze file each) and depend on them partition to partition,
so ``AutomationCondition.eager()`` promotes exactly the file whose staging items were just
(re)published, through the code location's existing automation sensor; a burst of files is
batched into few runs by the same backfill policy as the other assets. A partition promotes
the items that file published (``PromotionRequest(source_blob=...)``): its production items,
tables and blobs are replaced together, and items the file no longer produces are removed.

Only collections listed in ``GEO_PLATFORM_AUTO_PROMOTE`` (ids, or prefixes ending in ``*``)
are promoted; other files are skipped without a materialization. With the setting empty the
assets carry no automation condition at all (no runs); promote anything by hand with
``promote_job`` (UI) or ``geo-platform promote``. Why not a collection-partitioned asset:
collections are many-files-to-one, which Dagster's partition mappings between dynamic
partition sets cannot express, and per-file promotion matches how staging itself publishes.
"""

from collections.abc import Iterator

import dagster as dg

import geo_platform.defs.promotion.ops as ops
from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.defs.common import BATCH_POLICY, TRANSIENT_RETRY, raise_failures
from geo_platform.lib import naming
from geo_platform.lib.stac.refs import matches_spec
from geo_platform.lib.types import DataKind
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PlatformResource
from geo_platform.resources.promotion import PromotionResource
from geo_platform.settings import Settings

PRODUCTION_GROUP = "production"


def _promote_file(
    context: dg.AssetExecutionContext,
    store: BlobStore,
    platform: PlatformResource,
    promotion: PromotionResource,
    blob: str,
) -> dict | None:
    from geo_platform.workflows.promote import PromotionRequest, source_items_of

    collection = naming.collection_id(blob)
    if not matches_spec(collection, promotion.auto_promote):
        context.log.info(f"{blob}: collection {collection!r} is not marked auto-promote")
        return None
    with promotion.connect("staging") as src:
        if not source_items_of(src, collection, blob):
            context.log.info(f"{blob}: no staging items to promote")
            return None
    result = ops.run_promotion(
        store,
        platform,
        promotion,
        PromotionRequest(collection, source_blob=blob),
        dry_run=False,
        run_id=context.run.run_id,
        who=ops.requested_by(context.run),
    )
    return result.as_dict()


def _production_asset(kind: DataKind, automatic: bool) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"{kind}_production_item",
        group_name=PRODUCTION_GROUP,
        partitions_def=PARTITIONS[kind],
        deps=[f"{kind}_stac_item"],
        backfill_policy=BATCH_POLICY,
        retry_policy=TRANSIENT_RETRY,
        output_required=False,
        automation_condition=dg.AutomationCondition.eager() if automatic else None,
        kinds={"stac", "postgres"},
        description=(
            f"The {kind} file's STAC items, tables and blobs promoted to production (auto-"
            "promote collections only, GEO_PLATFORM_AUTO_PROMOTE): hrefs rewritten to "
            "production, promoted_at and the runs recorded, audited in audit.promotions."
        ),
    )
    def production_item(
        context: dg.AssetExecutionContext,
        blob_store: dg.ResourceParam[BlobStore],
        platform: PlatformResource,
        promotion: PromotionResource,
    ) -> Iterator[dg.AssetMaterialization]:
        failures: dict[str, BaseException] = {}
        for key in context.partition_keys:
            blob = naming.blob_for_partition_key(key)
            try:
                report = _promote_file(context, blob_store, platform, promotion, blob)
            except Exception as exc:
                failures[key] = exc
                context.log.error(f"{blob}: {type(exc).__name__}: {exc}")
                continue
            if report is not None:
                meta = ops.report_metadata(report)
                yield dg.AssetMaterialization(context.asset_key, partition=key, metadata=meta)
        if failures:
            raise_failures(context, failures)

    return production_item


def promotion_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """The auto-promotion assets (eager only when GEO_PLATFORM_AUTO_PROMOTE lists something)."""
    automatic = bool(settings.auto_promote.strip())
    return [_production_asset("raster", automatic), _production_asset("vector", automatic)]
