"""`geo-platform serve` against the real local database (production-shape sweep 2, findings 6, 9,
12 and 13): tipg answers a table published after it started on the first request, the tiler
fails fast while its database is down and works again once it is back, and `serve` with the
database down says so in one line.

The database goes "down" only for the servers of a test: they reach it through a TCP proxy that
the test closes (the shared PostgreSQL is never stopped).
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from geo_platform.app import serve
from geo_platform.cli.serve import serve as serve_command
from geo_platform.settings import Settings
from geo_platform_tests.e2e.processes import free_port
from geo_platform_tests.fixtures.lifecycle import TcpForwarder

EPSG3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def _get(url: str, timeout: float = 30) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _private(settings: Settings, tmp_path: Path, **changes: object) -> Settings:
    return dataclasses.replace(
        settings, state_dir=tmp_path / "state", blob_root=tmp_path / "blobs",
        stac_port=free_port(), tiler_port=free_port(), features_port=free_port(),
        files_port=free_port(), **changes,
    )  # fmt: skip


@pytest.fixture
def schema(pg_dsn: str, settings: Settings) -> Iterator[str]:
    """An empty schema standing in for ``geo``, readable by the reader role."""
    name = f"test_sw2_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        ident, reader = sql.Identifier(name), sql.Identifier(settings.reader_role)
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(ident))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(ident, reader))
        conn.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
                ident, reader
            )
        )
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def _publish_points(pg_dsn: str, schema: str, table: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        ident = sql.Identifier(schema, table)
        conn.execute(
            sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, geom geometry(Point, 4326))").format(
                ident
            )
        )
        conn.execute(
            sql.SQL("INSERT INTO {} VALUES (1, ST_SetSRID(ST_MakePoint(10.5, 45.5), 4326))").format(
                ident
            )
        )


def test_features_answer_a_new_table_on_its_first_request(
    pg_dsn: str, settings: Settings, schema: str, tmp_path: Path
) -> None:
    """tipg started before the table existed (its catalog refreshes lazily, every minute)."""
    s = _private(settings, tmp_path, geo_schema=schema)
    serve.start(s, ["features"], timeout=90)
    try:
        base = serve.server_specs(s)["features"].url
        assert _get(f"{base}/collections/{schema}.nothing/items")[0] == 404
        _publish_points(pg_dsn, schema, "fresh")
        status, body = _get(f"{base}/collections/{schema}.fresh/items?limit=5")
        assert status == 200, body
        features = json.loads(body)["features"]
        assert [f["geometry"]["coordinates"] for f in features] == [[10.5, 45.5]]
        assert _get(f"{base}/collections/{schema}.fresh")[0] == 200
        assert _get(f"{base}/collections/{schema}.nothing/items")[0] == 404  # still unknown
        # A CRS tipg cannot honour is refused (it used to be ignored, or a bbox "invalid").
        items = f"{base}/collections/{schema}.fresh/items"
        status, body = _get(f"{items}?crs={EPSG3857}")
        assert status == 400 and b"CRS84" in body
        assert _get(f"{items}?bbox=1113194,5621521,1124326,5637300&bbox-crs={EPSG3857}")[0] == 400
        assert _get(f"{items}?crs={CRS84}&bbox-crs={CRS84}&bbox=10,45,11,46")[0] == 200
    finally:
        assert serve.stop(s, ["features"]) == {"features": True}


def _timed(url: str) -> tuple[int, float]:
    t0 = time.monotonic()
    status, _ = _get(url, timeout=40)
    return status, time.monotonic() - t0


def _health(stac: str) -> dict:
    """The stack's checks (only stac and tiles run here: features and files fail theirs)."""
    checks: dict = json.loads(_get(f"{stac}/healthz")[1])["checks"]
    return checks


def test_tiler_fails_fast_while_the_database_is_down_and_recovers(
    pg_dsn: str, settings: Settings, tmp_path: Path
) -> None:
    parts = urlsplit(settings.database_url)
    proxy = TcpForwarder(parts.port or 5432)  # stop(connections=True): the database goes down
    netloc = parts.netloc.rsplit(":", 1)[0] + f":{proxy.port}"
    s = _private(settings, tmp_path, database_url=urlunsplit(parts._replace(netloc=netloc)))
    proxy.start()
    serve.start(s, ["stac", "tiles"], timeout=90)
    specs = serve.server_specs(s)
    info = f"{specs['tiles'].url}/collections/nothing/items/nothing/info"
    try:
        assert _get(info)[0] == 404  # the database answers: no such item
        checks = _health(specs["stac"].url)
        assert checks["tiles"]["ok"] and checks["database"]["ok"], checks
        proxy.stop(connections=True)
        status, took = _timed(info)
        assert status >= 500 and took < 10, (status, took)  # was: 120 s, then 500
        checks = _health(specs["stac"].url)
        assert not checks["tiles"]["ok"] and not checks["database"]["ok"], checks
        assert "database" in checks["tiles"]["detail"]
        proxy.start()  # the database is back: no restart of serve
        status, took = _timed(info)
        assert status == 404 and took < 10, (status, took)
        assert _health(specs["stac"].url)["tiles"]["ok"]
    finally:
        serve.stop(s, ["stac", "tiles"])
        proxy.stop(connections=True)


def test_serve_with_the_database_down_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = free_port()
    monkeypatch.setenv("GEO_PLATFORM_DATABASE_URL", f"postgresql://u:pw@127.0.0.1:{closed}/db")
    monkeypatch.setenv("GEO_PLATFORM_STATE_DIR", str(tmp_path / "state"))
    for name in ("STAC", "TILER", "FEATURES", "FILES"):
        monkeypatch.setenv(f"GEO_PLATFORM_{name}_PORT", str(free_port()))
    try:
        result = CliRunner().invoke(serve_command, [])
        lines = result.output.strip().splitlines()
        assert result.exit_code == 1 and len(lines) == 1, result.output
        assert f"127.0.0.1:{closed}/db" in lines[0] and "geo_reader" in lines[0]
        assert "Connection refused" in lines[0] and "services up" in lines[0]
        assert "pw@" not in lines[0] and "Traceback" not in result.output
    finally:
        from geo_platform.settings import load_settings

        stopped = serve.stop(load_settings())
    assert not any(stopped.values()), stopped  # nothing was started
