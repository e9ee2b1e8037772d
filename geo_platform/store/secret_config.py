"""Keep secrets out of resource configuration (job snapshots, the UI's resource page).

Dagster records every resource's configured values in each run's job snapshot (stored in its
database) and shows them on the UI's resource page. A password inside a database URL, or an
account key inside a storage connection string, would land there. These ``mode="before"``
validators replace such a value by a secret-free one *when the secret can be found again from
the environment at connection time*: the database password through ``settings.password_for``,
the connection string through the name of the variable holding it (``env:NAME``). Values
that cannot be recovered that way (built in code, e.g. in tests) are left as they are.
"""

from __future__ import annotations

import os
from typing import Any

from geo_platform.settings import password_for, secret_free_url

AZURE_CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
ENV_PREFIX = "env:"


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
