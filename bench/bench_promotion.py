"""Promotion table copy: streaming binary COPY (lib/promotion_tables) vs a psql pipe.

    python bench/bench_promotion.py [ROWS]

Creates ROWS points (default 1,000,000, ~110 MB of COPY data) in staging's ``geo`` schema, then
copies them to production twice, each time into a fresh table with a primary key and a GiST
index: (a) the reference, ``psql -c "COPY ... TO STDOUT (FORMAT BINARY)" | psql -c "COPY ...
FROM STDIN (FORMAT BINARY)"`` plus the same index DDL; (b) ``TableCopy`` (copy, indexes,
ANALYZE, swap). Prints wall times, the ratio and the client's peak RSS growth. Cleans up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from geo_platform.lib.stac.refs import TableRef
from geo_platform.services import ensure_postgres
from geo_platform.settings import load_settings
from geo_platform.store.promotion_tables import TableCopy


def _kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def _psql_args(url: str) -> list[str]:
    p = urlsplit(url)
    return [
        "psql",
        "-h",
        p.hostname or "127.0.0.1",
        "-p",
        str(p.port or 5432),
        "-U",
        p.username or "postgres",
        "-d",
        p.path.lstrip("/"),
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
    ]


def main(rows: int) -> None:
    settings = load_settings()
    ensure_postgres(settings)
    staging, prod = settings.database_url, settings.production_database_url
    name = f"bench_{uuid.uuid4().hex[:8]}"
    t = sql.Identifier(name)
    with psycopg.connect(staging, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE geo.{} AS SELECT i::bigint AS fid, repeat('x', 60) || i AS name, "
                "ST_SetSRID(ST_MakePoint(i %% 360 - 180, i %% 180 - 90), 4326)"
                "::geometry(Point, 4326) AS geom FROM generate_series(1, %s) i"
            ).format(t),
            (rows,),
        )
        conn.execute(sql.SQL("ALTER TABLE geo.{} ADD PRIMARY KEY (fid)").format(t))
        conn.execute(sql.SQL("SELECT sum(length(name)) FROM geo.{}").format(t))  # warm cache
    try:
        ref_name = name + "_ref"
        with psycopg.connect(prod, autocommit=True) as conn:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE geo.{} "
                    "(fid bigint NOT NULL, name text, geom geometry(Point, 4326))"
                ).format(sql.Identifier(ref_name))
            )
        t0 = time.perf_counter()
        out = subprocess.Popen(
            [*_psql_args(staging), "-c", f"COPY geo.{name} TO STDOUT (FORMAT BINARY)"],
            stdout=subprocess.PIPE,
        )
        subprocess.run(
            [*_psql_args(prod), "-c", f"COPY geo.{ref_name} FROM STDIN (FORMAT BINARY)"],
            stdin=out.stdout,
            check=True,
        )
        out.wait()
        with psycopg.connect(prod, autocommit=True) as conn:
            r = sql.Identifier(ref_name)
            conn.execute(sql.SQL("ALTER TABLE geo.{} ADD PRIMARY KEY (fid)").format(r))
            conn.execute(sql.SQL("CREATE INDEX ON geo.{} USING gist (geom)").format(r))
            conn.execute(sql.SQL("ANALYZE geo.{}").format(r))
        reference = time.perf_counter() - t0

        Path("/proc/self/clear_refs").write_text("5")
        base = _kb("VmRSS:")
        t0 = time.perf_counter()
        with psycopg.connect(staging) as src, psycopg.connect(prod) as dst:
            copy = TableCopy(src, dst, TableRef("geo", name), TableRef("geo", name))
            result = copy.copy()
            copy.swap()
            dst.commit()
        ours = time.perf_counter() - t0
        growth = (_kb("VmHWM:") - base) / 1024
        print(f"rows={result.rows:,} copy_bytes={result.bytes / 1e6:.0f} MB")
        print(f"psql pipe + indexes : {reference:6.2f} s")
        print(f"TableCopy (promote) : {ours:6.2f} s  ratio {ours / reference:.2f}x")
        print(f"client peak RSS growth during TableCopy: {growth:.0f} MB")
    finally:
        for url, names in ((staging, [name]), (prod, [name, name + "_ref"])):
            with psycopg.connect(url, autocommit=True) as conn:
                for n in names:
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS geo.{}").format(sql.Identifier(n)))


if __name__ == "__main__":
    os.environ.setdefault("GEO_PLATFORM_PG_FAST", "1")
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
