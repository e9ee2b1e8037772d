"""``is_retryable`` on real failures: refused and killed database connections, lock timeouts,
HTTP statuses from a real server, unreachable blob storage. Transient means retry; bad input
and bad SQL never are."""

from __future__ import annotations

import errno
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
from psycopg import sql

from geo_platform.lib.errors import (
    DatabaseUnavailableError,
    EmptyFileError,
    InputError,
    NotFoundError,
    StorageUnavailableError,
    ValidationError,
    error_kind,
    is_retryable,
)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _raised(fn: Any) -> BaseException:
    try:
        fn()
    except BaseException as exc:
        return exc
    raise AssertionError("expected an exception")


def test_platform_errors() -> None:
    assert is_retryable(DatabaseUnavailableError("down", path="db"))
    assert is_retryable(StorageUnavailableError("throttled"))
    for exc in (EmptyFileError("empty", path="a.tif"), ValidationError("bad COG"),
                NotFoundError("gone"), ValueError("x"), KeyError("k")):  # fmt: skip
        assert not is_retryable(exc), exc
    assert error_kind(DatabaseUnavailableError("x")) == "transient"
    assert error_kind(InputError("x")) == "permanent"


def test_database_connection_refused_and_killed(pg_dsn: str) -> None:
    dead = f"postgresql://nobody@127.0.0.1:{_closed_port()}/x"
    refused = _raised(lambda: psycopg.connect(dead, connect_timeout=3))
    assert isinstance(refused, psycopg.OperationalError) and is_retryable(refused)
    # A server-side disconnect in the middle of a session (an admin shutdown, a failover).
    victim = psycopg.connect(pg_dsn, autocommit=True)
    pid = victim.info.backend_pid
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    lost = _raised(lambda: victim.execute("SELECT 1"))
    victim.close()
    assert isinstance(lost, psycopg.OperationalError) and is_retryable(lost)


def test_lock_timeout_is_transient_bad_sql_is_not(pg_dsn: str, pg_schema: str) -> None:
    table = sql.SQL("{}.t").format(sql.Identifier(pg_schema))
    with psycopg.connect(pg_dsn) as holder, psycopg.connect(pg_dsn) as waiter:
        holder.execute(sql.SQL("CREATE TABLE {} (x int)").format(table))
        holder.commit()
        holder.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(table))
        waiter.execute("SET lock_timeout = '50ms'")
        timeout = _raised(lambda: waiter.execute(sql.SQL("SELECT * FROM {}").format(table)))
        assert isinstance(timeout, psycopg.errors.LockNotAvailable) and is_retryable(timeout)
        waiter.rollback()
        missing = _raised(lambda: waiter.execute("SELECT * FROM no_such_table_here"))
        assert isinstance(missing, psycopg.errors.UndefinedTable) and not is_retryable(missing)
        waiter.rollback()
        syntax = _raised(lambda: waiter.execute("SELEC 1"))
        assert not is_retryable(syntax)
        holder.rollback()


@pytest.fixture
def http_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(int(self.path.strip("/")))
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "retry"), [(429, True), (503, True), (500, True), (404, False), (400, False)]
)
def test_http_statuses(http_server: str, status: int, retry: bool) -> None:
    exc = _raised(lambda: urllib.request.urlopen(f"{http_server}/{status}", timeout=5))
    assert isinstance(exc, urllib.error.HTTPError) and is_retryable(exc) is retry


def test_network_errors() -> None:
    refused = _raised(
        lambda: urllib.request.urlopen(f"http://127.0.0.1:{_closed_port()}/", timeout=5)
    )
    assert is_retryable(refused)
    assert is_retryable(TimeoutError("timed out"))
    assert is_retryable(OSError(errno.ECONNRESET, "reset"))
    assert not is_retryable(FileNotFoundError(errno.ENOENT, "no file"))
    # DNS: a temporary resolver failure is transient, an unknown host is not; a TLS
    # certificate error behind urllib's URLError is permanent.
    assert is_retryable(socket.gaierror(socket.EAI_AGAIN, "Temporary failure"))
    assert not is_retryable(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    assert not is_retryable(urllib.error.URLError(ssl.SSLCertVerificationError("bad cert")))
    # An unknown wrapper is judged by its cause; the platform's own verdict wins.
    try:
        try:
            raise ConnectionRefusedError("refused")
        except ConnectionRefusedError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_retryable(outer)
    try:
        try:
            raise ConnectionRefusedError("refused")
        except ConnectionRefusedError as inner:
            raise InputError("the file itself is bad") from inner
    except InputError as outer:
        assert not is_retryable(outer)


def test_azure_storage_errors() -> None:
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    from geo_platform.resources.blob_store import AzureBlobStore
    from geo_platform.settings import azurite_connection_string

    store = AzureBlobStore(connection_string=azurite_connection_string(_closed_port()), retries=0)
    down = _raised(lambda: list(store.list_blobs("silver")))
    assert isinstance(down, StorageUnavailableError) and is_retryable(down)
    throttled = HttpResponseError(message="Server Busy")
    throttled.status_code = 503
    assert is_retryable(throttled)
    missing = ResourceNotFoundError(message="The specified blob does not exist.")
    missing.status_code = 404
    assert not is_retryable(missing)


def test_sqlalchemy_wrapper_is_judged_by_the_driver_error() -> None:
    import sqlalchemy.exc

    try:
        try:
            raise psycopg.OperationalError("connection refused")
        except psycopg.OperationalError as orig:
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, orig) from orig
    except sqlalchemy.exc.OperationalError as exc:
        assert is_retryable(exc)
    try:
        try:
            raise psycopg.errors.UndefinedTable("no table")
        except psycopg.Error as orig:
            raise sqlalchemy.exc.ProgrammingError("SELECT 1", {}, orig) from orig
    except sqlalchemy.exc.ProgrammingError as exc:
        assert not is_retryable(exc)
