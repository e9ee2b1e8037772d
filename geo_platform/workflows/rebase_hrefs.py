"""Rewrite the blob hrefs of a published catalog after the public base URL changed.

Why: asset hrefs are stored absolute (``<public base>/<container>/<path>``, see ``lib.links``)
because the tiler and every STAC client read them as pgstac holds them. When
GEO_PLATFORM_PUBLIC_BASE_URL (or the storage account, or the local files port) changes, the items
already published still point at the old base; this use case rewrites them in one step, as
``geo-platform rebase-hrefs --apply`` (a dry run without ``--apply``).

How an old href is recognised: it ends in ``/<container>/<path>`` and ``<path>`` is a blob of
the container *now* (checked with ``stat``), whatever stood before it: an earlier base URL, a
``file://`` URI, or the absolute file path that the local backend wrote before hrefs were URLs.
Hrefs of PostGIS tables and of anything that is not a blob of the container are left alone.
Items and collections in pgstac are rewritten, and so are the JSON documents of those items in
the container (the item JSON the silver stage keeps beside the data, MosaicJSON documents that
list tile hrefs): every string in them that is such an href, so a re-run of the catalog stage or
a mosaic read sees the new base too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from geo_platform.lib.errors import GeoPlatformError
from geo_platform.lib.links import (
    blob_path_under,
    container_prefixes,
    rebase_item,
    rewrite_strings,
)
from geo_platform.store import pgstac
from geo_platform.store.blobs.base import BlobStore
from geo_platform.store.silver_refs import (
    blob_path_for_href,
    container_href_base,
    stac_json_path,
    table_of_href,
)
from geo_platform.workflows.janitor import iter_items


@dataclass
class RebaseResult:
    """What a rebase changed (or would change, when not ``applied``) in one target."""

    container: str
    base: str
    applied: bool
    items_seen: int = 0
    items: list[str] = field(default_factory=list)
    collections: list[str] = field(default_factory=list)
    hrefs: int = 0
    blobs_rewritten: list[str] = field(default_factory=list)
    prefixes: dict[str, str] = field(default_factory=dict)


def href_mapper(
    store: BlobStore, container: str, prefixes: dict[str, str] | None = None
) -> Callable[[str], str | None]:
    """``old href -> current href`` for blobs of ``container`` (None: leave it). Each old prefix
    it recognises is recorded in ``prefixes`` (old ``.../<container>/`` -> current one)."""
    current = container_href_base(store, container)
    seen = {} if prefixes is None else prefixes

    def new_href(href: str) -> str | None:
        if href.startswith(current) or table_of_href(href) is not None:
            return None
        for prefix in container_prefixes(href, container):
            path = blob_path_under(prefix, href)
            try:
                if path and store.stat(container, path) is not None:
                    seen.setdefault(prefix, current)
                    return store.href(container, path)
            except GeoPlatformError:  # an unsafe remainder: not one of ours
                continue
        return None

    return new_href


def rebase_catalog(
    conn: psycopg.Connection[Any], store: BlobStore, container: str, *, apply: bool = False
) -> RebaseResult:
    """Rewrite (``apply``) or list the items and collections of this pgstac whose blob hrefs
    do not start with the store's current base for ``container``."""
    result = RebaseResult(container, container_href_base(store, container), apply)
    new_href = href_mapper(store, container, result.prefixes)
    items: list[dict[str, Any]] = []
    for item in iter_items(conn):
        result.items_seen += 1
        new, mapping = rebase_item(item, new_href)
        if mapping:
            items.append(new)
            result.items.append(f"{item.get('collection')}/{item['id']}")
            result.hrefs += len(mapping)
    collections = []
    for (content,) in conn.execute("SELECT content FROM pgstac.collections").fetchall():
        new, mapping = rebase_item(content, new_href)
        if mapping:
            collections.append(new)
            result.collections.append(str(content["id"]))
            result.hrefs += len(mapping)
    if apply:
        for collection in collections:
            pgstac.upsert_collection(conn, collection)
        pgstac.upsert_items(conn, items)
        conn.commit()
        result.blobs_rewritten = _rewrite_blobs(store, container, items, new_href)
    else:
        conn.rollback()
    return result


def _rewrite_blobs(
    store: BlobStore,
    container: str,
    items: list[dict[str, Any]],
    new_href: Callable[[str], str | None],
) -> list[str]:
    """The silver item JSON and the MosaicJSON blobs of rewritten items, with the new base."""
    base = container_href_base(store, container)
    paths: set[str] = set()
    for item in items:
        json_path = stac_json_path(item)
        if json_path:
            paths.add(json_path)
        for asset in (item.get("assets") or {}).values():
            path = blob_path_for_href(store, container, str(asset.get("href", "")), base)
            if path and path.endswith(".json"):
                paths.add(path)
    done = []
    for path in sorted(paths):
        if not store.exists(container, path):
            continue
        with store.local_copy(container, path) as local:
            try:
                document = json.loads(local.read_text(encoding="utf-8"))
            except ValueError:
                continue  # not a JSON document after all: leave it
        rewritten = rewrite_strings(document, new_href)
        if rewritten != document:
            data = json.dumps(rewritten).encode()
            store.upload_bytes(container, path, data, "application/json")
            done.append(path)
    return done
