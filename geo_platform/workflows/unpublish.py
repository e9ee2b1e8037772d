"""Unpublish: take STAC items (and the silver data behind them) out of the platform, safely.

``plan_unpublish`` (in ``unpublish_plan``, re-exported here) only reads: it inventories each
item (its silver blobs with sizes, its PostGIS tables with row counts, the full item JSON, the
source blob and the run that published it) and decides whether the collection would be left
empty and deleted. A dry run is exactly this plan, reported with "would"
(``report(dry_run=True)``), plus an audit row per item marked ``dry_run`` (``record_dry_run``).
``execute_unpublish`` then works in a fixed order:

0. an audit row per item, status ``started``, with the inventory (before anything is removed);
1. delete the silver blobs / drop the tables (unless ``delete_blobs`` / ``drop_table`` is off),
   the gold H3 aggregates of the item's tables included (blobs and ``gold`` tables);
2. delete the STAC items (one transaction) and refresh the collection's extent;
3. delete the collection if it is now empty, unless protected (``system-*``);
4. drop the DuckDB catalog views that read removed files (the catalog is rebuilt without them);
5. complete the audit rows.

Dependents are in ``unpublish_dependents``, the audit rows in ``unpublish_audit``, the records
in ``unpublish_types``. Production copies (promotion) are reported in the plan, never removed
here: production changes through ``geo-platform demote`` only.

Every step is idempotent (missing blobs and tables are skipped, deleting a deleted item is a
no-op), and an item that is already gone from pgstac is planned again from its audit row. So a
run that fails halfway (the database goes away after the blobs are deleted, say) is completed
by running it again, and running a finished unpublish again is a clean no-op. Bronze is never
touched: only the silver container and the platform schema are written to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from geo_platform.store import audit, pgstac
from geo_platform.store.postgis import drop_table
from geo_platform.store.silver_refs import BlobStoreLike, is_protected
from geo_platform.workflows.unpublish_audit import Connect, audit_started, record_dry_run
from geo_platform.workflows.unpublish_dependents import drop_views
from geo_platform.workflows.unpublish_plan import plan_unpublish
from geo_platform.workflows.unpublish_types import (
    PUBLISHED,
    ItemPlan,
    UnpublishPlan,
    UnpublishResult,
)

# The lifecycle ops' one entry point: plan (read-only), audit a dry run, or execute.
__all__ = [
    "PUBLISHED",
    "Connect",
    "UnpublishPlan",
    "UnpublishResult",
    "execute_unpublish",
    "plan_unpublish",
    "record_dry_run",
]


# --- execution -------------------------------------------------------------------------------
def execute_unpublish(
    plan: UnpublishPlan,
    connect: Connect,
    store: BlobStoreLike,
    *,
    who: str,
    reason: str = "",
    run_id: str | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> UnpublishResult:
    """Carry out ``plan`` (see the module docstring for the order and the recovery story)."""
    if plan.noop:
        return UnpublishResult(message=plan.message(), noop=True)
    work = [i for i in plan.items if i.work_left(plan)]
    result = UnpublishResult(message=plan.message(), noop=False)
    result.items = [{"collection": i.collection, "id": i.id} for i in work]
    with connect() as conn:
        audit.ensure_audit_table(conn)
        result.audit_ids = audit_started(conn, plan, work, who, reason, run_id)
        conn.commit()
    try:
        for ip, out in zip(work, result.items, strict=True):
            if plan.delete_blobs:
                out.update(_delete_blobs(store, plan.silver_container, ip, log))
                out.update(_delete_h3_blobs(store, plan.silver_container, ip, log))
        if plan.drop_table and any(ip.tables or ip.h3_tables for ip in work):
            with connect() as conn:
                for ip, out in zip(work, result.items, strict=True):
                    out.update(_drop_tables(conn, ip, log))
        if work:
            with connect() as conn:
                for ip, out in zip(work, result.items, strict=True):
                    out["item_deleted"] = _delete_item(conn, ip, log)
                if pgstac.get_collection(conn, plan.collection) is not None:
                    pgstac.refresh_collection_extent(conn, plan.collection)
                conn.commit()
        with connect() as conn:
            result.collection_deleted = _delete_collection_if_empty(conn, plan.collection, log)
            conn.commit()
        if plan.views and plan.catalog_path:
            result.duckdb_catalog = _drop_views(plan, log)
        with connect() as conn:
            summary = {
                "items": result.items,
                "collection_deleted": result.collection_deleted,
                "duckdb_catalog": result.duckdb_catalog,
            }
            audit.finish(conn, result.audit_ids, audit.COMPLETED, summary)
            audit.supersede_unfinished(conn, result.audit_ids)
            conn.commit()
    except BaseException as exc:
        _record_failure(connect, result.audit_ids, exc, log)
        raise
    return result


def _delete_blobs(
    store: BlobStoreLike, container: str, ip: ItemPlan, log: Callable[[str], None]
) -> dict[str, Any]:
    deleted, gone, shared = [], [], []
    for b in ip.blobs:
        if b.shared_with:
            shared.append(b.path)
        elif b.size is not None and store.delete(container, b.path):
            deleted.append(b.path)
            log(f"deleted blob {container}/{b.path} ({b.size} bytes)")
        else:
            gone.append(b.path)
    return {"blobs_deleted": deleted, "blobs_already_gone": gone, "blobs_kept_shared": shared}


def _delete_h3_blobs(
    store: BlobStoreLike, container: str, ip: ItemPlan, log: Callable[[str], None]
) -> dict[str, Any]:
    deleted, gone = [], []
    for b in ip.h3_blobs:
        if b.size is not None and store.delete(container, b.path):
            deleted.append(b.path)
            log(f"deleted H3 aggregate {container}/{b.path} ({b.size} bytes)")
        else:
            gone.append(b.path)
    return {"h3_blobs_deleted": deleted, "h3_blobs_already_gone": gone}


def _drop_tables(
    conn: psycopg.Connection[Any], ip: ItemPlan, log: Callable[[str], None]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, what, tables in (
        ("tables", "table", ip.tables),
        ("h3_tables", "H3 table", ip.h3_tables),
    ):
        dropped, gone = [], []
        for t in tables:
            if drop_table(conn, t.schema, t.table):
                dropped.append(t.name)
                log(f"dropped {what} {t.name} ({t.rows} rows)")
            else:
                gone.append(t.name)
        out.update({f"{key}_dropped": dropped, f"{key}_already_gone": gone})
    return out


def _drop_views(plan: UnpublishPlan, log: Callable[[str], None]) -> dict[str, Any]:
    """Rebuild the DuckDB catalog without the views over removed files (idempotent)."""
    assert plan.catalog_path is not None
    sync, missing = drop_views(plan.catalog_path, {v.name for v in plan.views})
    for name in sync.dropped:
        log(f"dropped DuckDB view {name} from {sync.path}")
    return {"path": str(sync.path), "views_dropped": sync.dropped, "broken_views": missing}


def _delete_item(conn: psycopg.Connection[Any], ip: ItemPlan, log: Callable[[str], None]) -> bool:
    if not pgstac.delete_item(conn, ip.collection, ip.id):
        return False
    log(f"deleted STAC item {ip.collection}/{ip.id}")
    return True


def _delete_collection_if_empty(
    conn: psycopg.Connection[Any], collection: str, log: Callable[[str], None]
) -> bool:
    """Decided again now (not from the plan): a run publishing into it meanwhile wins."""
    if is_protected(collection) or pgstac.get_collection(conn, collection) is None:
        return False
    pgstac.lock_writes(conn)  # a publish into it waits, or has committed and is seen below
    if pgstac.item_ids(conn, collection):
        return False
    pgstac.delete_collection(conn, collection)
    log(f"deleted empty collection {collection}")
    return True


def _record_failure(
    connect: Connect, ids: list[int], exc: BaseException, log: Callable[[str], None]
) -> None:
    """Best effort: mark the audit rows failed. If the database is the thing that failed, the
    rows stay ``started``, which records the same fact; a re-run completes them."""
    try:
        with connect() as conn:
            audit.finish(conn, ids, audit.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
            conn.commit()
    except Exception as second:
        log(f"could not record the failure in the audit table: {type(second).__name__}")
