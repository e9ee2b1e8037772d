"""PgSTACResource.lookups: one shared read connection per step, none left open afterwards."""

from __future__ import annotations

import psycopg
import pytest

from geo_platform.resources.databases import PgSTACResource


def _pid(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def _search_path(conn: psycopg.Connection) -> str:
    return conn.execute("SHOW search_path").fetchone()[0]


def test_lookups_share_one_connection_inside_a_session(pg_dsn: str) -> None:
    res = PgSTACResource(database_url=pg_dsn)
    with res.lookup_session():
        with res.lookups() as a:
            pid = _pid(a)
            assert "pgstac" in _search_path(a)
        with res.lookups() as b:
            # the previous lookup left no transaction open
            assert b.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            assert _pid(b) == pid
        assert b.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert b.closed  # the session closed it


def test_lookups_outside_a_session_close_their_connection(pg_dsn: str) -> None:
    res = PgSTACResource(database_url=pg_dsn)
    with res.lookups() as a:
        pid = _pid(a)
    assert a.closed
    with res.lookups() as b:
        assert not b.closed
    assert b.closed and pid > 0


def test_a_failed_lookup_drops_the_shared_connection(pg_dsn: str) -> None:
    res = PgSTACResource(database_url=pg_dsn)
    with res.lookup_session():
        with pytest.raises(psycopg.errors.UndefinedTable), res.lookups() as a:
            a.execute("SELECT * FROM no_such_table_here")
        assert a.closed
        with res.lookups() as b:  # a fresh one, usable
            assert b is not a and b.execute("SELECT 1").fetchone() == (1,)


def test_a_session_keeps_its_prepared_lookups_and_refuses_writes(pg_dsn: str) -> None:
    """Each file's duplicate lookup runs the same query: prepared once per session (a rollback
    between files would discard it, and the server would plan it again over every item
    partition), and the connection cannot write."""
    res = PgSTACResource(database_url=pg_dsn)
    query = "SELECT count(*) FROM pgstac.collections WHERE id = %s"
    with res.lookup_session():
        for i in range(8):  # psycopg prepares a query on its 6th run (prepare_threshold=5)
            with res.lookups() as conn:
                conn.execute(query, (f"c{i}",)).fetchone()
        with res.lookups() as conn:
            plans = conn.execute(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE '%pgstac.collections%'"
            ).fetchall()
            # prepared, and planned once for all values (not once per file and partition)
            assert len(plans) == 1 and plans[0][0] >= 1 and plans[0][1] == 0, plans
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), res.lookups() as conn:
            conn.execute("CREATE TEMPORARY TABLE lookups_write_probe (x int)")
