"""The two sides of a promotion and what each holds: shared by promote and demote.

A ``Target`` is one publication target: a database (for table hrefs and the ``geo`` schema)
and a blob container in a blob store. Blob stores are passed in (any object with the
``BlobStore`` methods used here), never built here, so this module stays free of Dagster.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psycopg

from geo_platform.lib.errors import UnsafePathError
from geo_platform.lib.stac.refs import (
    BlobLocation,
    TableRef,
    asset_hrefs,
    blob_location,
    database_href,
    parse_table_href,
)
from geo_platform.lib.types import BlobInfo
from geo_platform.store import pgstac


class BlobStoreLike(Protocol):
    """The part of ``store.blobs.base.BlobStore`` promotion uses."""

    def stat(self, container: str, path: str) -> BlobInfo | None: ...
    def local_copy(self, container: str, path: str) -> AbstractContextManager[Path]: ...
    def upload_file(
        self, container: str, path: str, src: Path, content_type: str | None = None
    ) -> BlobInfo: ...
    def delete(self, container: str, path: str) -> bool: ...
    def delete_prefix(self, container: str, prefix: str) -> int: ...
    def list_blobs(self, container: str, prefix: str = "") -> Iterator[BlobInfo]: ...
    def href(self, container: str, path: str) -> str: ...
    def ensure_container(self, container: str) -> None: ...


@dataclass(frozen=True)
class Target:
    """One publication target (staging or production)."""

    name: str
    db_href: str
    geo_schema: str
    store: BlobStoreLike
    blobs: BlobLocation

    @property
    def container(self) -> str:
        return self.blobs.container


def make_target(
    name: str, database_url: str, geo_schema: str, store: BlobStoreLike, container: str
) -> Target:
    """A target from a connection URL (only host, port and database are kept: no secret)."""
    return Target(
        name=name,
        db_href=database_href(database_url),
        geo_schema=geo_schema,
        store=store,
        blobs=blob_location(container, store.href),
    )


@dataclass(frozen=True)
class ItemRefs:
    """What one item points at on one target: its blob paths and its tables."""

    blobs: tuple[str, ...]
    tables: tuple[TableRef, ...]
    other: tuple[str, ...]


def item_refs(item: dict[str, Any], target: Target) -> ItemRefs:
    """Blob paths (inside the target's container) and tables (in its database) of an item."""
    blobs, tables, other = [], [], []
    for href in asset_hrefs(item):
        table = parse_table_href(href, target.db_href)
        if table is not None:
            tables.append(table)
            continue
        path = target.blobs.path_of(href)
        if path is not None:
            blobs.append(path)
        else:
            other.append(href)
    return ItemRefs(tuple(blobs), tuple(tables), tuple(other))


def read_items(
    conn: psycopg.Connection[Any], collection: str, item_ids: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Items of a collection (all, or the given ids), hydrated as a STAC API would serve them."""
    pgstac.prepare(conn)
    if item_ids is None:
        rows = conn.execute(
            "SELECT content_hydrate(items) FROM items WHERE collection = %s ORDER BY id",
            (collection,),
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT content_hydrate(items) FROM items WHERE collection = %s AND id = ANY(%s) "
            "ORDER BY id",
            (collection, list(item_ids)),
        ).fetchall()
    return [r[0] for r in rows]


@contextmanager
def collection_lock(conn: psycopg.Connection[Any], collection: str) -> Iterator[None]:
    """Session-level advisory lock: promotions and demotions of one collection take turns."""
    key = f"geo_platform:promotion:{collection}"
    conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
    conn.commit()
    try:
        yield
    finally:
        if not conn.closed:
            conn.rollback()
            conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
            conn.commit()


def referenced_blobs(items: Sequence[dict[str, Any]], target: Target) -> set[str]:
    out: set[str] = set()
    for item in items:
        try:
            out.update(item_refs(item, target).blobs)
        except UnsafePathError:
            continue  # an href that escapes is never ours to keep (nor to delete)
    return out


def sweep_blobs(conn: psycopg.Connection[Any], target: Target, collection: str) -> int:
    """Delete blobs under ``<collection>/`` that no committed item of the collection uses.

    Run with the collection lock held, after the commit: it removes the previous version's
    blobs and anything a crashed promotion left behind.
    """
    keep = referenced_blobs(read_items(conn, collection), target)
    conn.rollback()
    deleted = 0
    for info in list(target.store.list_blobs(target.container, prefix=f"{collection}/")):
        if info.path not in keep and target.store.delete(target.container, info.path):
            deleted += 1
    return deleted
