"""The work behind the lifecycle jobs: unpublish items, sweep orphans (thin over ``workflows``).

Dagster-side choices:
- A real unpublish marks the silver and catalog partitions of the item's source with an
  ``AssetObservation`` (metadata ``status: unpublished``) instead of wiping them. Wiping is not
  an option here: ``instance.wipe_asset_partitions`` raises NotImplementedError on the
  open-source SQLite and PostgreSQL event log storages in Dagster 1.13. It would also be wrong:
  silver assets follow bronze with ``AutomationCondition.eager()``, under which a wiped ("newly
  missing") partition is re-published on the next automation tick while its bronze file
  exists. The observation keeps the history (which run published what) next to the record of
  its removal and is the partition's latest event in the UI; the audit table has the details.
- Permanent errors (unknown item, wrong kind, bad config) become ``Failure(allow_retries=False)``
  raised before anything is touched; transient ones (database or storage unreachable) are
  re-raised so the op's retry policy re-plans and completes the job.
"""

from __future__ import annotations

import getpass
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from geo_platform.defs.analytics.assets import GOLD_SCHEMA
from geo_platform.lib.errors import GeoPlatformError
from geo_platform.lib.naming import partition_key_for_blob
from geo_platform.resources.blob_store import BlobStore, LocalBlobStore
from geo_platform.resources.databases import PlatformResource, PostGISResource
from geo_platform.resources.promotion import PromotionResource
from geo_platform.store.blobs.local import TMP_DIR as LOCAL_TMP_DIR
from geo_platform.store.webhook import scrub_secrets
from geo_platform.workflows.janitor_report import report_lines
from geo_platform.workflows.unpublish_types import PUBLISHED, UnpublishPlan, UnpublishResult

# The workflows themselves are imported by the functions that run them: planning an unpublish
# reaches DuckDB, h3, pyarrow and the Azure SDK, which every run and command would otherwise
# load with the code location.

ASSETS_BY_KIND = {
    "raster": ("raster_cog", "raster_stac_item"),
    "vector": ("vector_table", "vector_stac_item"),
}
REQUESTED_BY_TAG = "geo_platform/requested_by"
UNPUBLISHED = "unpublished"


def requested_by(run: dg.DagsterRun) -> str:
    """Who asked: the launcher's tag (CLI, sensor), the UI user when known, else the run."""
    tags = run.tags
    return (
        tags.get(REQUESTED_BY_TAG)
        or tags.get("dagster/user")
        or f"dagster run {run.run_id} (os user {getpass.getuser()})"
    )


def as_failure(exc: BaseException) -> dg.Failure:
    """A permanent error as a Dagster failure: clear message, metadata, no retries."""
    about = exc.path if isinstance(exc, GeoPlatformError) else None
    return dg.Failure(
        description=f"{type(exc).__name__}: {exc}",
        metadata={"error_type": type(exc).__name__, "about": about or ""},
        allow_retries=False,
    )


# --- unpublish -------------------------------------------------------------------------------
def unpublish(
    store: BlobStore,
    postgis: PostGISResource,
    platform: PlatformResource,
    promotion: PromotionResource,
    *,
    collection: str,
    item_ids: list[str],
    kind: str | None,
    dry_run: bool,
    delete_blobs: bool = True,
    drop_table: bool = True,
    reason: str = "",
    who: str,
    run_id: str | None,
    log: Callable[[str], None],
) -> tuple[dict[str, Any], list[dg.AssetObservation]]:
    """Plan (and unless ``dry_run``, execute) an unpublish; return the report and the
    observations to record on the affected partitions."""
    from geo_platform.workflows.analytics_views import catalog_path
    from geo_platform.workflows.unpublish import execute_unpublish, plan_unpublish, record_dry_run

    with postgis.connect() as conn:
        plan = plan_unpublish(
            conn,
            store,
            collection=collection,
            item_ids=item_ids,
            silver_container=platform.silver_container,
            geo_schema=platform.geo_schema,
            kind=kind,
            delete_blobs=delete_blobs,
            drop_table=drop_table,
            bronze_container=platform.bronze_container,
            gold_schema=GOLD_SCHEMA,
            catalog_path=str(catalog_path(Path(platform.analytics_dir))),
        )
        conn.rollback()
    plan.production = check_production(promotion, collection, [i.id for i in plan.items])
    report = plan.report(dry_run=dry_run)
    for line in plan_lines(plan, dry_run):
        log(line)
    if dry_run:
        report["audit_ids"] = record_dry_run(
            plan, postgis.connect, who=who, reason=reason, run_id=run_id
        )
        log(f"dry run recorded: audit rows {report['audit_ids']}")
        return report, []
    if plan.noop:
        return report, []
    result = execute_unpublish(
        plan, postgis.connect, store, who=who, reason=reason, run_id=run_id, log=log
    )
    report["result"] = result.report()
    log(f"done: {result.message}; audit rows {result.audit_ids}")
    return report, unpublished_observations(plan, result, postgis, reason, run_id)


def check_production(
    promotion: PromotionResource, collection: str, item_ids: list[str]
) -> dict[str, Any] | None:
    """What production holds of these items (read only, as the promoter role); None when no
    production database is configured. An unreachable production is reported, not fatal:
    staging can be cleaned up while production is down."""
    if not promotion.production_database_url:
        return None
    from geo_platform.workflows.unpublish_dependents import production_copies

    try:
        with promotion.connect("production") as conn:
            found = production_copies(conn, collection, item_ids)
            conn.rollback()
            return found
    except Exception as exc:
        return {"checked": False, "error": scrub_secrets(f"{type(exc).__name__}: {exc}")[:500]}


def plan_lines(plan: UnpublishPlan, dry_run: bool) -> list[str]:
    """Human-readable inventory: exactly what is (or would be) removed."""
    verb = "would remove" if dry_run else "removing"
    warning = plan.production_warning()
    if plan.noop:
        return [plan.message(dry_run)] + ([warning] if warning else [])
    mode = "DRY RUN: nothing is changed" if dry_run else "real run"
    lines = [f"{plan.message(dry_run)} ({mode})"]
    for ip in plan.items:
        if not ip.work_left(plan):
            lines.append(f"{ip.collection}/{ip.id}: already unpublished, nothing left")
            continue
        what = "STAC item" if ip.state == PUBLISHED else f"leftovers ({ip.state}) of"
        lines.append(
            f"{verb} {what} {ip.collection}/{ip.id} (source {ip.source_blob}, published by run "
            f"{ip.original_run_id})"
        )
        for b in ip.blobs:
            if b.size is None:
                continue
            keep = "" if plan.delete_blobs else " [kept: delete_blobs=false]"
            if b.shared_with:
                keep = f" [kept: also used by {', '.join(b.shared_with)}]"
            lines.append(f"  blob {plan.silver_container}/{b.path} ({b.size} bytes){keep}")
        for t in ip.tables:
            if t.rows is not None:
                keep = "" if plan.drop_table else " [kept: drop_table=false]"
                lines.append(f"  table {t.name} ({t.rows} rows){keep}")
        for b in ip.h3_blobs:
            if b.size is not None:
                keep = "" if plan.delete_blobs else " [kept: delete_blobs=false]"
                lines.append(f"  H3 aggregate {plan.silver_container}/{b.path}{keep}")
        for t in ip.h3_tables:
            if t.rows is not None:
                keep = "" if plan.drop_table else " [kept: drop_table=false]"
                lines.append(f"  H3 aggregate table {t.name} ({t.rows} rows){keep}")
    for v in plan.views:
        lines.append(f"DuckDB view {v.name} ({v.source}): {verb} from {plan.catalog_path}")
    coll = plan.collection
    if plan.collection_would_be_deleted:
        lines.append(f"collection {coll}: {verb} (empty afterwards)")
    elif plan.collection_protected:
        lines.append(f"collection {coll}: kept (protected system-* collection)")
    else:
        lines.append(f"collection {coll}: kept ({plan.collection_remaining_items} items remain)")
    if warning:
        lines.append(warning)
    return lines


def unpublished_observations(
    plan: UnpublishPlan,
    result: UnpublishResult,
    postgis: PostGISResource,
    reason: str,
    run_id: str | None,
) -> list[dg.AssetObservation]:
    """One observation per (silver/catalog asset, source partition) that lost items."""
    from geo_platform.store.catalog import items_of_source

    sources: dict[tuple[str, str], list[str]] = {}
    done = {(i["collection"], i["id"]) for i in result.items}
    for ip in plan.items:
        if ip.source_blob and (ip.collection, ip.id) in done:
            sources.setdefault((ip.kind, ip.source_blob), []).append(f"{ip.collection}/{ip.id}")
    out = []
    with postgis.connect() as conn:
        for (kind, src), items in sorted(sources.items()):
            remaining = items_of_source(conn, src)
            status = UNPUBLISHED if not remaining else "partially unpublished"
            for asset in ASSETS_BY_KIND.get(kind, ()):
                out.append(
                    dg.AssetObservation(
                        asset_key=asset,
                        partition=partition_key_for_blob(src),
                        metadata={
                            "status": status,
                            "unpublished_items": dg.MetadataValue.json(items),
                            "remaining_items": dg.MetadataValue.json(
                                [f"{c}/{i}" for c, i in remaining]
                            ),
                            "reason": reason,
                            "audit_ids": dg.MetadataValue.json(result.audit_ids),
                            "unpublish_run_id": run_id or "",
                        },
                    )
                )
        conn.rollback()
    return out


def report_metadata(report: dict[str, Any]) -> dict[str, Any]:
    totals = report.get("totals", {})
    coll = report.get("collection", {})
    meta: dict[str, Any] = {
        "dry_run": report["dry_run"],
        "noop": report["noop"],
        "message": report["message"],
        "items": totals.get("items", 0),
        "blobs": totals.get("blobs", 0),
        "bytes": totals.get("bytes", 0),
        "tables": totals.get("tables", 0),
        "rows": totals.get("rows", 0),
        "collection_would_be_deleted": bool(coll.get("would_be_deleted")),
        "h3_aggregates": totals.get("h3_blobs", 0) + totals.get("h3_tables", 0),
        "duckdb_views": totals.get("duckdb_views", 0),
        "in_production": bool((report.get("dependents", {}).get("production") or {}).get("items")),
        "report": dg.MetadataValue.json(report),
    }
    if "result" in report:
        meta["collection_deleted"] = bool(report["result"].get("collection_deleted"))
        meta["audit_ids"] = dg.MetadataValue.json(report["result"].get("audit_ids", []))
    elif "audit_ids" in report:  # a dry run's own audit rows
        meta["audit_ids"] = dg.MetadataValue.json(report["audit_ids"])
    return meta


# --- janitor ---------------------------------------------------------------------------------
def sweep(
    store: BlobStore,
    postgis: PostGISResource,
    platform: PlatformResource,
    promotion: PromotionResource,
    *,
    dry_run: bool,
    older_than_hours: float,
    temp_dirs: list[str] | None,
    who: str,
    run_id: str | None,
    log: Callable[[str], None],
) -> tuple[dict[str, Any], list[dg.AssetObservation]]:
    """Find orphans (and unless ``dry_run``, remove them); return the report. Damaged items
    (data missing) and strays are reported only: the janitor never unpublishes anything, so it
    records no observations (the tuple keeps the op's shape)."""
    from geo_platform.workflows.janitor import find_orphans, remove_orphans

    dirs = [Path(d) for d in temp_dirs] if temp_dirs is not None else _default_temp_dirs(store)
    with postgis.connect() as conn:
        orphans = find_orphans(
            conn,
            store,
            silver_container=platform.silver_container,
            geo_schema=platform.geo_schema,
            older_than=timedelta(hours=older_than_hours),
            temp_dirs=dirs,
            upload_dirs=_upload_dirs(store, platform),
            bronze_container=platform.bronze_container,
        )
        conn.rollback()
        report: dict[str, Any] = {"dry_run": dry_run, **orphans.report()}
        if not dry_run:
            report["removed"] = remove_orphans(
                orphans, conn, store, silver_container=platform.silver_container, log=log
            )
    for line in report_lines(report):
        log(line)
    return report, []


def _default_temp_dirs(store: BlobStore) -> list[Path]:
    dirs = [Path(tempfile.gettempdir())]
    if store.tmp_dir:
        dirs.append(Path(store.tmp_dir))
    return dirs


def _upload_dirs(store: BlobStore, platform: PlatformResource) -> list[Path]:
    """Where a local blob store writes uploads before renaming them into place (Azure has no
    such folder: uncommitted blocks are discarded by the service after a week)."""
    if not isinstance(store, LocalBlobStore):
        return []
    containers = (platform.bronze_container, platform.silver_container)
    return [Path(store.root) / c / LOCAL_TMP_DIR for c in containers]


def janitor_metadata(report: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "dry_run": report["dry_run"],
        "orphans_total": report["orphans_total"],
        "unreferenced_blobs": report["unreferenced_blob_count"],
        "unreferenced_bytes": report["unreferenced_bytes"],
        "staging_blobs": report["staging_blob_count"],
        "staging_tables": len(report["staging_tables"]),
        "dangling_items": report["dangling_item_count"],
        "strays": report["stray_count"],
        "temp_dirs": len(report["temp_dirs"]),
        "upload_leftovers": len(report["upload_leftovers"]),
        "report": dg.MetadataValue.json(report),
    }
    if "removed" in report:
        removed = {k: v for k, v in report["removed"].items() if k != "unpublish_reports"}
        meta["removed"] = dg.MetadataValue.json(removed)
    return meta
