"""Planning an unpublish: the read-only inventory ``plan_unpublish`` returns.

For each item: its silver blobs with sizes (blobs other items also reference are kept), its
PostGIS tables with row counts, its H3 aggregates, the full item JSON, the source blob and the
run that published it; for the collection, whether it would be left empty and deleted; and the
DuckDB views over removed files. Everything is checked here, before anything is touched:
unknown ids, an item of the other kind, a table outside the platform schema. A dry run is this
plan reported with "would"; ``unpublish.execute_unpublish`` carries it out.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from geo_platform.lib.errors import ConfigError, InputError, NotFoundError
from geo_platform.lib.naming import silver_prefix
from geo_platform.store import audit, pgstac
from geo_platform.store.catalog import items_of_source
from geo_platform.store.duplicates import pointers_to
from geo_platform.store.postgis import table_exists
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
from geo_platform.workflows.unpublish_dependents import add_h3_aggregates, affected_views
from geo_platform.workflows.unpublish_types import (
    DONE,
    PUBLISHED,
    RESUME,
    BlobEntry,
    ItemPlan,
    TableEntry,
    UnpublishPlan,
)


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
    half-run), ``InputError`` for an item of the other kind, a table outside ``geo_schema`` or
    an original of other files' pointers: all before anything is touched. ``gold_schema``:
    where the H3 aggregates' tables are; ``catalog_path``: the DuckDB views over removed files.
    """
    ids = list(dict.fromkeys(i.strip() for i in item_ids if i and i.strip()))
    if not ids:
        raise InputError("no STAC item ids given", path=collection)
    if bronze_container is not None and bronze_container == silver_container:
        raise ConfigError("bronze and silver share a container; refusing to delete blobs")
    pgstac.prepare(conn)
    found = _look_up(conn, collection, ids)
    base = container_href_base(store, silver_container)
    items = [
        _plan_item(conn, store, collection, iid, item, last, ids, silver_container, base)
        for iid, (item, last) in found.items()
    ]
    _mark_shared(conn, store, silver_container, items)
    _refuse_originals_of_pointers(conn, collection, items)  # their pointers would dangle
    for ip in items:
        _check_kind(ip, kind)
        _add_tables(conn, ip, geo_schema, drop_table)
        add_h3_aggregates(
            conn, store, silver_container, ip, geo_schema=geo_schema, gold_schema=gold_schema
        )
    views = delete_blobs and affected_views(catalog_path, silver_container, items, geo_schema)
    coll = pgstac.get_collection(conn, collection)
    remaining = _remaining_items(conn, collection, ids)
    emptied = coll is not None and remaining == 0 and not is_protected(collection)
    return UnpublishPlan(
        collection=collection,
        kind=kind,
        silver_container=silver_container,
        delete_blobs=delete_blobs,
        drop_table=drop_table,
        items=items,
        collection_json=coll,
        collection_remaining_items=remaining,
        collection_would_be_deleted=emptied,
        views=views or [],
        catalog_path=catalog_path,
    )


Found = dict[str, tuple[dict[str, Any] | None, audit.AuditRow | None]]


def _look_up(conn: psycopg.Connection[Any], collection: str, ids: list[str]) -> Found:
    """Each id's published item and latest audit row; ``NotFoundError`` naming every id that
    has neither (an item gone from pgstac is planned again from its audit row)."""
    found: Found = {}
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
    return found


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


def _refuse_originals_of_pointers(
    conn: psycopg.Connection[Any], collection: str, items: list[ItemPlan]
) -> None:
    """An item other files point at as duplicates of it (``GEO_PLATFORM_DUPLICATES=link``)
    holds their data too: unpublishing it would leave their items without data, pointing at
    nothing. Refused (the dry run too), naming them, unless they are unpublished with it."""
    planned = {f"{ip.collection}/{ip.id}" for ip in items}
    live = [ip.id for ip in items if ip.state == PUBLISHED]
    pointers = {
        target: [p for p in found if p not in planned]
        for target, found in pointers_to(conn, collection, live).items()
    }
    pointers = {t: p for t, p in pointers.items() if p}
    if pointers:
        listed = "; ".join(f"{collection}/{t} by {', '.join(p)}" for t, p in pointers.items())
        raise InputError(
            "other files are published as duplicates pointing at the data of "
            f"{listed}: unpublish them first (or with it, when in the same collection), or "
            "republish them in full first (GEO_PLATFORM_DUPLICATES=publish, then run their "
            "files again: geo-platform backfill), so that no item is left without its data",
            path=collection,
        )


def _check_kind(ip: ItemPlan, kind: str | None) -> None:
    """An item still published must be of the kind asked for (unpublish_raster/_vector)."""
    if kind is not None and ip.state == PUBLISHED and ip.kind != kind:
        raise InputError(
            f"{ip.collection}/{ip.id} is a {ip.kind} item, not a {kind} one: unpublish it in "
            f"a call of its own, `geo-platform unpublish {ip.id} -c {ip.collection} --kind "
            f"{ip.kind}` (in the Dagster UI: the unpublish_{ip.kind} job)",
            path=ip.id,
        )


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
