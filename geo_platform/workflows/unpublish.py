"""Unpublish: take STAC items (and the silver data behind them) out of the platform, safely.

``plan_unpublish`` only reads: it inventories each item (its silver blobs with sizes, its
PostGIS tables with row counts, the full item JSON, the source blob and the run that published
it) and decides whether the collection would be left empty and deleted. A dry run is exactly
this plan, reported with "would" (``report(dry_run=True)``), plus an audit row per item marked
``dry_run`` (``record_dry_run``). ``execute_unpublish`` then works in a fixed order:

0. an audit row per item, status ``started``, with the inventory (before anything is removed);
1. delete the silver blobs / drop the tables (unless ``delete_blobs`` / ``drop_table`` is off),
   the gold H3 aggregates of the item's tables included (blobs and ``gold`` tables);
2. delete the STAC items (one transaction) and refresh the collection's extent;
3. delete the collection if it is now empty, unless protected (``system-*``);
4. drop the DuckDB catalog views that read removed files (the catalog is rebuilt without them);
5. complete the audit rows.

Dependents are in ``lifecycle_deps``. Production copies (promotion) are reported in the plan,
never removed here: production changes through ``geo-platform demote`` only.

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
from psycopg import sql

from geo_platform.lib.errors import ConfigError, InputError, NotFoundError
from geo_platform.lib.naming import silver_prefix
from geo_platform.store import audit, pgstac
from geo_platform.store.catalog import items_of_source
from geo_platform.store.postgis import drop_table, table_exists
from geo_platform.store.silver_refs import (
    BlobStoreLike,
    container_href_base,
    is_protected,
    item_blob_paths,
    item_kind,
    item_tables,
    original_run_id,
    source_blob,
)
from geo_platform.workflows.unpublish_audit import Connect, audit_started, record_dry_run
from geo_platform.workflows.unpublish_dependents import (
    add_h3_aggregates,
    affected_views,
    drop_views,
)
from geo_platform.workflows.unpublish_types import (
    DONE,
    PUBLISHED,
    RESUME,
    BlobEntry,
    ItemPlan,
    TableEntry,
    UnpublishPlan,
    UnpublishResult,
)

__all__ = [
    "DONE",
    "PUBLISHED",
    "RESUME",
    "BlobEntry",
    "Connect",
    "ItemPlan",
    "TableEntry",
    "UnpublishPlan",
    "UnpublishResult",
    "execute_unpublish",
    "plan_unpublish",
    "record_dry_run",
]


# --- planning --------------------------------------------------------------------------------
def plan_unpublish(
    conn: psycopg.Connection[Any],
    store: BlobStoreLike,
    *,
    collection: str,
    item_ids: list[str],
    silver_container: str,
    geo_schema: str,
    kind: str | None = None,
    delete_blobs: bool = True,
    drop_table: bool = True,
    bronze_container: str | None = None,
    gold_schema: str | None = None,
    catalog_path: str | None = None,
) -> UnpublishPlan:
    """Inventory what unpublishing ``item_ids`` from ``collection`` removes (read-only).

    Raises ``NotFoundError`` when an id is neither in pgstac nor in the audit (a typo must not
    half-run), and ``InputError`` for an item of the other kind or a table outside
    ``geo_schema``: all before anything is touched. With ``gold_schema`` the H3 aggregates'
    gold tables are found there; with ``catalog_path`` the DuckDB views over removed files.
    """
    ids = list(dict.fromkeys(i.strip() for i in item_ids if i and i.strip()))
    if not ids:
        raise InputError("no STAC item ids given", path=collection)
    if bronze_container is not None and bronze_container == silver_container:
        raise ConfigError("bronze and silver share a container; refusing to delete blobs")
    pgstac.prepare(conn)
    found: dict[str, tuple[dict[str, Any] | None, audit.AuditRow | None]] = {}
    missing = []
    for iid in ids:
        item = pgstac.get_item(conn, collection, iid)
        last = audit.latest_for_item(conn, collection, iid)
        if item is None and (last is None or last.original_item is None):
            missing.append(iid)
        found[iid] = (item, last)
    if missing:
        raise NotFoundError(
            f"STAC item(s) {', '.join(missing)} not found in collection {collection!r} and never "
            "unpublished: nothing was changed",
            path=collection,
        )
    base = container_href_base(store, silver_container)
    items = [
        _plan_item(conn, store, collection, iid, item, last, ids, silver_container, base)
        for iid, (item, last) in found.items()
    ]
    _mark_shared(conn, store, silver_container, items)
    for ip in items:
        if kind is not None and ip.state == PUBLISHED and ip.kind != kind:
            raise InputError(
                f"{collection}/{ip.id} is a {ip.kind} item; use unpublish_{ip.kind}",
                path=ip.id,
            )
        _add_tables(conn, ip, geo_schema, drop_table)
        add_h3_aggregates(
            conn, store, silver_container, ip, geo_schema=geo_schema, gold_schema=gold_schema
        )
    views = (
        affected_views(catalog_path, silver_container, items, geo_schema) if delete_blobs else []
    )
    coll = pgstac.get_collection(conn, collection)
    remaining = _remaining_items(conn, collection, ids)
    return UnpublishPlan(
        collection=collection,
        kind=kind,
        silver_container=silver_container,
        delete_blobs=delete_blobs,
        drop_table=drop_table,
        items=items,
        collection_json=coll,
        collection_remaining_items=remaining,
        collection_would_be_deleted=coll is not None
        and remaining == 0
        and not is_protected(collection),
        views=views,
        catalog_path=catalog_path,
    )


def _plan_item(
    conn: psycopg.Connection[Any],
    store: BlobStoreLike,
    collection: str,
    iid: str,
    item: dict[str, Any] | None,
    last: audit.AuditRow | None,
    plan_ids: list[str],
    container: str,
    base: str,
) -> ItemPlan:
    state = PUBLISHED
    if item is None:
        assert last is not None and last.original_item is not None
        item = last.original_item
        state = DONE if last.status == audit.COMPLETED else RESUME
    src = source_blob(item)
    paths, external = item_blob_paths(store, container, item, base)
    sizes: dict[str, int | None] = {}
    if src:
        # The source's whole silver folder goes with its last item (stray files included);
        # while sibling items of the same source stay published, only this item's files go.
        siblings = {i for c, i in items_of_source(conn, src) if c == collection} - set(plan_ids)
        if not siblings:
            for listed in store.list_blobs(container, silver_prefix(src) + "/"):
                sizes[listed.path] = listed.size
    for path in paths - sizes.keys():
        info = store.stat(container, path)
        sizes[path] = info.size if info else None
    ip = ItemPlan(
        collection=collection,
        id=iid,
        state=state,
        kind=item_kind(item),
        source_blob=src,
        original_run_id=original_run_id(item),
        item=item,
        blobs=[BlobEntry(p, sizes[p]) for p in sorted(sizes)],
        external_hrefs=external,
        last_audit=last,
    )
    return ip


def _mark_shared(
    conn: psycopg.Connection[Any], store: BlobStoreLike, container: str, items: list[ItemPlan]
) -> None:
    """Blobs that items outside the plan also reference (a duplicate published as pointers to
    the original's files, say) are kept: deleting them would break those items."""
    by_href = {
        store.href(container, b.path): b for ip in items for b in ip.blobs if b.size is not None
    }
    if not by_href:
        return
    planned = {(ip.collection, ip.id) for ip in items}
    rows = conn.execute(
        """SELECT i.collection, i.id, a.value->>'href'
           FROM items i, jsonb_each(i.content->'assets') a
           WHERE a.value->>'href' = ANY(%s)""",
        (list(by_href),),
    ).fetchall()
    for collection, iid, href in rows:
        if (collection, iid) not in planned:
            by_href[href].shared_with.append(f"{collection}/{iid}")


def _add_tables(
    conn: psycopg.Connection[Any], ip: ItemPlan, geo_schema: str, will_drop: bool
) -> None:
    assert ip.item is not None
    for schema, table in item_tables(ip.item, geo_schema):
        if schema != geo_schema and will_drop:
            raise InputError(
                f"{ip.collection}/{ip.id} points at table {schema}.{table}, outside the platform "
                f"schema {geo_schema!r}; refusing to drop it (set drop_table: false to keep it)",
                path=ip.id,
            )
        rows = None
        if table_exists(conn, schema, table):
            q = sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            row = conn.execute(q).fetchone()
            rows = int(row[0]) if row else 0
        ip.tables.append(TableEntry(schema, table, rows))


def _remaining_items(conn: psycopg.Connection[Any], collection: str, ids: list[str]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM items WHERE collection = %s AND NOT (id = ANY(%s))",
        (collection, ids),
    ).fetchone()
    return int(row[0]) if row else 0


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
    if ip.source_blob:  # the lock catalog publishing takes: never interleave with a publish
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("stac:" + ip.source_blob,))
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
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("collection:" + collection,))
    if pgstac.item_ids(conn, collection):
        return False
    conn.execute("SELECT delete_collection(%s)", (collection,))
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
