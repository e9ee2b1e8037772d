"""Keep secrets out of resource configuration (job snapshots, the UI's resource page).

Dagster records every resource's configured values in each run's job snapshot (stored in its
database) and shows them on the UI's resource page. A password inside a database URL, or an
account key inside a storage connection string, would land there. These ``mode="before"``
validators replace such a value by a secret-free one *when the secret can be found again from
the environment at connection time*: the database password through ``password_for``,
the connection string through the name of the variable holding it (``env:NAME``). Values
that cannot be recovered that way (built in code, e.g. in tests) are left as they are.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit

from geo_platform.settings import ROLE_KINDS, Settings, load_settings, url_with_user

AZURE_CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
ENV_PREFIX = "env:"


def secret_free_url(url: str) -> str:
    """``url`` without its password (user, host, port, database and query kept).

    What resource configuration may hold: Dagster stores resource config in every run's job
    snapshot and shows it in the UI. The password is found again by ``password_for``.
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url_with_user(url, unquote(parts.username or ""))


def password_for(url: str, settings: Settings | None = None) -> str | None:
    """The password to connect to ``url`` with, looked up when a connection is opened.

    ``url``'s own password if it has one; else the password of a configured URL
    (GEO_PLATFORM_DATABASE_URL, GEO_PLATFORM_PRODUCTION_DATABASE_URL) or role
    (GEO_PLATFORM_<ROLE>_PASSWORD) with the same user, host and port. None lets libpq's
    PGPASSWORD / PGPASSFILE apply.
    """
    parts = urlsplit(url)
    if parts.password is not None:
        return unquote(parts.password)
    s = settings or load_settings()
    candidates = [s.database_url, s.production_database_url]
    candidates += [s.role_url(k, t) for k in ROLE_KINDS for t in ("staging", "production")]
    for candidate in candidates:
        c = urlsplit(candidate)
        same = (c.username, c.hostname, c.port or 5432) == (
            parts.username,
            parts.hostname,
            parts.port or 5432,
        )
        if same and c.password:
            return unquote(c.password)
    return None


def database_url_without_password(data: Any, field: str = "database_url") -> Any:
    """Validator body: drop the password from ``data[field]`` if the environment has it."""
    if not isinstance(data, dict):
        return data
    url = data.get(field)
    if type(url) is not str:  # absent, or a dg.EnvVar (already secret-free)
        return data
    stripped = secret_free_url(url)
    if stripped != url and password_for(stripped) == password_for(url):
        return {**data, field: stripped}
    return data


def connection_string_by_reference(data: Any) -> Any:
    """Validator body: a connection string equal to AZURE_STORAGE_CONNECTION_STRING becomes the
    reference ``env:AZURE_STORAGE_CONNECTION_STRING`` (resolved by ``resolve_connection_string``).

    The reference lives in the same field because Dagster keeps, as a resource's config, only
    the fields it was constructed with (a validator cannot add another one).
    """
    if not isinstance(data, dict):
        return data
    value = data.get("connection_string")
    if type(value) is str and value and value == os.environ.get(AZURE_CONNECTION_STRING_ENV):
        return {**data, "connection_string": ENV_PREFIX + AZURE_CONNECTION_STRING_ENV}
    return data


def resolve_connection_string(value: str | None) -> str | None:
    """The connection string itself (``env:NAME`` read from the environment now)."""
    if value and value.startswith(ENV_PREFIX):
        return os.environ.get(value[len(ENV_PREFIX) :]) or None
    return value
