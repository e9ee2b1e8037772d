"""Publish the STAC items of bronze files into pgstac, as the silver stage made them.

The silver workflows (``publish_vector``, ``publish_raster``, ...) produce each file's final
items: collection link included, validated, duplicate content already resolved (pointer items
or a ``duplicate_of_source`` flag). This stage only upserts them, for a whole batch of files in
one transaction (``store.catalog.publish_sources``: collections created when missing, items a
source no longer produces removed, extents refreshed), then gives tiled rasters their mosaic
and every collection with rasters its raster mosaic (``register_raster_mosaics``: a pgstac
search over its raster items only, with the collection's render-extension ``renders``).

When the catalog runs in another run (or process) than the silver stage, the items come back
from the file's silver folder (``read_silver_items``), where the silver stage wrote them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from geo_platform.lib import naming, stac_ext
from geo_platform.lib.errors import NameClashError, NotFoundError, ValidationError
from geo_platform.store import pgstac
from geo_platform.store.blobs.base import BlobStore
from geo_platform.store.catalog import item_owners, name_clash, publish_sources
from geo_platform.store.mosaic_search import (
    attach_mosaic,
    detach_mosaics,
    register_raster_mosaic,
)
from geo_platform.store.postgis import lock_table, table_exists
from geo_platform.store.silver import stac_items
from geo_platform.store.silver_refs import table_of_href
from geo_platform.store.tiler_access import with_tiler_access

MOSAICS = (("mosaic.json", False), ("mosaic-visual.json", True))
_IDENTITY = ("type", "stac_version", "id", "collection")


@dataclass(frozen=True)
class CatalogedSource:
    """What one bronze file has in the catalog after publishing.

    ``items``/``removed`` are ``{collection, id}`` pairs; ``published`` the items as upserted
    (links, renders); ``duplicate_of`` the bronze file whose content this one repeats."""

    source: str
    items: list[dict[str, str]]
    published: list[dict[str, Any]]
    removed: list[dict[str, str]] = field(default_factory=list)
    collections_created: list[str] = field(default_factory=list)
    duplicate_of: str | None = None
    dropped_tables: list[str] = field(default_factory=list)  # named by the removed items


def read_silver_items(store: BlobStore, silver_container: str, blob: str) -> list[dict[str, Any]]:
    """The items the silver stage wrote for ``blob``. It validated each one against the schemas
    before writing it, so only their identity is checked here (a truncated or foreign file)."""
    items = stac_items(store, silver_container, blob)
    if not items:
        raise NotFoundError("no silver STAC items found: publish the silver stage first", path=blob)
    for item in items:
        missing = [k for k in _IDENTITY if not item.get(k)]
        if missing:
            raise ValidationError(f"silver STAC item lacks {', '.join(missing)}", path=blob)
    return items


def duplicate_of(items: list[dict[str, Any]]) -> str | None:
    """The original source the silver stage found for these items (pointers or flagged)."""
    for item in items:
        props = item.get("properties", {})
        pointer = props.get(stac_ext.DUPLICATE_OF)
        if isinstance(pointer, dict) and pointer.get("source_blob"):
            return str(pointer["source_blob"])
        if props.get(stac_ext.DUPLICATE_OF_SOURCE):
            return str(props[stac_ext.DUPLICATE_OF_SOURCE])
    return None


def refuse_clashes(
    conn: psycopg.Connection[Any], items: Mapping[str, list[dict[str, Any]]]
) -> dict[str, NameClashError]:
    """The sources of a batch whose items would replace another bronze file's: an item of that
    (collection, id) is published from another file, or another source of the batch makes one
    (sources with tables claim their names before duplicate pointers, else first come first
    served). Each is refused with a ``NameClashError``; the others publish."""

    def key(item: dict[str, Any]) -> tuple[str, str]:
        return str(item["collection"]), str(item["id"])

    owners = item_owners(conn, sorted({key(i) for its in items.values() for i in its}))
    claimed: dict[tuple[str, str], str] = {}
    refused: dict[str, NameClashError] = {}
    for source in sorted(items, key=lambda s: duplicate_of(items[s]) is not None):
        mine = [key(i) for i in items[source]]
        for k in mine:
            owner = claimed.get(k) or owners.get(k)
            if owner is not None and owner != source:
                refused[source] = name_clash(*k, owner, source)
                break
        else:
            claimed.update(dict.fromkeys(mine, source))
    return refused


def refuse_missing_tables(
    conn: psycopg.Connection[Any], items: Mapping[str, list[dict[str, Any]]], skip: Iterable[str]
) -> dict[str, NotFoundError]:
    """The sources of a batch with an item whose table is gone (dropped by an unpublish while
    the file's run went on): refused, never published without their data. Each table's lock
    (``postgis.lock_table``) is held until the commit, so it cannot be dropped in between."""
    refused: dict[str, NotFoundError] = {}
    for source in sorted(set(items) - set(skip)):
        for item in items[source]:
            gone = [t for t in _tables_of(item) if not _locked_and_there(conn, *t)]
            if gone:
                refused[source] = NotFoundError(
                    f"table {gone[0][0]}.{gone[0][1]} of item {item['collection']}/{item['id']} "
                    "no longer exists (dropped, by an unpublish say, after the file was loaded): "
                    "its item is not published without it; run the file again to publish it",
                    path=source,
                )
                break
    return refused


def _tables_of(item: dict[str, Any]) -> list[tuple[str, str]]:
    found = (table_of_href(str(a.get("href", ""))) for a in (item.get("assets") or {}).values())
    return sorted({t for t in found if t is not None})


def _locked_and_there(conn: psycopg.Connection[Any], schema: str, table: str) -> bool:
    lock_table(conn, schema, table)
    return table_exists(conn, schema, table)


def publish_items(
    conn: psycopg.Connection[Any],
    items: Mapping[str, list[dict[str, Any]]],
    kind: str,
) -> dict[str, CatalogedSource | Exception]:
    """Upsert the final ``items`` of each source (bronze blob -> its items) as they are, in one
    transaction, and commit. A source whose items another file holds is refused alone
    (``refuse_clashes``). When pgstac refuses the batch, each source is tried in a transaction
    of its own: a file whose items pgstac refuses fails alone (its error as its result), the
    others of the batch publish."""
    try:
        return _publish_batch(conn, items, kind)
    except psycopg.Error:
        conn.rollback()
        if len(items) < 2:
            raise
    out: dict[str, CatalogedSource | Exception] = {}
    for source, its in items.items():
        try:
            out.update(_publish_batch(conn, {source: its}, kind))
        except psycopg.Error as exc:
            conn.rollback()
            out[source] = exc
    return out


def _publish_batch(
    conn: psycopg.Connection[Any],
    items: Mapping[str, list[dict[str, Any]]],
    kind: str,
) -> dict[str, CatalogedSource | Exception]:
    pgstac.lock_writes(conn)  # the owners checked stay the owners until the commit
    refused: dict[str, NameClashError | NotFoundError] = dict(refuse_clashes(conn, items))
    refused.update(refuse_missing_tables(conn, items, refused))
    by_source = {source: list(its) for source, its in items.items() if source not in refused}
    results = publish_sources(conn, by_source, kind, validated=True) if by_source else {}
    if not by_source:
        conn.rollback()  # the lock
    published: dict[str, CatalogedSource | Exception] = {
        source: CatalogedSource(
            source=source,
            items=res.items,
            published=by_source[source],
            removed=res.removed,
            collections_created=res.collections_created,
            duplicate_of=duplicate_of(by_source[source]),
            dropped_tables=res.dropped_tables,
        )
        for source, res in results.items()
    }
    return {**published, **refused}


def attach_mosaics(
    conn: psycopg.Connection[Any], store: BlobStore, silver_container: str, blobs: Iterable[str]
) -> list[str]:
    """A tiled large raster's MosaicJSONs (lossless tiles, and visualization tiles when it has
    them) become collection assets, with a pgstac mosaic search; commits. Returns their paths."""
    attached = []
    keys: dict[str, set[str]] = {}  # per collection: its asset keys, read once per batch
    for blob in blobs:
        if not store.exists(silver_container, f"{naming.silver_prefix(blob)}/{MOSAICS[0][0]}"):
            cid = naming.collection_id(blob)
            if cid not in keys:
                keys[cid] = set((pgstac.get_collection(conn, cid) or {}).get("assets") or {})
            if f"mosaic-{naming.item_id(blob)}" in keys[cid]:  # tiled before: not any more
                detach_mosaics(conn, cid, naming.item_id(blob))
            continue
        for name, visual in MOSAICS:
            path = f"{naming.silver_prefix(blob)}/{name}"
            if store.exists(silver_container, path):
                attach_mosaic(
                    conn,
                    naming.collection_id(blob),
                    store.href(silver_container, path),
                    parent_item=naming.item_id(blob),
                    visual=visual,
                )
                attached.append(path)
    conn.commit()
    return attached


def register_raster_mosaics(
    conn: psycopg.Connection[Any], items: Mapping[str, list[dict[str, Any]]]
) -> dict[str, str]:
    """Each collection of the batch's raster items gets its raster mosaic (renders merged,
    search registered: ``store.mosaic_search.register_raster_mosaic``); commits. Returns
    {collection: search id}."""
    by_collection: dict[str, list[dict[str, Any]]] = {}
    for its in items.values():
        for item in its:
            by_collection.setdefault(str(item["collection"]), []).append(item)
    try:
        searches = {
            cid: register_raster_mosaic(conn, cid, its)
            for cid, its in sorted(by_collection.items())
        }
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return searches


def publish_catalog(
    conn: psycopg.Connection[Any],
    items: Mapping[str, list[dict[str, Any]]],
    kind: str,
    *,
    store: BlobStore,
    silver_container: str,
) -> dict[str, CatalogedSource | Exception]:
    """``publish_items``, then (rasters) the mosaics of the batch's tiled files and the raster
    mosaic of each collection."""
    # On Azure, blob assets get the tiler's /vsiaz/ alternate (a private container).
    items = {src: with_tiler_access(store, silver_container, its) for src, its in items.items()}
    results = publish_items(conn, items, kind)
    if kind == "raster":
        done = {s: its for s, its in items.items() if isinstance(results[s], CatalogedSource)}
        attach_mosaics(conn, store, silver_container, list(done))
        register_raster_mosaics(conn, done)
    return results
