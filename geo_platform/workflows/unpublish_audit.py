"""The audit rows of an unpublish run, real or dry (``audit.unpublished``).

A real run writes one row per item *before* anything is removed (``audit_started``) and
completes it afterwards (``unpublish.execute_unpublish``). A dry run writes one row per item as
well (``record_dry_run``: marked ``dry_run``, completed at once, with the inventory of what it
would remove), so every run, dry or not, leaves a record of who asked what and why.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import psycopg

from geo_platform.store import audit
from geo_platform.workflows.unpublish_types import ItemPlan, UnpublishPlan

Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]
"""Opens a fresh connection (a new one per step, so a lost connection fails one step only)."""


def _inventory(plan: UnpublishPlan, ip: ItemPlan) -> dict[str, Any]:
    inventory = ip.inventory(plan)
    inventory["collection_would_be_deleted"] = plan.collection_would_be_deleted
    if plan.collection_would_be_deleted:
        inventory["collection_json"] = plan.collection_json
    return inventory


def _entry(
    plan: UnpublishPlan, ip: ItemPlan, who: str, reason: str, run_id: str | None
) -> audit.UnpublishEntry:
    return audit.UnpublishEntry(
        who=who,
        reason=reason,
        run_id=run_id,
        kind=ip.kind,
        collection=ip.collection,
        item_id=ip.id,
        source_blob=ip.source_blob,
        original_run_id=ip.original_run_id,
        delete_blobs=plan.delete_blobs,
        drop_table=plan.drop_table,
        inventory=_inventory(plan, ip),
    )


def audit_started(
    conn: psycopg.Connection[Any],
    plan: UnpublishPlan,
    work: list[ItemPlan],
    who: str,
    reason: str,
    run_id: str | None,
) -> list[int]:
    """One ``started`` row per item of ``work`` (call before removing anything)."""
    return [
        audit.insert_started(conn, _entry(plan, ip, who, reason, run_id), ip.item) for ip in work
    ]


def record_dry_run(
    plan: UnpublishPlan,
    connect: Connect,
    *,
    who: str,
    reason: str = "",
    run_id: str | None = None,
) -> list[int]:
    """Write the audit rows of a dry run of ``plan`` (one per item, ``dry_run`` true) and
    return their ids. They never count as an unpublish (resuming and the janitor skip them)."""
    report = plan.report(dry_run=True)
    summary = {
        "message": report["message"],
        "noop": report["noop"],
        "totals": report["totals"],
        "collection_would_be_deleted": plan.collection_would_be_deleted,
        "duckdb_views": [v.name for v in plan.views],
    }
    with connect() as conn:
        audit.ensure_audit_table(conn)
        ids = [
            audit.insert_dry_run(conn, _entry(plan, ip, who, reason, run_id), summary)
            for ip in plan.items
        ]
        conn.commit()
    return ids
