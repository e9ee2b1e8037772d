"""The work behind the promote and demote jobs and the auto-promotion assets (thin over lib).

Permanent errors (unknown collection or item, a protected collection, an unsafe href) become a
``Failure`` without retries, raised before anything is changed; transient ones (a database or
the storage unreachable) are re-raised so the retry policy applies. Reports and metadata are
built from the lib's result records, which hold credential-free hrefs and redacted URLs only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dagster as dg

from geo_platform.lib.errors import GeoPlatformError
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PlatformResource
from geo_platform.resources.promotion import PromotionResource

# The workflows are imported by the functions that run them: promoting reaches rasterio,
# rio-tiler and pyarrow, which every run and command would otherwise load with the code location.
if TYPE_CHECKING:
    from geo_platform.workflows.demote import DemotionResult
    from geo_platform.workflows.promote import PromotionRequest, PromotionResult

REQUESTED_BY_TAG = "geo_platform/requested_by"


def requested_by(run: dg.DagsterRun) -> str:
    """Who asked: the launcher's tag (CLI), the UI user when known, else the run."""
    tags = run.tags
    return tags.get(REQUESTED_BY_TAG) or tags.get("dagster/user") or f"dagster run {run.run_id}"


def as_failure(exc: GeoPlatformError) -> dg.Failure:
    """A permanent error as a Dagster failure: clear message, no retries."""
    return dg.Failure(
        description=f"{type(exc).__name__}: {exc}",
        metadata={"error_type": type(exc).__name__, "about": exc.path or ""},
        allow_retries=False,
    )


def permanent_as_failure(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except GeoPlatformError as exc:
        if exc.retryable:
            raise
        raise as_failure(exc) from exc


def run_promotion(
    store: BlobStore,
    platform: PlatformResource,
    promotion: PromotionResource,
    req: PromotionRequest,
    *,
    dry_run: bool,
    run_id: str,
    who: str,
) -> PromotionResult:
    from geo_platform.workflows.promote import promote

    source, target = promotion.targets(store, platform.silver_container, platform.geo_schema)
    with promotion.connect("staging") as src, promotion.connect("production") as dst:
        return promote(
            src,
            dst,
            source,
            target,
            req,
            run_id=run_id,
            dry_run=dry_run,
            lock_timeout_s=promotion.lock_timeout_s,
            requested_by=who,
        )


def run_demotion(
    store: BlobStore,
    platform: PlatformResource,
    promotion: PromotionResource,
    collection: str,
    item_ids: tuple[str, ...] | None,
    *,
    dry_run: bool,
    run_id: str,
    who: str,
) -> DemotionResult:
    from geo_platform.workflows.demote import demote

    _, target = promotion.targets(store, platform.silver_container, platform.geo_schema)
    with promotion.connect("production") as dst:
        return demote(
            dst, target, collection, item_ids, run_id=run_id, dry_run=dry_run, requested_by=who
        )


def report_lines(report: dict[str, Any]) -> list[str]:
    """Human-readable summary for the run log."""
    plan = report["plan"]
    verb = "would" if report["dry_run"] else "did"
    head = (
        f"{report['action']} {plan['collection']} ({'DRY RUN' if report['dry_run'] else 'applied'})"
    )
    action = "publish" if report["action"] == "promote" else "remove"
    lines = [head, f"{verb} {action} items: {plan.get('items')}"]
    if report["action"] == "promote":
        lines.append(f"remove stale items: {plan['remove_items']}")
        lines += [f"table {t['source']} -> {t['target']}" for t in plan["tables"]]
        lines.append(
            f"{len(plan['blobs'])} blob(s), {plan['bytes']} bytes, version {plan['version']}"
        )
    else:
        lines.append(f"drop tables {plan['drop_tables']}; delete {len(plan['delete_blobs'])} blobs")
    return lines


def report_metadata(report: dict[str, Any]) -> dict[str, Any]:
    plan = report["plan"]
    meta: dict[str, Any] = {
        "dry_run": report["dry_run"],
        "collection": plan["collection"],
        "items": len(plan["items"]),
        "report": dg.MetadataValue.json(report),
    }
    if report["action"] == "promote":
        meta |= {
            "tables": len(plan["tables"]),
            "blobs": len(plan["blobs"]),
            "bytes": plan["bytes"],
            "removed_items": len(plan["remove_items"]),
            "version": plan["version"],
        }
        if not report["dry_run"]:
            meta["rows_copied"] = sum(t["rows"] for t in report["tables"])
    else:
        meta |= {"drop_tables": len(plan["drop_tables"]), "blobs": len(plan["delete_blobs"])}
    if report.get("audit_id") is not None:
        meta["audit_id"] = report["audit_id"]
    return meta
