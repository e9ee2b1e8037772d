"""The unpublish audit trail: ``audit.unpublished``, one row per STAC item and unpublish run.

Why a table and not only Dagster's event log: the audit must outlive run history (which is
purged or wiped) and must be queryable next to the catalog it describes. A row is written
*before* anything is removed (status ``started``, with the full inventory and the original
item JSON) and completed afterwards, so a run that dies halfway leaves a record from which a
re-run can finish the job even though the STAC item is already gone.

A dry run writes a row too (``dry_run`` true, status ``completed`` at once, its inventory: what
it would have removed), so every run leaves a record of who looked at what. Dry-run rows never
count as an unpublish: the lookups that drive resuming and the janitor skip them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

AUDIT_SCHEMA = "audit"
AUDIT_TABLE = "unpublished"
STARTED, COMPLETED, FAILED = "started", "completed", "failed"

_DDL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.unpublished (
    id              bigserial PRIMARY KEY,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    status          text NOT NULL CHECK (status IN ('started', 'completed', 'failed')),
    who             text NOT NULL,
    reason          text NOT NULL DEFAULT '',
    run_id          text,
    kind            text,
    collection      text NOT NULL,
    item_id         text NOT NULL,
    source_blob     text,
    original_run_id text,
    delete_blobs    boolean NOT NULL,
    drop_table      boolean NOT NULL,
    inventory       jsonb NOT NULL,
    original_item   jsonb,
    result          jsonb,
    error           text,
    dry_run         boolean NOT NULL DEFAULT false
);
-- Tables created before dry runs were audited get the column (existing rows: real runs).
ALTER TABLE audit.unpublished ADD COLUMN IF NOT EXISTS dry_run boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS unpublished_item_idx
    ON audit.unpublished (collection, item_id, id DESC);
"""


@dataclass(frozen=True)
class AuditRow:
    """The latest audit record of one item (what a re-run needs to resume or skip)."""

    id: int
    status: str
    who: str
    started_at: datetime
    finished_at: datetime | None
    original_item: dict[str, Any] | None
    inventory: dict[str, Any]
    delete_blobs: bool
    drop_table: bool


def ensure_audit_table(conn: psycopg.Connection[Any]) -> None:
    """Create the audit schema and table if missing (serialized: concurrent runs are fine)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('geo_platform:audit', 0))")
        conn.execute(_DDL)


def audit_table_exists(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass('audit.unpublished') IS NOT NULL").fetchone()
    return bool(row and row[0])


def _real_runs_only(conn: psycopg.Connection[Any]) -> sql.SQL:
    """The condition that skips dry-run rows (none on a table from before they were audited,
    which no reader migrates: only ``ensure_audit_table``, on the next write, does)."""
    row = conn.execute(
        """SELECT EXISTS (SELECT 1 FROM pg_attribute
                          WHERE attrelid = 'audit.unpublished'::regclass
                            AND attname = 'dry_run' AND NOT attisdropped)"""
    ).fetchone()
    return sql.SQL("AND NOT dry_run" if row and row[0] else "")


def latest_for_item(
    conn: psycopg.Connection[Any], collection: str, item_id: str
) -> AuditRow | None:
    """The newest audit row of a real unpublish of an item (dry runs are skipped), or None
    (also when the audit table does not exist)."""
    if not audit_table_exists(conn):
        return None
    query = sql.SQL(
        """SELECT id, status, who, started_at, finished_at, original_item, inventory,
                  delete_blobs, drop_table
           FROM audit.unpublished WHERE collection = %s AND item_id = %s {}
           ORDER BY id DESC LIMIT 1"""
    ).format(_real_runs_only(conn))
    row = conn.execute(query, (collection, item_id)).fetchone()
    return AuditRow(*row) if row else None


@dataclass(frozen=True)
class UnpublishEntry:
    """What every row records about one item of an unpublish, real or dry: who asked and why,
    the item, the switches, and the inventory of what goes (or would go)."""

    who: str
    reason: str
    run_id: str | None
    kind: str | None
    collection: str
    item_id: str
    source_blob: str | None
    original_run_id: str | None
    delete_blobs: bool
    drop_table: bool
    inventory: dict[str, Any]


_JSON_COLUMNS = frozenset({"inventory", "original_item", "result"})


def insert_started(
    conn: psycopg.Connection[Any], entry: UnpublishEntry, original_item: dict[str, Any] | None
) -> int:
    """Record that an unpublish starts (call before removing anything); returns the row id."""
    return _insert(conn, entry, status=STARTED, original_item=original_item)


def insert_dry_run(
    conn: psycopg.Connection[Any], entry: UnpublishEntry, result: dict[str, Any]
) -> int:
    """Record a dry run of one item (``dry_run`` true, completed at once, what it would remove
    in ``inventory`` and ``result``); returns the row id. No item JSON: nothing was removed."""
    return _insert(conn, entry, finished=True, status=COMPLETED, dry_run=True, result=result)


def _insert(
    conn: psycopg.Connection[Any], entry: UnpublishEntry, *, finished: bool = False, **more: Any
) -> int:
    """One row: ``entry``'s fields and ``more`` (JSON columns as jsonb, None as SQL NULL),
    ``finished_at`` now when ``finished``."""
    values = {**{f.name: getattr(entry, f.name) for f in fields(entry)}, **more}
    params = [
        json.dumps(v, default=str) if k in _JSON_COLUMNS and v is not None else v
        for k, v in values.items()
    ]
    marks = [sql.SQL("%s::jsonb" if k in _JSON_COLUMNS else "%s") for k in values]
    columns = [sql.Identifier(k) for k in values]
    if finished:
        columns.append(sql.Identifier("finished_at"))
        marks.append(sql.SQL("now()"))
    query = sql.SQL("INSERT INTO audit.unpublished ({}) VALUES ({}) RETURNING id").format(
        sql.SQL(", ").join(columns), sql.SQL(", ").join(marks)
    )
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


def finish(
    conn: psycopg.Connection[Any],
    ids: list[int],
    status: str,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Mark audit rows ``completed`` or ``failed`` (with what was done, or the error)."""
    if not ids:
        return
    conn.execute(
        """UPDATE audit.unpublished
           SET status = %s, finished_at = now(), result = %s::jsonb, error = %s
           WHERE id = ANY(%s)""",
        (status, json.dumps(result, default=str) if result else None, error, ids),
    )


def supersede_unfinished(conn: psycopg.Connection[Any], ids: list[int]) -> int:
    """Close earlier rows of the same items that never finished (a run that died halfway and
    that the rows ``ids`` completed): status ``failed``, pointing at the row that finished."""
    if not ids:
        return 0
    cur = conn.execute(
        """UPDATE audit.unpublished AS old
           SET status = 'failed', finished_at = now(),
               error = concat_ws('; ', old.error, 'unfinished; completed by audit #' || new.id)
           FROM audit.unpublished AS new
           WHERE new.id = ANY(%s) AND old.collection = new.collection
             AND old.item_id = new.item_id AND old.id < new.id AND old.status = 'started'""",
        (ids,),
    )
    return cur.rowcount


def kept_blob_paths(conn: psycopg.Connection[Any]) -> set[str]:
    """Silver blobs an unpublish deliberately kept (``delete_blobs: false``) and that were not
    removed by a later unpublish (dry runs do not count): the janitor must not treat them as
    orphans."""
    if not audit_table_exists(conn):
        return set()
    query = sql.SQL(
        """SELECT DISTINCT ON (collection, item_id) delete_blobs, inventory
           FROM audit.unpublished WHERE status = 'completed' {}
           ORDER BY collection, item_id, id DESC"""
    ).format(_real_runs_only(conn))
    rows = conn.execute(query).fetchall()
    kept: set[str] = set()
    for delete_blobs, inventory in rows:
        if not delete_blobs:
            kept.update(b["path"] for b in inventory.get("blobs", []))
    return kept
