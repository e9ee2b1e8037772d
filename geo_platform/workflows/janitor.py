"""The janitor: find (and remove) what the platform left behind, and never anything live.
Intermediate files must never accumulate; published data must never be lost to a clean-up.

The one rule: remove only what no live STAC item, no table and no audit record references. What
that allows, each with the reason it is safe:

- **unreferenced silver blobs**: in the silver folder of a source that has no published item
  any more (or never got one: a silver stage whose catalog stage failed), referenced by no
  STAC item or collection, not kept on purpose by an unpublish (``delete_blobs: false``, from
  the audit), and older than the threshold (a silver stage writes its files some time before
  the catalog stage publishes the item). A folder is recognised as a source folder by its
  ``stac/`` JSON or a published item's source. A folder that holds any file a live item
  references, or that is a live item's source folder, is live: its other files (H3 aggregates,
  say) are only counted;
- **staging blobs** under ``_staging/`` older than the threshold (a killed publish);
- **staging tables** ``_stg_*`` in the platform schema that no session holds a lock on. A load
  creates its staging table inside its own transaction, invisible to everyone else until it
  commits, so a staging table this session can see and nobody is using is a leftover;
- **temporary folders** of killed runs (``geo-platform-*``, ``cog-*``, ``vec-*``) older than the
  threshold, in the temp folders given, and **half-written uploads** of a local blob store (its
  hidden in-progress folder) older than the threshold.

Reported, never removed:

- **damaged items** (``dangling_items``): a live STAC item with an asset that points at a
  missing silver blob or a missing table of the platform schema. Its item, its other assets and
  its collection are live data (a lost ``analysis.tif`` leaves the lossless ``archive.tif``):
  the report lists what is missing and what is intact, whether the bronze file is still there,
  and the command that rebuilds the item from it (or, when bronze is gone, what is left to do);
- **strays**: blobs outside any source folder (reports, other tools' outputs), listed one by one.

Just before a blob is deleted it is looked at again: one that changed since the scan (another
etag) or is gone is left alone.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from geo_platform.lib.errors import GeoPlatformError
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
    item_kind,
    source_blob,
    table_of_href,
)
from geo_platform.workflows.janitor_report import (
    GONE,
    PRESENT,
    UNKNOWN,
    DanglingItem,
    OrphanBlob,
    Orphans,
    remedy,
    report_lines,
)

__all__ = [
    "DanglingItem",
    "OrphanBlob",
    "Orphans",
    "find_orphans",
    "remove_orphans",
    "report_lines",
]

TEMP_PREFIXES = ("geo-platform-", "cog-", "vec-")


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
    return OrphanBlob(info.path, int(info.size), lm, str(info.etag or ""))


@dataclass
class _Scan:
    """What the live items hold: the blobs they reference, their sources' folders."""

    store: BlobStoreLike
    container: str
    base: str
    listing: dict[str, Any]
    tables: set[str]
    geo_schema: str
    bronze_container: str | None
    referenced: set[str] = field(default_factory=set)
    live: set[str] = field(default_factory=set)


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
    bronze_container: str | None = None,
) -> Orphans:
    """One read-only pass over silver, pgstac and the platform schema. With
    ``bronze_container`` a damaged item's report says whether its bronze file is still there."""
    now = now or datetime.now(UTC)
    cutoff = now - older_than
    out = Orphans(older_than_hours=older_than.total_seconds() / 3600)
    scan = _Scan(
        store,
        silver_container,
        container_href_base(store, silver_container),
        {b.path: b for b in store.list_blobs(silver_container)},
        _tables(conn, geo_schema),
        geo_schema,
        bronze_container,
    )
    for item in iter_items(conn):
        paths, _ = item_blob_paths(store, silver_container, item, scan.base)
        scan.referenced |= paths
        src = source_blob(item)
        if src:
            scan.live.add(silver_prefix(src))
        damaged = _damaged(scan, item)
        if damaged is not None:
            out.dangling_items.append(damaged)
    for href in _collection_hrefs(conn):
        path = blob_path_for_href(store, silver_container, href, scan.base)
        if path:
            scan.referenced.add(path)
    kept = audit.kept_blob_paths(conn)
    listing = scan.listing
    folders = scan.live | {
        p.rsplit(f"/{STAC_FOLDER}/", 1)[0] for p in listing if f"/{STAC_FOLDER}/" in p
    }
    # A folder holding anything a live item (or collection) references is live as a whole.
    live = scan.live | {a for p in scan.referenced for a in ancestors(p) if a in folders}
    _classify_blobs(out, listing, scan.referenced, kept, folders, live, cutoff)
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
    skipped = {"young": 0, "kept_by_unpublish": 0, "in_published_folder": 0, "stray": 0}
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
            skipped["stray"] += 1
            out.strays.append(_as_orphan(info))
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


def _damaged(scan: _Scan, item: dict[str, Any]) -> DanglingItem | None:
    """The report of ``item`` if any of its assets points into our silver container or
    platform schema and finds nothing there (hrefs elsewhere cannot be judged: left alone)."""
    missing: dict[str, str] = {}
    intact: list[str] = []
    for key, href in asset_hrefs(item).items():
        table = table_of_href(href)
        if table is not None:
            if table[0] != scan.geo_schema:
                continue
            found = table[1] in scan.tables
        else:
            path = blob_path_for_href(scan.store, scan.container, href, scan.base)
            if path is None:
                continue
            found = path in scan.listing
        if found:
            intact.append(key)
        else:
            missing[key] = href
    if not missing:
        return None
    cid, iid, src = str(item.get("collection")), str(item["id"]), source_blob(item)
    kind, bronze = item_kind(item), _bronze_state(scan, src)
    return DanglingItem(
        collection=cid,
        id=iid,
        missing=list(missing.values()),
        protected=is_protected(cid),
        missing_assets=sorted(missing),
        intact_assets=sorted(intact),
        kind=kind,
        source_blob=src,
        bronze=bronze,
        remedy=remedy(cid, iid, kind, src, bronze),
    )


def _bronze_state(scan: _Scan, src: str | None) -> str:
    if not src or not scan.bronze_container:
        return UNKNOWN
    try:
        return PRESENT if scan.store.stat(scan.bronze_container, src) is not None else GONE
    except GeoPlatformError:  # an unsafe or unreadable name: cannot tell
        return UNKNOWN


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
def remove_orphans(
    orphans: Orphans,
    conn: psycopg.Connection[Any],
    store: BlobStoreLike,
    *,
    silver_container: str,
    log: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Remove what ``find_orphans`` found removable; every step tolerates things already gone.
    Damaged items and strays are never touched."""
    done: dict[str, Any] = {"blobs_deleted": 0, "blobs_changed_since_scan": 0, "tables_dropped": 0}
    for b in [*orphans.unreferenced_blobs, *orphans.staging_blobs]:
        now = store.stat(silver_container, b.path)
        if now is None:
            continue
        if b.etag and str(now.etag or "") != b.etag:
            done["blobs_changed_since_scan"] += 1
            log(f"janitor: kept {silver_container}/{b.path}: it changed since the scan")
            continue
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
    for path in orphans.temp_dirs:
        shutil.rmtree(path, ignore_errors=True)
        log(f"janitor: removed temp folder {path}")
    done["temp_dirs_removed"] = len(orphans.temp_dirs)
    for path in orphans.upload_leftovers:
        Path(path).unlink(missing_ok=True)
        log(f"janitor: removed half-written upload {path}")
    done["upload_leftovers_removed"] = len(orphans.upload_leftovers)
    done["damaged_items_kept"] = len(orphans.dangling_items)
    done["strays_kept"] = len(orphans.strays)
    return done
