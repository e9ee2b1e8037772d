"""Publishing STAC items of one bronze source into pgstac, in one transaction.

Silver assets write their STAC items as JSON next to their data; the catalog assets hand them to
``publish_source_items``, which validates every item offline first (nothing is published if one
is invalid), makes sure each collection exists, upserts the items, removes items that the same
bronze source published before but no longer produces (a dropped layer, say), and refreshes the
collections' extents. Readers see the old set of items or the new one. The pure pieces (a
dataset's collection, the collection link) are in ``lib/stac/collection.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from geo_platform.lib.stac.collection import dataset_collection, with_collection_link
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.stac_ext import SOURCE_BLOB
from geo_platform.store import pgstac


@dataclass
class PublishResult:
    items: list[dict[str, str]] = field(default_factory=list)  # [{collection, id}]
    removed: list[dict[str, str]] = field(default_factory=list)
    collections_created: list[str] = field(default_factory=list)


def items_of_source(
    conn: psycopg.Connection, source_blob: str, collections: list[str] | None = None
) -> list[tuple[str, str]]:
    """(collection, id) of every item a bronze source published (in ``collections`` if given:
    pgstac partitions items by collection, so naming them keeps this from scanning all items)."""
    pgstac.prepare(conn)
    # indexed: pgstac.PROVENANCE_QUERYABLES
    query = sql.SQL("SELECT collection, id FROM items WHERE {} = %s").format(
        pgstac.property_text(SOURCE_BLOB)
    )
    params: list[Any] = [source_blob]
    if collections is not None:
        query += sql.SQL(" AND collection = ANY(%s)")
        params.append(collections)
    rows = conn.execute(query, params).fetchall()
    return [(r[0], r[1]) for r in rows]


def items_of_sources(
    conn: psycopg.Connection, sources: list[str], collections: list[str]
) -> dict[str, list[tuple[str, str]]]:
    """``items_of_source`` for several sources (in ``collections``) in one query."""
    pgstac.prepare(conn)
    source = pgstac.property_text(SOURCE_BLOB)  # indexed: pgstac.PROVENANCE_QUERYABLES
    query = sql.SQL(
        "SELECT {}, collection, id FROM items WHERE {} = ANY(%s) AND collection = ANY(%s)"
    ).format(source, source)
    out: dict[str, list[tuple[str, str]]] = {s: [] for s in sources}
    for src, collection, item_id in conn.execute(query, (sources, collections)).fetchall():
        out[src].append((collection, item_id))
    return out


def publish_source_items(
    conn: psycopg.Connection,
    items: list[dict[str, Any]],
    source_blob: str,
    kind: str,
) -> PublishResult:
    """Validate, then publish ``items`` (all from ``source_blob``) and commit."""
    return publish_sources(conn, {source_blob: items}, kind)[source_blob]


def publish_sources(
    conn: psycopg.Connection,
    by_source: dict[str, list[dict[str, Any]]],
    kind: str,
    *,
    validated: bool = False,
) -> dict[str, PublishResult]:
    """Publish the items of several sources in ONE transaction (a batch run's files), after
    validating every item (unless the caller just did: ``validated``); extents are refreshed
    once per collection."""
    for source, items in by_source.items():
        for item in items:
            with_collection_link(item)
            if not validated:
                validate_stac(item)
            item.setdefault("properties", {})[SOURCE_BLOB] = source
    results = {source: PublishResult() for source in by_source}
    try:
        pgstac.lock_writes(conn)  # batches, unpublishing and other sources take turns
        collections = sorted({str(i["collection"]) for items in by_source.values() for i in items})
        created = _ensure_collections(conn, collections, kind)
        pgstac.upsert_items(conn, [i for items in by_source.values() for i in items])
        touched = set(collections)
        # What each source has in its items' collections now (a source without items: anywhere).
        scoped = [s for s, items in by_source.items() if items]
        present = items_of_sources(conn, scoped, collections) if scoped else {}
        for source, items in by_source.items():
            res = results[source]
            keep = {(str(i["collection"]), str(i["id"])) for i in items}
            res.items = [{"collection": c, "id": i} for c, i in sorted(keep)]
            res.collections_created = [c for c in created if c in {k[0] for k in keep}]
            scope = {k[0] for k in keep}
            if items:
                found = [(c, i) for c, i in present[source] if c in scope]
            else:
                found = items_of_source(conn, source)
            for cid, iid in found:
                if (cid, iid) not in keep:
                    conn.execute("SELECT delete_item(%s, %s)", (iid, cid))
                    res.removed.append({"collection": cid, "id": iid})
                    touched.add(cid)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    # Extents in a second transaction: pgstac may ALTER an item partition's constraints when an
    # item's datetime moved, which it cannot do in the transaction that wrote the item.
    try:
        for cid in sorted(touched):
            pgstac.refresh_collection_extent(conn, cid)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return results


def _ensure_collections(conn: psycopg.Connection, collections: list[str], kind: str) -> list[str]:
    created = []
    for cid in collections:
        if pgstac.get_collection(conn, cid) is None:
            description = f"{kind} data published from bronze"
            pgstac.upsert_collection(conn, dataset_collection(cid, description, kind))
            created.append(cid)
    return created
