"""``audit.unpublished`` with dry runs in it (issue 17): a dry run leaves a marked row, and that
row never counts as an unpublish; a table from before dry runs were audited is migrated.

Everything runs inside one transaction that is rolled back: the shared audit table is left as
it was."""

from __future__ import annotations

import uuid

import psycopg

from geo_platform.store import audit

BLOB = "t/x.tif/archive.tif"


def _row(item: str, *, delete_blobs: bool) -> audit.UnpublishEntry:
    return audit.UnpublishEntry(
        who="pytest", reason="", run_id="r", kind="raster", collection="c-audit", item_id=item,
        source_blob="t/x.tif", original_run_id=None, delete_blobs=delete_blobs,
        drop_table=True, inventory={"blobs": [{"path": BLOB, "size": 1}]},
    )  # fmt: skip


def test_dry_run_rows_never_count_as_an_unpublish(pg_dsn: str) -> None:
    item = f"i{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn) as conn:
        audit.ensure_audit_table(conn)
        try:
            # A real unpublish kept its blobs; a later dry run asked about deleting them.
            real = audit.insert_started(conn, _row(item, delete_blobs=False), {"id": item})
            audit.finish(conn, [real], audit.COMPLETED, {"done": True})
            dry = audit.insert_dry_run(conn, _row(item, delete_blobs=True), {"message": "would"})
            marks = dict(conn.execute(
                "SELECT id, dry_run FROM audit.unpublished WHERE id = ANY(%s)", ([real, dry],)
            ).fetchall())  # fmt: skip
            assert marks == {real: False, dry: True}
            last = audit.latest_for_item(conn, "c-audit", item)
            assert last is not None and last.id == real  # resuming reads the real run
            assert BLOB in audit.kept_blob_paths(conn)  # the janitor still keeps the blob
        finally:
            conn.rollback()


def test_a_table_from_before_dry_runs_gets_the_column(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        audit.ensure_audit_table(conn)
        conn.commit()
        try:
            conn.execute("ALTER TABLE audit.unpublished DROP COLUMN dry_run")
            # Readers work on the old table (they do not migrate it)...
            assert audit.latest_for_item(conn, "c-audit", "nothing") is None
            assert isinstance(audit.kept_blob_paths(conn), set)
            # ...and the next write does, with every existing row a real run.
            audit.ensure_audit_table(conn)
            column = conn.execute(
                """SELECT data_type, is_nullable, column_default FROM information_schema.columns
                   WHERE table_schema = 'audit' AND table_name = 'unpublished'
                     AND column_name = 'dry_run'"""
            ).fetchone()
            assert column == ("boolean", "NO", "false")
        finally:
            conn.rollback()
