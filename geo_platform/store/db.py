"""The one way the platform opens a PostgreSQL connection.

Resources, the promotion resource, the local services and the health checks all connect
through ``connect``: the password is looked up when the connection is opened (URLs kept in
resource config carry none, see ``secret_config.password_for``), the connect timeout is bounded,
and a failure to connect becomes ``DatabaseUnavailableError`` (transient, so retry policies
apply) naming the server without its password.
"""

from __future__ import annotations

from typing import Any

import psycopg

from geo_platform.lib.errors import DatabaseUnavailableError
from geo_platform.settings import redact_url
from geo_platform.store.secret_config import password_for

DEFAULT_TIMEOUT_S = 10


def connect(
    url: str,
    *,
    timeout: int = DEFAULT_TIMEOUT_S,
    what: str = "the database",
    **kwargs: Any,
) -> psycopg.Connection[Any]:
    """A new connection to ``url`` (``kwargs`` go to ``psycopg.connect``, e.g. ``autocommit``).

    ``what`` names the database in the error message ("the production database").
    """
    try:
        return psycopg.connect(url, connect_timeout=timeout, password=password_for(url), **kwargs)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailableError(
            f"cannot connect to {what}: {first}", path=redact_url(url)
        ) from exc


def advisory_lock(conn: psycopg.Connection[Any], key: str) -> None:
    """Transaction-scoped lock on an arbitrary key (released at commit or rollback)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
