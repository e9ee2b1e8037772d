"""Promote a published dataset (a STAC collection) from staging to production, atomically.

What a promotion copies: the collection, its items (all, the given ids, or those of one bronze
source), the PostGIS tables and the blobs (COGs, GeoParquet, thumbnails) their assets point at.
In order, holding the collection's advisory lock on production:

1. Plan from staging: items, the tables and blobs they reference, what production holds now
   (stale items to remove, tables nobody will reference any more). A dry run stops here.
2. ``LOCK TABLE ... IN ACCESS SHARE MODE`` on the staging tables (a pipeline cannot swap them
   while they are copied), then plan again so items and tables belong together.
3. Copy the blobs to ``<collection>/<version>/<staging path>`` in the production container:
   new names, so nothing a production reader uses changes yet.
4. One production transaction: stream each table into a staging table, swap them all, upsert
   the collection and the rewritten items (production hrefs, ``promoted_at``, the source and
   promoting runs), remove stale items and tables, write the audit row, commit. Readers see
   the old version or the new one.
5. Delete the blobs no committed item uses any more (the previous version). On failure before
   the commit, the new version's blobs are deleted instead and production is untouched.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from geo_platform.lib.errors import ConfigError, NotFoundError, ValidationError
from geo_platform.lib.stac.collection import with_collection_link
from geo_platform.lib.stac.refs import TableRef, rewrite_item, table_href
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.stac_ext import (
    PROMOTED_AT,
    PROMOTION_RUN,
    PROMOTION_VERSION,
    RUN_ID,
    SOURCE_BLOB,
)
from geo_platform.store import pgstac
from geo_platform.store import promotion_audit as audit
from geo_platform.store.mosaic_search import copy_mosaic_searches
from geo_platform.store.promotion_state import (
    Target,
    collection_lock,
    item_refs,
    read_items,
    sweep_blobs,
)
from geo_platform.store.promotion_tables import CopyResult, TableCopy, drop_table
from geo_platform.store.tiler_access import with_tiler_access


@dataclass(frozen=True)
class PromotionRequest:
    """What to promote: a collection, optionally only some items or one bronze source's."""

    collection: str
    item_ids: tuple[str, ...] | None = None
    source_blob: str | None = None


@dataclass
class PromotionPlan:
    """What a promotion will do (a dry run returns exactly this)."""

    collection: str
    version: str
    items: list[str]
    remove_items: list[str]
    tables: list[dict[str, str]]  # {source, target}
    drop_tables: list[str]
    blobs: list[dict[str, Any]]  # {source, target, size}
    kept_hrefs: list[str]
    source_run_ids: list[str]
    source_items: list[dict[str, Any]] = field(default_factory=list, repr=False)
    source_collection: dict[str, Any] = field(default_factory=dict, repr=False)
    href_map: dict[str, str] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for private in ("source_items", "source_collection", "href_map"):
            out.pop(private)
        out["bytes"] = sum(int(b.get("size") or 0) for b in self.blobs)
        return out


@dataclass
class PromotionResult:
    """A plan and, when applied, what the promotion did."""

    plan: PromotionPlan
    applied: bool
    tables: list[CopyResult] = field(default_factory=list)
    blobs_copied: int = 0
    blobs_deleted: int = 0
    audit_id: int | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": "promote",
            "dry_run": not self.applied,
            "plan": self.plan.as_dict(),
            "tables": [asdict(t) for t in self.tables],
            "blobs_copied": self.blobs_copied,
            "blobs_deleted": self.blobs_deleted,
            "audit_id": self.audit_id,
            "seconds": round(self.seconds, 3),
        }


def new_version(run_id: str | None, now: datetime | None = None) -> str:
    """A sortable, unique-per-run version name for the production blob prefix."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    return f"v{stamp}-{(run_id or 'manual')[:8]}"


def _source_items(src: psycopg.Connection[Any], req: PromotionRequest) -> list[dict[str, Any]]:
    items = read_items(src, req.collection, req.item_ids)
    if req.item_ids is not None:
        missing = sorted(set(req.item_ids) - {str(i["id"]) for i in items})
        if missing:
            raise NotFoundError(f"items not in staging: {missing}", path=req.collection)
    if req.source_blob is not None:
        items = [i for i in items if i.get("properties", {}).get(SOURCE_BLOB) == req.source_blob]
    if not items:
        raise NotFoundError("nothing to promote: no matching items in staging", path=req.collection)
    return items


def _source_of(item: dict[str, Any]) -> Any:
    return item.get("properties", {}).get(SOURCE_BLOB)


def _in_scope(item: dict[str, Any], req: PromotionRequest) -> bool:
    """Whether a production item is replaced by this promotion (stale if not re-promoted)."""
    if req.item_ids is not None:
        return str(item["id"]) in req.item_ids
    if req.source_blob is not None:
        return _source_of(item) == req.source_blob
    return True


@dataclass
class _Sources:
    """What staging items point at, and where each reference goes in production."""

    hrefs: dict[str, str] = field(default_factory=dict)
    tables: dict[str, TableRef] = field(default_factory=dict)  # production name -> staging
    blobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    kept: set[str] = field(default_factory=set)


def _map_sources(
    items: list[dict[str, Any]], source: Target, target: Target, prefix: str
) -> _Sources:
    out = _Sources()
    for item in items:
        refs = item_refs(item, source)
        for ref in refs.tables:
            prod = TableRef(target.geo_schema, ref.table)
            if out.tables.setdefault(prod.qualified, ref) != ref:
                raise ValidationError(f"two staging tables map to {prod.qualified}", path=ref.table)
            out.hrefs[table_href(source.db_href, ref)] = table_href(target.db_href, prod)
        for path in refs.blobs:
            info = source.store.stat(source.container, path)
            if info is None:
                raise NotFoundError("blob of a staging item is missing", path=path)
            dest = f"{prefix}/{path}"
            out.blobs[path] = {"source": path, "target": dest, "size": info.size}
            out.hrefs[source.store.href(source.container, path)] = target.store.href(
                target.container, dest
            )
        foreign = [h for h in refs.other if h.startswith(("postgresql:", "postgres:"))]
        if foreign:
            raise ValidationError(f"table hrefs outside staging: {foreign}", path=item["id"])
        out.kept.update(refs.other)
    return out


def plan_promotion(
    src: psycopg.Connection[Any],
    dst: psycopg.Connection[Any],
    source: Target,
    target: Target,
    req: PromotionRequest,
    version: str,
) -> PromotionPlan:
    """Read both sides and work out the promotion (no change anywhere)."""
    if source.store is target.store and source.container == target.container:
        raise ConfigError("staging and production use the same container", path=source.container)
    collection = pgstac.get_collection(src, req.collection)
    if collection is None:
        raise NotFoundError("collection not found in staging", path=req.collection)
    items = _source_items(src, req)
    found = _map_sources(items, source, target, f"{req.collection}/{version}")
    current = read_items(dst, req.collection)
    new_ids = {str(i["id"]) for i in items}
    replaced = [i for i in current if _in_scope(i, req)]
    remaining = [i for i in current if not _in_scope(i, req)]
    still_used = {t for i in remaining for t in item_refs(i, target).tables} | {
        TableRef(target.geo_schema, r.table) for r in found.tables.values()
    }
    old_tables = {t for i in replaced for t in item_refs(i, target).tables}
    run_ids = {str(r) for i in items if (r := i.get("properties", {}).get(RUN_ID))}
    return PromotionPlan(
        collection=req.collection,
        version=version,
        items=sorted(new_ids),
        remove_items=sorted(str(i["id"]) for i in replaced if str(i["id"]) not in new_ids),
        tables=[{"source": r.qualified, "target": q} for q, r in sorted(found.tables.items())],
        drop_tables=sorted(t.qualified for t in old_tables - still_used),
        blobs=[found.blobs[p] for p in sorted(found.blobs)],
        kept_hrefs=sorted(found.kept),
        source_run_ids=sorted(run_ids),
        source_items=items,
        source_collection=collection,
        href_map=found.hrefs,
    )


def _lock_source_tables(src: psycopg.Connection[Any], plan: PromotionPlan) -> None:
    for t in plan.tables:
        schema, _, table = t["source"].partition(".")
        src.execute(
            sql.SQL("LOCK TABLE {}.{} IN ACCESS SHARE MODE").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
        )


def _production_items(
    plan: PromotionPlan, run_id: str | None, now: datetime
) -> list[dict[str, Any]]:
    stamp = {
        PROMOTED_AT: now.isoformat().replace("+00:00", "Z"),
        PROMOTION_RUN: run_id or "manual",
        PROMOTION_VERSION: plan.version,
    }
    tables = {t["source"]: t["target"] for t in plan.tables}
    out = []
    for item in plan.source_items:
        new = with_collection_link(rewrite_item(item, plan.href_map, tables, stamp))
        validate_stac(new)
        out.append(new)
    return out


def _copy_blobs(plan: PromotionPlan, source: Target, target: Target) -> int:
    target.store.ensure_container(target.container)
    for blob in plan.blobs:
        with source.store.local_copy(source.container, blob["source"]) as local:
            target.store.upload_file(target.container, blob["target"], local)
    return len(plan.blobs)


def _publish(
    src: psycopg.Connection[Any],
    dst: psycopg.Connection[Any],
    plan: PromotionPlan,
    items: list[dict[str, Any]],
    run_id: str | None,
    lock_timeout_s: float | None,
    requested_by: str,
) -> tuple[list[CopyResult], int]:
    """Step 4 of the module docstring, committed at the end (rolled back on any error)."""
    try:
        copies = []
        for t in plan.tables:
            s_schema, _, s_table = t["source"].partition(".")
            d_schema, _, d_table = t["target"].partition(".")
            copy = TableCopy(src, dst, TableRef(s_schema, s_table), TableRef(d_schema, d_table))
            copy.copy()
            copies.append(copy)
        for copy in copies:
            copy.swap(lock_timeout_s)
        for name in plan.drop_tables:
            schema, _, table = name.partition(".")
            drop_table(dst, TableRef(schema, table))
        pgstac.upsert_collection(dst, plan.source_collection)  # takes pgstac.lock_writes
        copy_mosaic_searches(src, dst, plan.source_collection)  # its search ids answer there
        pgstac.upsert_items(dst, items)
        for item_id in plan.remove_items:
            dst.execute("SELECT delete_item(%s, %s)", (item_id, plan.collection))
        pgstac.refresh_collection_extent(dst, plan.collection)
        audit_id = audit.record(
            dst,
            audit.AuditRecord(
                action="promote",
                collection=plan.collection,
                items=plan.items,
                removed_items=plan.remove_items,
                tables=[t["target"] for t in plan.tables],
                blobs=len(plan.blobs),
                version=plan.version,
                source_run_ids=plan.source_run_ids,
                run_id=run_id,
                details={
                    "dropped_tables": plan.drop_tables,
                    "kept_hrefs": plan.kept_hrefs,
                    "requested_by": requested_by,
                },
            ),
        )
        dst.commit()
    except BaseException:
        dst.rollback()
        raise
    return [c.result for c in copies if c.result is not None], audit_id


def promote(
    src: psycopg.Connection[Any],
    dst: psycopg.Connection[Any],
    source: Target,
    target: Target,
    req: PromotionRequest,
    *,
    run_id: str | None = None,
    dry_run: bool = True,
    now: datetime | None = None,
    lock_timeout_s: float | None = 300.0,
    requested_by: str = "",
) -> PromotionResult:
    """Plan (dry run, the default) or apply a promotion; see the module docstring.

    ``src``/``dst``: non-autocommit connections to staging (read) and production (write).
    """
    t0 = time.perf_counter()
    now = now or datetime.now(UTC)
    version = new_version(run_id, now)
    if dry_run:
        try:
            plan = plan_promotion(src, dst, source, target, req, version)
        finally:
            src.rollback()
            dst.rollback()
        return PromotionResult(plan=plan, applied=False, seconds=time.perf_counter() - t0)
    with collection_lock(dst, req.collection):
        try:
            plan = plan_promotion(src, dst, source, target, req, version)
            _lock_source_tables(src, plan)
            plan = plan_promotion(src, dst, source, target, req, version)
            _lock_source_tables(src, plan)  # the tables of a re-published item, if any
            items = _production_items(plan, run_id, now)
            # Azure: the tiler's /vsiaz/ alternates name production's container, not staging's.
            items = with_tiler_access(target.store, target.container, items)
            try:
                copied = _copy_blobs(plan, source, target)
                copies, audit_id = _publish(
                    src, dst, plan, items, run_id, lock_timeout_s, requested_by
                )
            except BaseException:
                target.store.delete_prefix(target.container, f"{req.collection}/{version}/")
                raise
        finally:
            src.rollback()
        deleted = sweep_blobs(dst, target, req.collection)
    return PromotionResult(
        plan=plan,
        applied=True,
        tables=copies,
        blobs_copied=copied,
        blobs_deleted=deleted,
        audit_id=audit_id,
        seconds=time.perf_counter() - t0,
    )


def source_items_of(src: psycopg.Connection[Any], collection: str, source_blob: str) -> list[str]:
    """Ids of the staging items one bronze file published in ``collection``."""
    ids = [
        str(i["id"])
        for i in read_items(src, collection)
        if i.get("properties", {}).get(SOURCE_BLOB) == source_blob
    ]
    src.rollback()
    return ids


def item_ids_arg(values: Sequence[str] | None) -> tuple[str, ...] | None:
    """Item ids from CLI/config values (comma-separated allowed); None or empty = all."""
    if not values:
        return None
    ids = tuple(v.strip() for raw in values for v in raw.split(",") if v.strip())
    return ids or None
