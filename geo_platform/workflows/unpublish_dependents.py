"""What an unpublish reaches beyond the item: H3 aggregates, DuckDB views, production copies.

- H3 aggregates (``h3_aggregate``) of a vector item's tables are silver blobs
  ``<silver prefix>/h3/<table>_res<R>.parquet`` and gold PostGIS tables
  ``<gold schema>.<table>_h3_res<R>`` (no STAC items). They are meaningless without their
  source, so they go with it: the blobs when ``delete_blobs``, the tables when ``drop_table``.
- DuckDB catalog views (``duckdb_catalog``) over a file that is removed would break: they are
  dropped by rebuilding the catalog with the existing builder
  (``store.analytics.sync_catalog``) from the views it holds minus the affected ones (and minus
  any whose file is already gone).
- Production copies (``promote``) are only reported: production is changed by promotion
  tooling alone (``geo-platform demote``).

Every lookup works from names, not from a previous run's state, so a resumed or repeated
unpublish finds exactly what is still left.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from geo_platform.lib.h3.grid import MAX_RESOLUTION
from geo_platform.lib.naming import silver_prefix
from geo_platform.store import pgstac
from geo_platform.store.analytics import (
    H3_FOLDER,
    CatalogSync,
    catalog_views,
    gold_table_name,
    sync_catalog,
)
from geo_platform.store.silver_refs import BlobStoreLike, item_tables
from geo_platform.workflows.unpublish_types import BlobEntry, ItemPlan, TableEntry

DEMOTE_COMMAND = "geo-platform demote {collection} --apply"


@dataclass
class ViewEntry:
    """A DuckDB catalog view that reads a file the unpublish removes (or removed)."""

    name: str
    source: str
    item: str  # collection/id whose data it reads


def _tables(ip: ItemPlan, geo_schema: str) -> list[str]:
    if ip.item is None or ip.kind != "vector":
        return []
    return list(dict.fromkeys(t for _, t in item_tables(ip.item, geo_schema)))


def _h3_pattern(prefix: str, tables: list[str]) -> re.Pattern[str]:
    names = "|".join(re.escape(t) for t in tables)
    return re.compile(rf"^{re.escape(prefix)}/{H3_FOLDER}/(?:{names})_res\d{{1,2}}\.parquet$")


def add_h3_aggregates(
    conn: psycopg.Connection[Any],
    store: BlobStoreLike,
    container: str,
    ip: ItemPlan,
    *,
    geo_schema: str,
    gold_schema: str | None,
) -> None:
    """Fill ``ip.h3_blobs`` / ``ip.h3_tables`` with the aggregates of the item's tables (moved
    out of ``ip.blobs`` when the whole source folder was listed there)."""
    tables = _tables(ip, geo_schema)
    if not tables or not ip.source_blob:
        return
    pattern = _h3_pattern(silver_prefix(ip.source_blob), tables)
    folder = f"{silver_prefix(ip.source_blob)}/{H3_FOLDER}/"
    found = {b.path: b.size for b in store.list_blobs(container, folder) if pattern.match(b.path)}
    ip.blobs = [b for b in ip.blobs if b.path not in found]
    ip.h3_blobs = [BlobEntry(p, found[p]) for p in sorted(found)]
    if not gold_schema:
        return
    names = [gold_table_name(t, r) for t in tables for r in range(MAX_RESOLUTION + 1)]
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename = ANY(%s)",
        (gold_schema, names),
    ).fetchall()
    for (name,) in sorted(rows):
        q = sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(gold_schema), sql.Identifier(name)
        )
        row = conn.execute(q).fetchone()
        ip.h3_tables.append(TableEntry(gold_schema, str(name), int(row[0]) if row else 0))


def affected_views(
    catalog_path: str | None,
    container: str,
    items: list[ItemPlan],
    geo_schema: str,
) -> list[ViewEntry]:
    """Catalog views reading a silver file of ``items``: the item's blobs, its tables'
    GeoParquet and their H3 aggregates (by name, so views left by an interrupted run count)."""
    if not catalog_path:
        return []
    views = catalog_views(catalog_path)
    out = []
    for ip in items:
        paths = {b.path for b in (*ip.blobs, *ip.h3_blobs)}
        tables = _tables(ip, geo_schema)
        pattern = None
        if ip.source_blob and tables:
            prefix = silver_prefix(ip.source_blob)
            paths |= {f"{prefix}/{t}.parquet" for t in tables}
            pattern = _h3_pattern(prefix, tables)
        ends = tuple(f"/{container}/{p}" for p in paths)
        for name, source in sorted(views.items()):
            norm = source.replace("\\", "/")
            rel = norm.split(f"/{container}/", 1)[-1]
            if norm.endswith(ends) or (pattern is not None and pattern.match(rel)):
                out.append(ViewEntry(name, source, f"{ip.collection}/{ip.id}"))
    return out


def drop_views(catalog_path: str, names: set[str]) -> tuple[CatalogSync, list[str]]:
    """Rebuild the catalog without ``names`` and without views whose file no longer exists
    (a view over a missing file cannot be created, and is broken anyway); (sync, the latter)."""
    current = catalog_views(catalog_path)
    missing = sorted(n for n, src in current.items() if n not in names and not Path(src).exists())
    keep = {n: src for n, src in current.items() if n not in names and n not in missing}
    return sync_catalog(catalog_path, keep), missing


def production_copies(
    conn: psycopg.Connection[Any], collection: str, item_ids: list[str]
) -> dict[str, Any]:
    """Whether production (read through ``conn``) holds the collection / these items, and the
    command that removes them (unpublish never changes production)."""
    exists = pgstac.get_collection(conn, collection) is not None
    present = [i for i in item_ids if exists and pgstac.get_item(conn, collection, i) is not None]
    others = [i for i in pgstac.item_ids(conn, collection) if i not in item_ids] if exists else []
    command = None
    if present:
        command = DEMOTE_COMMAND.format(collection=collection)
        if others:
            command += " --items " + ",".join(present)
    return {
        "checked": True,
        "collection_exists": exists,
        "items": present,
        "other_items": len(others),
        "command": command,
    }
