"""The audit trail of promotions and demotions: ``audit.promotions`` in the production database.

One row per applied promote or demote (dry runs change nothing and write nothing), inserted in
the same transaction as the change itself, so the trail and production never disagree. The
table is created by the setup script (``services.access``) as the admin role; the promoter may
only INSERT and SELECT, the serving role cannot see the schema at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

AUDIT_SCHEMA = "audit"
AUDIT_TABLE = "promotions"

_DDL = """
CREATE TABLE IF NOT EXISTS {schema}.{table} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    action text NOT NULL CHECK (action IN ('promote', 'demote')),
    collection text NOT NULL,
    items text[] NOT NULL DEFAULT '{{}}',
    removed_items text[] NOT NULL DEFAULT '{{}}',
    tables text[] NOT NULL DEFAULT '{{}}',
    blobs integer NOT NULL DEFAULT 0,
    version text,
    source_run_ids text[] NOT NULL DEFAULT '{{}}',
    run_id text,
    db_user text NOT NULL DEFAULT current_user,
    details jsonb NOT NULL DEFAULT '{{}}'
)
"""


@dataclass(frozen=True)
class AuditRecord:
    """What one promote or demote changed in production."""

    action: str
    collection: str
    items: Sequence[str]
    removed_items: Sequence[str] = ()
    tables: Sequence[str] = ()
    blobs: int = 0
    version: str | None = None
    source_run_ids: Sequence[str] = ()
    run_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _qualified() -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(AUDIT_SCHEMA), sql.Identifier(AUDIT_TABLE))


def ensure_audit_table(conn: psycopg.Connection[Any], owner: str | None = None) -> None:
    """Create ``audit.promotions`` (setup scripts; needs CREATE on the ``audit`` schema)."""
    with conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(AUDIT_SCHEMA)))
        conn.execute(
            sql.SQL(_DDL).format(
                schema=sql.Identifier(AUDIT_SCHEMA), table=sql.Identifier(AUDIT_TABLE)
            )
        )
        if owner:
            conn.execute(
                sql.SQL("ALTER TABLE {} OWNER TO {}").format(_qualified(), sql.Identifier(owner))
            )


def record(conn: psycopg.Connection[Any], entry: AuditRecord) -> int:
    """Insert one audit row in the caller's transaction; returns its id."""
    row = conn.execute(
        sql.SQL(
            "INSERT INTO {} (action, collection, items, removed_items, tables, blobs, version, "
            "source_run_ids, run_id, details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "RETURNING id"
        ).format(_qualified()),
        (
            entry.action,
            entry.collection,
            list(entry.items),
            list(entry.removed_items),
            list(entry.tables),
            entry.blobs,
            entry.version,
            sorted(set(entry.source_run_ids)),
            entry.run_id,
            json.dumps(entry.details, default=str),
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def history(
    conn: psycopg.Connection[Any], collection: str, limit: int = 50
) -> list[dict[str, Any]]:
    """The latest audit rows of a collection, newest first."""
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(
        sql.SQL("SELECT * FROM {} WHERE collection = %s ORDER BY id DESC LIMIT %s").format(
            _qualified()
        ),
        (collection, limit),
    ).fetchall()
