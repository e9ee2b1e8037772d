"""The janitor: find (and remove) what the platform left behind. Intermediate files must never
accumulate.

Orphans, each with the rule that makes removing it safe:

- **unreferenced silver blobs**: in the silver folder of a source that has no published item
  any more (or never got one: a silver stage whose catalog stage failed), referenced by no
  STAC item, not kept on purpose by an unpublish (``delete_blobs: false``, from the audit), and
  older than the threshold (a silver stage writes its files some time before the catalog stage
  publishes the item). A folder is recognised as a source folder by its ``stac/`` JSON or a
  published item's source. Unreferenced files in the folder of a *published* source are
  derived products of other assets (H3 aggregates, say) and are left alone, as is everything
  outside source folders (reports, other tools' outputs): both are only counted;
- **staging blobs** under ``_staging/`` older than the threshold (a killed publish);
- **staging tables** ``_stg_*`` in the platform schema that no session holds a lock on. A load
  creates its staging table inside its own transaction, invisible to everyone else until it
  commits, so a staging table this session can see and nobody is using is a leftover;
- **dangling STAC items** whose data asset (role ``data``) points at a missing silver blob or a
  missing table of the platform schema; removed through unpublish (so they are audited), never
  in protected (``system-*``) collections;
- **temporary folders** of killed runs (``geo-platform-*``, ``cog-*``, ``vec-*``) older than the
  threshold, in the temp folders given, and **half-written uploads** of a local blob store (its
  hidden in-progress folder) older than the threshold.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from geo_platform.lib.naming import silver_prefix
from geo_platform.store import audit, pgstac
from geo_platform.store.postgis import STAGING_PREFIX
from geo_platform.store.silver_refs import (
    STAC_FOLDER,
    STAGING_ROOT,
    BlobStoreLike,
    ancestors,
    asset_hrefs,
    blob_path_for_href,
    container_href_base,
    is_protected,
    item_blob_paths,
    source_blob,
    table_of_href,
)

TEMP_PREFIXES = ("geo-platform-", "cog-", "vec-")
MAX_LISTED = 200


@dataclass
class OrphanBlob:
    path: str
    size: int
    last_modified: str


@dataclass
class DanglingItem:
    collection: str
    id: str
    missing: list[str]  # the data hrefs that point at nothing
    protected: bool


@dataclass
class Orphans:
    """What one janitor pass found (JSON-ready through ``report``)."""

    older_than_hours: float
    unreferenced_blobs: list[OrphanBlob] = field(default_factory=list)
    staging_blobs: list[OrphanBlob] = field(default_factory=list)
    staging_tables: list[str] = field(default_factory=list)  # schema.table
    dangling_items: list[DanglingItem] = field(default_factory=list)
    temp_dirs: list[str] = field(default_factory=list)
    upload_leftovers: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    unrecognized_samples: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        removable = [d for d in self.dangling_items if not d.protected]
        return (
            len(self.unreferenced_blobs)
            + len(self.staging_blobs)
            + len(self.staging_tables)
            + len(removable)
            + len(self.temp_dirs)
            + len(self.upload_leftovers)
        )

    def report(self) -> dict[str, Any]:
        def blobs(items: list[OrphanBlob]) -> list[dict[str, Any]]:
            return [asdict(b) for b in items[:MAX_LISTED]]

        return {
            "older_than_hours": self.older_than_hours,
            "orphans_total": self.total,
            "unreferenced_blobs": blobs(self.unreferenced_blobs),
            "unreferenced_blob_count": len(self.unreferenced_blobs),
            "unreferenced_bytes": sum(b.size for b in self.unreferenced_blobs),
            "staging_blobs": blobs(self.staging_blobs),
            "staging_blob_count": len(self.staging_blobs),
            "staging_tables": self.staging_tables,
            "dangling_items": [asdict(d) for d in self.dangling_items[:MAX_LISTED]],
            "dangling_item_count": len(self.dangling_items),
            "temp_dirs": self.temp_dirs[:MAX_LISTED],
            "upload_leftovers": self.upload_leftovers[:MAX_LISTED],
            "skipped": self.skipped,
            "unrecognized_samples": self.unrecognized_samples,
        }


def iter_items(conn: psycopg.Connection[Any]) -> Iterator[dict[str, Any]]:
    """Every item in pgstac, hydrated, streamed with a server-side cursor."""
    pgstac.prepare(conn)
    with conn.cursor(name="janitor_items") as cur:
        cur.itersize = 500
        cur.execute("SELECT content_hydrate(i) FROM items i")
        for (content,) in cur:
            yield content


def _collection_hrefs(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute("SELECT content FROM collections").fetchall()
    return [a["href"] for (c,) in rows for a in (c.get("assets") or {}).values() if a.get("href")]


def _age_ok(info: Any, cutoff: datetime) -> bool:
    lm = info.last_modified
    return lm is not None and lm.astimezone(UTC) < cutoff


def _as_orphan(info: Any) -> OrphanBlob:
    lm = info.last_modified.isoformat() if info.last_modified else ""
    return OrphanBlob(info.path, int(info.size), lm)


def find_orphans(
    conn: psycopg.Connection[Any],
    store: BlobStoreLike,
    *,
    silver_container: str,
    geo_schema: str,
    older_than: timedelta,
    temp_dirs: Iterable[Path] = (),
    upload_dirs: Iterable[Path] = (),
    now: datetime | None = None,
) -> Orphans:
    """One read-only pass over silver, pgstac and the platform schema."""
    now = now or datetime.now(UTC)
    cutoff = now - older_than
    out = Orphans(older_than_hours=older_than.total_seconds() / 3600)
    listing = {b.path: b for b in store.list_blobs(silver_container)}
    tables = _tables(conn, geo_schema)
    base = container_href_base(store, silver_container)
    referenced: set[str] = set()
    live: set[str] = set()
    for item in iter_items(conn):
        paths, _ = item_blob_paths(store, silver_container, item, base)
        referenced |= paths
        src = source_blob(item)
        if src:
            live.add(silver_prefix(src))
        dangling = _missing_data(store, silver_container, base, item, listing, tables, geo_schema)
        if dangling:
            cid = str(item.get("collection"))
            out.dangling_items.append(
                DanglingItem(cid, str(item["id"]), dangling, is_protected(cid))
            )
    for href in _collection_hrefs(conn):
        path = blob_path_for_href(store, silver_container, href, base)
        if path:
            referenced.add(path)
    kept = audit.kept_blob_paths(conn)
    folders = live | {
        p.rsplit(f"/{STAC_FOLDER}/", 1)[0] for p in listing if f"/{STAC_FOLDER}/" in p
    }
    _classify_blobs(out, listing, referenced, kept, folders, live, cutoff)
    out.staging_tables = [f"{geo_schema}.{t}" for t in unused_staging_tables(conn, geo_schema)]
    out.temp_dirs = [str(p) for p in stale_temp_dirs(temp_dirs, cutoff)]
    out.upload_leftovers = [str(p) for p in stale_files(upload_dirs, cutoff)]
    return out


def _classify_blobs(
    out: Orphans,
    listing: dict[str, Any],
    referenced: set[str],
    kept: set[str],
    folders: set[str],
    live: set[str],
    cutoff: datetime,
) -> None:
    skipped = {"young": 0, "kept_by_unpublish": 0, "in_published_folder": 0, "unrecognized": 0}
    for path, info in listing.items():
        if path.startswith(STAGING_ROOT + "/"):
            if _age_ok(info, cutoff):
                out.staging_blobs.append(_as_orphan(info))
            else:
                skipped["young"] += 1
            continue
        if path in referenced:
            continue
        owner = next((a for a in ancestors(path) if a in folders), None)
        if path in kept:
            skipped["kept_by_unpublish"] += 1
        elif owner is None:
            skipped["unrecognized"] += 1
            if len(out.unrecognized_samples) < 20:
                out.unrecognized_samples.append(path)
        elif owner in live:
            skipped["in_published_folder"] += 1
        elif not _age_ok(info, cutoff):
            skipped["young"] += 1
        else:
            out.unreferenced_blobs.append(_as_orphan(info))
    out.skipped = skipped


def _tables(conn: psycopg.Connection[Any], schema: str) -> set[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))
    return {r[0] for r in rows.fetchall()}


def _missing_data(
    store: BlobStoreLike,
    container: str,
    base: str,
    item: dict[str, Any],
    listing: dict[str, Any],
    tables: set[str],
    geo_schema: str,
) -> list[str]:
    """Data hrefs of ``item`` that point into our silver container or platform schema and
    find nothing there (hrefs elsewhere cannot be judged and are left alone)."""
    missing = []
    for href in asset_hrefs(item, data_only=True).values():
        table = table_of_href(href)
        if table is not None:
            if table[0] == geo_schema and table[1] not in tables:
                missing.append(href)
            continue
        path = blob_path_for_href(store, container, href, base)
        if path is not None and path not in listing:
            missing.append(href)
    return missing


def unused_staging_tables(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    """``_stg_*`` tables in ``schema`` on which no other session holds any lock."""
    rows = conn.execute(
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND starts_with(c.relname, %s)
             AND NOT EXISTS (SELECT 1 FROM pg_locks l
                             WHERE l.relation = c.oid AND l.pid <> pg_backend_pid())
           ORDER BY 1""",
        (schema, STAGING_PREFIX),
    ).fetchall()
    return [r[0] for r in rows]


def stale_temp_dirs(dirs: Iterable[Path], cutoff: datetime) -> list[Path]:
    """Our temp folders (by name prefix) not modified since ``cutoff``, owned by this user."""
    found = []
    for parent in dirs:
        try:
            entries = list(os.scandir(parent))
        except OSError:
            continue
        for entry in entries:
            if not entry.name.startswith(TEMP_PREFIXES) or not entry.is_dir(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
            mtime = datetime.fromtimestamp(st.st_mtime, tz=UTC)
            if mtime < cutoff and (not hasattr(os, "getuid") or st.st_uid == os.getuid()):
                found.append(Path(entry.path))
    return sorted(found)


def stale_files(dirs: Iterable[Path], cutoff: datetime) -> list[Path]:
    """Plain files directly in ``dirs`` not modified since ``cutoff``."""
    found = []
    for folder in dirs:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                mtime = datetime.fromtimestamp(entry.stat().st_mtime, tz=UTC)
                if mtime < cutoff:
                    found.append(Path(entry.path))
    return sorted(found)


# --- removal ---------------------------------------------------------------------------------
UnpublishFn = Callable[[str, list[str], str], dict[str, Any]]
"""(collection, item ids, reason) -> report: unpublishes dangling items (audited)."""


def remove_orphans(
    orphans: Orphans,
    conn: psycopg.Connection[Any],
    store: BlobStoreLike,
    *,
    silver_container: str,
    unpublish: UnpublishFn,
    log: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Remove what ``find_orphans`` found; every step tolerates things already gone."""
    done: dict[str, Any] = {"blobs_deleted": 0, "tables_dropped": 0, "items_unpublished": 0}
    for b in [*orphans.unreferenced_blobs, *orphans.staging_blobs]:
        if store.delete(silver_container, b.path):
            done["blobs_deleted"] += 1
            log(f"janitor: deleted {silver_container}/{b.path}")
    for qualified in orphans.staging_tables:
        schema, _, table = qualified.partition(".")
        conn.execute(
            sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
        )
        conn.commit()
        done["tables_dropped"] += 1
        log(f"janitor: dropped staging table {qualified}")
    by_collection: dict[str, list[DanglingItem]] = {}
    for d in orphans.dangling_items:
        if not d.protected:
            by_collection.setdefault(d.collection, []).append(d)
    reports = []
    for cid, items in sorted(by_collection.items()):
        reason = "janitor: data missing: " + "; ".join(f"{d.id}: {d.missing}" for d in items)
        reports.append(unpublish(cid, [d.id for d in items], reason[:2000]))
        done["items_unpublished"] += len(items)
    done["unpublish_reports"] = reports
    for path in orphans.temp_dirs:
        shutil.rmtree(path, ignore_errors=True)
        log(f"janitor: removed temp folder {path}")
    done["temp_dirs_removed"] = len(orphans.temp_dirs)
    for path in orphans.upload_leftovers:
        Path(path).unlink(missing_ok=True)
        log(f"janitor: removed half-written upload {path}")
    done["upload_leftovers_removed"] = len(orphans.upload_leftovers)
    return done
