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

from geo_platform.lib.errors import NameClashError
from geo_platform.lib.stac.collection import dataset_collection, with_collection_link
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.stac_ext import DUPLICATE_OF, SOURCE_BLOB
from geo_platform.store import pgstac
from geo_platform.store.stale_tables import drop_stale_tables, named_table


@dataclass
class PublishResult:
    items: list[dict[str, str]] = field(default_factory=list)  # [{collection, id}]
    removed: list[dict[str, str]] = field(default_factory=list)
    collections_created: list[str] = field(default_factory=list)
    dropped_tables: list[str] = field(default_factory=list)  # of the removed items


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


def item_owners(
    conn: psycopg.Connection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The bronze source of each published item among ``keys`` ((collection, id) pairs)."""
    if not keys:
        return {}
    pgstac.prepare(conn)
    rows = conn.execute(
        """SELECT i.collection, i.id, i.content->'properties'->>%s
           FROM items i JOIN unnest(%s::text[], %s::text[]) AS k(collection, id)
             ON i.collection = k.collection AND i.id = k.id""",
        (SOURCE_BLOB, [c for c, _ in keys], [i for _, i in keys]),
    ).fetchall()
    return {(c, i): str(src) for c, i, src in rows if src}


def pointer_owners(conn: psycopg.Connection, collection: str, base: str) -> dict[str, str]:
    """Item id -> source of the duplicate pointers (items without a table of their own) in
    ``collection`` named ``base`` or ``base__<layer>``: the names a vector file's tables take."""
    pgstac.prepare(conn)
    rows = conn.execute(
        """SELECT id, content->'properties'->>%s FROM items
           WHERE collection = %s AND (id = %s OR starts_with(id, %s))
             AND content->'properties' ? %s""",
        (SOURCE_BLOB, collection, base, base + "__", DUPLICATE_OF),
    ).fetchall()
    return {str(i): str(src) for i, src in rows if src}


def name_clash(collection: str, item_id: str, owner: str, source: str) -> NameClashError:
    """The error of ``source`` producing an item that describes another bronze file."""
    return NameClashError(
        f"STAC item {collection}/{item_id} describes bronze file {owner!r}, published under the "
        "same name: rename one of the two files (or unpublish the other one first)",
        path=source,
    )


def check_item_owners(conn: psycopg.Connection, keys: list[tuple[str, str]], source: str) -> None:
    """Refuse (``NameClashError``) items of ``source`` whose (collection, id) another bronze
    file's published item holds: an upsert would silently replace it."""
    for (collection, item_id), owner in sorted(item_owners(conn, keys).items()):
        if owner != source:
            raise name_clash(collection, item_id, owner, source)


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
    once per collection. The items a source no longer produces are removed, and the tables they
    named with them (``store.stale_tables``)."""
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
            _remove_stale(conn, source, [k for k in found if k not in keep], res)
            touched.update(r["collection"] for r in res.removed)
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


def _remove_stale(
    conn: psycopg.Connection, source: str, stale: list[tuple[str, str]], res: PublishResult
) -> None:
    """Delete the items ``source`` no longer produces, then the tables they named."""
    tables: dict[str, str] = {}
    for cid, iid in stale:
        table = named_table(pgstac.get_item(conn, cid, iid))
        if table is not None:
            tables[table] = source
        conn.execute("SELECT delete_item(%s, %s)", (iid, cid))
        res.removed.append({"collection": cid, "id": iid})
    res.dropped_tables = drop_stale_tables(conn, tables) if tables else []


def _ensure_collections(conn: psycopg.Connection, collections: list[str], kind: str) -> list[str]:
    created = []
    for cid in collections:
        if pgstac.get_collection(conn, cid) is None:
            description = f"{kind} data published from bronze"
            pgstac.upsert_collection(conn, dataset_collection(cid, description, kind))
            created.append(cid)
    return created
