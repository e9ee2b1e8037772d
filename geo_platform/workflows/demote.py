"""Demote: take a dataset (or some of its items) out of production; staging is never touched.

Safety rules are the unpublish job's (``workflows.unpublish``): dry run by default, ``system-*``
collections protected (never deleted; only explicitly listed items may leave them), every real
run audited. The order differs from unpublish on purpose: production has readers, so the items
and their tables go in ONE transaction (with the audit row) and the blobs only after the
commit, when no committed item points at them any more. Readers see the dataset or nothing,
never an item whose table or file has vanished.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from geo_platform.lib.errors import InputError, NotFoundError
from geo_platform.lib.stac.refs import TableRef
from geo_platform.store import pgstac
from geo_platform.store import promotion_audit as audit
from geo_platform.store.promotion_state import (
    Target,
    collection_lock,
    item_refs,
    read_items,
    referenced_blobs,
    sweep_blobs,
)
from geo_platform.store.promotion_tables import drop_table
from geo_platform.store.silver_refs import is_protected


@dataclass
class DemotionPlan:
    """What a demotion will remove from production."""

    collection: str
    items: list[str]
    drop_tables: list[str]
    delete_blobs: list[str]
    delete_collection: bool
    protected: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DemotionResult:
    plan: DemotionPlan
    applied: bool
    blobs_deleted: int = 0
    audit_id: int | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": "demote",
            "dry_run": not self.applied,
            "plan": self.plan.as_dict(),
            "blobs_deleted": self.blobs_deleted,
            "audit_id": self.audit_id,
            "seconds": round(self.seconds, 3),
        }


def plan_demotion(
    dst: psycopg.Connection[Any],
    target: Target,
    collection: str,
    item_ids: tuple[str, ...] | None = None,
) -> DemotionPlan:
    """Read production and work out the demotion (no change)."""
    protected = is_protected(collection)
    if protected and not item_ids:
        raise InputError(
            "protected system-* collection: list the items to demote explicitly",
            path=collection,
        )
    if pgstac.get_collection(dst, collection) is None:
        raise NotFoundError("collection not found in production", path=collection)
    current = read_items(dst, collection)
    chosen = current if item_ids is None else [i for i in current if i["id"] in item_ids]
    if item_ids is not None:
        missing = sorted(set(item_ids) - {str(i["id"]) for i in chosen})
        if missing:
            raise NotFoundError(f"items not in production: {missing}", path=collection)
    ids = {str(i["id"]) for i in chosen}
    remaining = [i for i in current if str(i["id"]) not in ids]
    kept_tables = {t for i in remaining for t in item_refs(i, target).tables}
    tables = {t for i in chosen for t in item_refs(i, target).tables} - kept_tables
    foreign = sorted(t.qualified for t in tables if t.schema != target.geo_schema)
    if foreign:
        raise InputError(f"tables outside schema {target.geo_schema!r}: {foreign}", path=collection)
    blobs = referenced_blobs(chosen, target) - referenced_blobs(remaining, target)
    return DemotionPlan(
        collection=collection,
        items=sorted(ids),
        drop_tables=sorted(t.qualified for t in tables),
        delete_blobs=sorted(blobs),
        delete_collection=not remaining and not protected,
        protected=protected,
    )


def demote(
    dst: psycopg.Connection[Any],
    target: Target,
    collection: str,
    item_ids: tuple[str, ...] | None = None,
    *,
    run_id: str | None = None,
    dry_run: bool = True,
    requested_by: str = "",
) -> DemotionResult:
    """Plan (dry run, the default) or apply a demotion; see the module docstring."""
    t0 = time.perf_counter()
    if dry_run:
        try:
            plan = plan_demotion(dst, target, collection, item_ids)
        finally:
            dst.rollback()
        return DemotionResult(plan=plan, applied=False, seconds=time.perf_counter() - t0)
    with collection_lock(dst, collection):
        try:
            plan = plan_demotion(dst, target, collection, item_ids)
            for name in plan.drop_tables:
                schema, _, table = name.partition(".")
                drop_table(dst, TableRef(schema, table))
            pgstac.lock_writes(dst)
            if plan.delete_collection:
                pgstac.delete_collection(dst, collection)
            else:
                for item_id in plan.items:
                    dst.execute("SELECT delete_item(%s, %s)", (item_id, collection))
                pgstac.refresh_collection_extent(dst, collection)
            audit_id = audit.record(
                dst,
                audit.AuditRecord(
                    action="demote",
                    collection=collection,
                    items=plan.items,
                    tables=plan.drop_tables,
                    blobs=len(plan.delete_blobs),
                    run_id=run_id,
                    details={
                        "collection_deleted": plan.delete_collection,
                        "requested_by": requested_by,
                    },
                ),
            )
            dst.commit()
        except BaseException:
            dst.rollback()
            raise
        deleted = sweep_blobs(dst, target, collection)
    return DemotionResult(
        plan=plan,
        applied=True,
        blobs_deleted=deleted,
        audit_id=audit_id,
        seconds=time.perf_counter() - t0,
    )
