"""The atomic PostGIS loader against the real database: swaps, failures, kills, concurrency."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from geo_platform.lib import naming
from geo_platform.lib.vector import pgcopy, wkb
from geo_platform.settings import REPO_ROOT
from geo_platform.store import postgis
from geo_platform.store import quality as store_quality
from geo_platform.store.postgis import ColumnSpec, StagedTable


def _points(n: int, start: int = 0) -> pa.Table:
    x = np.linspace(-10, 10, n)
    return pa.table(
        {
            "v": pa.array(np.arange(start, start + n, dtype=np.int64)),
            "label": pa.array([f"row {i}" for i in range(start, start + n)]),
            "geom": wkb.multipoint_wkb(x, x / 2, None),
        }
    )


def _count(conn: psycopg.Connection[Any], schema: str, table: str) -> int:
    q = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    row = conn.execute(q).fetchone()
    assert row is not None
    return int(row[0])


def _load(conn: psycopg.Connection[Any], schema: str, table: str, data: Any) -> postgis.LoadResult:
    return postgis.load_layer(conn, data, schema=schema, table=table, geometry_type="MultiPoint")


def test_load_replaces_table_atomically(pg_conn, pg_schema):
    first = _load(pg_conn, pg_schema, "pts", _points(10))
    assert first.rows == 10 and [c.pg_type for c in first.columns] == ["bigint", "text"]
    _load(pg_conn, pg_schema, "pts", _points(25, start=100))
    stats = store_quality.table_stats(pg_conn, pg_schema, "pts")
    assert stats["rows"] == 25 and stats["invalid"] == 0 and stats["srids"] == [4326]
    assert stats["declared_type"] == "MULTIPOINT" and stats["declared_srid"] == 4326
    indexes = pg_conn.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = %s", (pg_schema,)
    ).fetchall()
    assert sorted(r[0] for r in indexes) == ["pts_geom_gix", "pts_pkey"]
    row = pg_conn.execute(
        sql.SQL("SELECT min(fid), max(fid), min(v) FROM {}.pts").format(sql.Identifier(pg_schema))
    ).fetchone()
    assert row == (1, 25, 100)
    assert postgis.staging_tables(pg_conn, pg_schema) == []


def test_rerun_is_idempotent(pg_conn, pg_schema):
    data = _points(50)
    _load(pg_conn, pg_schema, "same", data)
    q = sql.SQL("SELECT md5(string_agg(t::text, ',' ORDER BY fid)) FROM {}.same t").format(
        sql.Identifier(pg_schema)
    )
    before = pg_conn.execute(q).fetchone()
    _load(pg_conn, pg_schema, "same", data)
    assert pg_conn.execute(q).fetchone() == before
    tables = pg_conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (pg_schema,))
    assert tables.fetchone() == (1,)


def test_failed_load_leaves_previous_table_and_no_staging(pg_conn, pg_schema):
    _load(pg_conn, pg_schema, "keep", _points(10))

    def broken() -> Iterator[pa.RecordBatch]:
        yield from _points(1000).to_batches()
        raise RuntimeError("source went away mid-stream")

    with pytest.raises(RuntimeError, match=r"mid-stream"):
        postgis.load_layer(
            pg_conn,
            broken(),
            schema=pg_schema,
            table="keep",
            columns=[ColumnSpec("v", "bigint"), ColumnSpec("label", "text")],
            geometry_type="MultiPoint",
        )
    assert _count(pg_conn, pg_schema, "keep") == 10
    assert postgis.staging_tables(pg_conn, pg_schema) == []
    bad_geometry = _points(3).set_column(2, "geom", pa.array([b"junk"] * 3, pa.binary()))
    with pytest.raises(psycopg.errors.DatabaseError):
        _load(pg_conn, pg_schema, "keep", bad_geometry)
    assert _count(pg_conn, pg_schema, "keep") == 10


def test_readers_see_old_table_until_commit(pg_dsn, pg_conn, pg_schema):
    _load(pg_conn, pg_schema, "live", _points(10))
    with psycopg.connect(pg_dsn) as writer:
        staged = StagedTable(
            writer,
            schema=pg_schema,
            table="live",
            columns=[ColumnSpec("v", "bigint"), ColumnSpec("label", "text")],
            geometry_type="MultiPoint",
        ).begin()
        staged.write(_points(500))
        staged.pause()
        assert _count(pg_conn, pg_schema, "live") == 10  # COPY done, not swapped
        staged.finish()
        pg_conn.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            _count(pg_conn, pg_schema, "live")  # the swap holds the table: wait, never half
        pg_conn.execute("RESET lock_timeout")
        writer.commit()
    assert _count(pg_conn, pg_schema, "live") == 500


@pytest.mark.parametrize(
    "blob",
    [
        "x'; DROP TABLE students; --.geojson",
        'Robert"); DROP SCHEMA public CASCADE;--.gpkg',
        "Straßen ÄÖÜ 東京 🚀.geojson",
        "select.geojson",
        "a/" + "very long name " * 12 + ".shp",
    ],
)
def test_hostile_table_names(pg_conn, pg_schema, blob: str):
    table = naming.table_name(blob)
    assert len(table.encode()) <= 63
    _load(pg_conn, pg_schema, table, _points(3))
    assert _count(pg_conn, pg_schema, table) == 3
    assert postgis.drop_table(pg_conn, pg_schema, table) is True
    assert postgis.drop_table(pg_conn, pg_schema, table) is False


def test_hostile_schema_name(pg_conn):
    schema = 'tést"; DROP TABLE x; --'
    try:
        postgis.ensure_schema(pg_conn, schema)
        postgis.ensure_schema(pg_conn, schema)
        _load(pg_conn, schema, "t", _points(2))
        assert _count(pg_conn, schema, "t") == 2
    finally:
        pg_conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def test_binary_copy_round_trips_every_type(pg_conn, pg_schema):
    cols = {
        "b": pa.array([True, None, False]),
        "i8": pa.array([1, None, -3], pa.int8()),
        "i32": pa.array([None, 2**31 - 1, -5], pa.int32()),
        "i64": pa.array([2**62, None, -1], pa.int64()),
        "u64": pa.array([2**64 - 1, 0, None], pa.uint64()),
        "f32": pa.array([1.5, None, float("inf")], pa.float32()),
        "f64": pa.array([1.25, float("-inf"), None]),
        "dec": pa.array(
            [decimal.Decimal("12345.678"), decimal.Decimal("-0.0001"), None], pa.decimal128(12, 4)
        ),
        "s": pa.array(["héllo 🚀", None, "a\x00b"]),
        "j": pa.array(['{"a": 1}', None, "[1, 2]"], pa.json_(pa.string())),
        "lst": pa.array([[1, 2], None, []]),
        "st": pa.array([{"x": 1.5, "y": "a"}, None, {"x": float("nan"), "y": "b"}]),
        "d": pa.array([dt.date(2020, 1, 2), None, dt.date(1900, 1, 1)]),
        "ts": pa.array(
            [dt.datetime(2020, 1, 2, 3, 4, 5, 123000), None, dt.datetime(1969, 12, 31, 23, 59, 59)],
            pa.timestamp("ms"),
        ),
        "tstz": pa.array(
            [dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC), None, None],
            pa.timestamp("us", tz="Europe/Berlin"),
        ),
        "tm": pa.array([dt.time(1, 2, 3), None, dt.time(23, 59, 59, 999999)], pa.time64("us")),
        "dur": pa.array([dt.timedelta(seconds=90), None, dt.timedelta(days=2)], pa.duration("ms")),
        "bin": pa.array([b"\x00\x01", None, b""]),
        "cat": pa.array(["a", "b", None]).dictionary_encode(),
        "uuid": pa.array([b"0123456789abcdef", None, b"\x00" * 16], pa.binary(16)),  # Parquet
        "ls": pa.array(["large", None, ""], pa.large_string()),
        "d64": pa.array([dt.date(2024, 2, 29), None, None], pa.date64()),
        "u32": pa.array([2**32 - 1, None, 0], pa.uint32()),
    }
    table = pa.table({**cols, "geom": wkb.multipoint_wkb(np.zeros(3), np.zeros(3), None)})
    result = _load(pg_conn, pg_schema, "types", table)
    assert [c.pg_type for c in result.columns] == [
        pgcopy.pg_type_for(a.type) for a in cols.values()
    ]
    rows = pg_conn.execute(
        sql.SQL("SELECT {} FROM {}.types ORDER BY fid").format(
            sql.SQL(", ").join(map(sql.Identifier, cols)), sql.Identifier(pg_schema)
        )
    ).fetchall()
    first, second, third = (dict(zip(cols, r, strict=True)) for r in rows)
    assert first["i64"] == 2**62 and first["u64"] == 2**64 - 1 and first["s"] == "héllo 🚀"
    assert first["dec"] == decimal.Decimal("12345.6780") and second["dec"] == decimal.Decimal(
        "-0.0001"
    )
    assert first["j"] == {"a": 1} and first["lst"] == [1, 2] and first["st"] == {"x": 1.5, "y": "a"}
    assert third["st"] == {"x": None, "y": "b"} and third["s"] == "ab"
    assert first["tstz"] == dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert first["ts"] == dt.datetime(2020, 1, 2, 3, 4, 5, 123000)
    assert third["ts"] == dt.datetime(1969, 12, 31, 23, 59, 59)
    assert third["d"] == dt.date(1900, 1, 1) and third["tm"] == dt.time(23, 59, 59, 999999)
    assert first["dur"] == dt.timedelta(seconds=90) and third["dur"] == dt.timedelta(days=2)
    assert first["f32"] == 1.5 and third["f32"] == float("inf") and second["f64"] == float("-inf")
    assert first["bin"] == b"\x00\x01" and first["cat"] == "a"
    assert first["uuid"] == b"0123456789abcdef" and third["uuid"] == b"\x00" * 16
    assert first["ls"] == "large" and first["d64"] == dt.date(2024, 2, 29)
    assert first["u32"] == 2**32 - 1
    assert all(
        v is None for k, v in second.items() if k not in {"i32", "u64", "f64", "dec", "cat", "u32"}
    )


_KILLED_LOADER = """
import sys, numpy as np, pyarrow as pa, psycopg
from geo_platform.store import postgis
from geo_platform.lib.vector import wkb
dsn, schema, table = sys.argv[1:4]
def batches():
    for i in range(100_000):
        x = np.random.default_rng(i).random(50_000)
        geom = wkb.multipoint_wkb(x, x, None)
        yield pa.record_batch({"v": pa.array(np.arange(50_000)), "geom": geom})
        if i == 3:
            print("COPYING", flush=True)
with psycopg.connect(dsn, autocommit=True) as conn:
    postgis.load_layer(conn, batches(), schema=schema, table=table,
                       columns=[postgis.ColumnSpec("v", "bigint")], geometry_type="MultiPoint")
"""


def _wait_for_no_backend(conn: psycopg.Connection[Any], pattern: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()",
            (pattern,),
        ).fetchone()
        if row == (0,):
            return
        time.sleep(0.1)
    raise AssertionError("the killed loader's backend did not go away")


def test_killed_load_leaves_previous_table(pg_dsn, pg_conn, pg_schema):
    _load(pg_conn, pg_schema, "victim", _points(10))
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_LOADER, pg_dsn, pg_schema, "victim"],
        stdout=subprocess.PIPE,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"COPYING"
        copying = pg_conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %%_stg_victim_%%'"
        ).fetchone()
        assert copying == (1,)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    _wait_for_no_backend(pg_conn, "COPY %_stg_victim_%")
    assert _count(pg_conn, pg_schema, "victim") == 10
    assert postgis.staging_tables(pg_conn, pg_schema) == []
    leftovers = pg_conn.execute(
        "SELECT count(*) FROM pg_class WHERE relname LIKE '\\_stg\\_victim%%'"
    ).fetchone()
    assert leftovers == (0,)
    _load(pg_conn, pg_schema, "victim", _points(20))  # the next run succeeds
    assert _count(pg_conn, pg_schema, "victim") == 20


def test_concurrent_loads_do_not_deadlock(pg_dsn, pg_conn, pg_schema):
    def work(i: int) -> int:
        table = f"t{i % 20}" if i < 20 else "shared"
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            postgis.ensure_schema(conn, pg_schema)
            return _load(conn, pg_schema, table, _points(5000, start=i)).rows

    with ThreadPoolExecutor(max_workers=26) as pool:
        results = list(pool.map(work, range(26)))  # 20 tables + 6 loads of one table
    assert results == [5000] * 26
    for i in range(20):
        assert _count(pg_conn, pg_schema, f"t{i}") == 5000
    assert _count(pg_conn, pg_schema, "shared") == 5000
    assert postgis.staging_tables(pg_conn, pg_schema) == []


def test_table_stats_scans_an_undeclared_column_and_counts_in_the_same_scan(pg_conn, pg_schema):
    """A generic ``geometry`` column is scanned for its SRIDs and types; a declared one answers
    from its declaration; extra counts (completeness) come from the same query."""
    t = sql.SQL("{}.mixed").format(sql.Identifier(pg_schema))
    pg_conn.execute(sql.SQL("CREATE TABLE {} (label text, geom geometry)").format(t))
    pg_conn.execute(
        sql.SQL(
            """INSERT INTO {} VALUES ('a', 'SRID=4326;POINT(1 2)'),
               (' ', 'SRID=3857;LINESTRING(0 0,1 1)'), (NULL, NULL),
               ('d', 'SRID=4326;POLYGON((0 0,1 1,1 0,0 1,0 0))')"""
        ).format(t)
    )
    counts = {"label": sql.SQL("NULLIF(btrim(label), '')")}
    stats = store_quality.table_stats(pg_conn, pg_schema, "mixed", counts)
    assert stats["rows"] == 4 and stats["non_null_geometries"] == 3 and stats["invalid"] == 1
    assert stats["srids"] == [3857, 4326]
    assert stats["geometry_types"] == ["LINESTRING", "POINT", "POLYGON"]
    assert stats["declared_type"] == "GEOMETRY" and stats["counts"] == {"label": 2}
    assert stats["bbox"] == (0.0, 0.0, 1.0, 2.0)
    typed = sql.SQL("{}.typed").format(sql.Identifier(pg_schema))
    pg_conn.execute(sql.SQL("CREATE TABLE {} (geom geometry(MultiPoint, 4326))").format(typed))
    empty = store_quality.table_stats(pg_conn, pg_schema, "typed")
    assert empty["srids"] == [] and empty["geometry_types"] == [] and empty["bbox"] is None
    pg_conn.execute(sql.SQL("INSERT INTO {} VALUES ('SRID=4326;MULTIPOINT((1 2))')").format(typed))
    one = store_quality.table_stats(pg_conn, pg_schema, "typed")
    assert one["srids"] == [4326] and one["geometry_types"] == ["MULTIPOINT"]
    with pytest.raises(psycopg.errors.InvalidParameterValue):  # what makes the declaration a fact
        pg_conn.execute(sql.SQL("INSERT INTO {} VALUES ('SRID=3857;POINT(1 2)')").format(typed))


def test_index_build_memory_raises_for_the_transaction_and_never_lowers(pg_conn):
    def setting() -> int:
        row = pg_conn.execute("SELECT pg_size_bytes(current_setting('maintenance_work_mem'))")
        return int(row.fetchone()[0])

    wanted = pg_conn.execute("SELECT pg_size_bytes(%s)", (postgis.INDEX_BUILD_MEMORY,))
    wanted_bytes = int(wanted.fetchone()[0])
    pg_conn.execute("SET maintenance_work_mem = '64MB'")
    with pg_conn.transaction():
        postgis.index_build_memory(pg_conn)
        assert setting() == wanted_bytes
    assert setting() == 64 * 1024 * 1024  # local to the transaction
    pg_conn.execute("SET maintenance_work_mem = '1GB'")
    with pg_conn.transaction():
        postgis.index_build_memory(pg_conn)
        assert setting() == 1024 * 1024 * 1024  # a server tuned higher keeps its own
