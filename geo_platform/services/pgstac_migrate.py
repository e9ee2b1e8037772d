"""pgstac in a database: which version is installed, and migrating it with pypgstac.

Used for the platform database (``services.postgres``) and the production target
(``services.access``); its own module so that those two do not import each other.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import psycopg

from geo_platform.lib.errors import ConfigError, DatabaseUnavailableError
from geo_platform.services._proc import run
from geo_platform.settings import Settings, redact_url
from geo_platform.store import db
from geo_platform.store import pgstac as pgstac_ops


def installed_version(conn: psycopg.Connection[Any]) -> str | None:
    """The pgstac version installed in this connection's database, or None if there is none."""
    has = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'pgstac'").fetchone()
    if not has:
        return None
    row = conn.execute("SELECT pgstac.get_version()").fetchone()
    return str(row[0]) if row else None


def pgstac_version(url: str) -> str | None:
    """The pgstac version installed in the database at ``url``, or None if there is none."""
    with db.connect(url, what="PostgreSQL", autocommit=True) as conn:
        return installed_version(conn)


def _pypgstac_cli() -> str:
    local = Path(sys.executable).parent / "pypgstac"
    found = str(local) if local.exists() else shutil.which("pypgstac")
    if not found:
        raise ConfigError("pypgstac is not installed in this environment: run scripts/install.sh")
    return found


def ensure_pgstac(settings: Settings, url: str | None = None) -> str:
    """Install or upgrade pgstac (and with it PostGIS) only when the version differs, and
    register the platform's provenance queryables (``store.pgstac.PROVENANCE_QUERYABLES``).

    ``url``: another database than the platform's (the production target), same rules.
    """
    from pypgstac import __version__ as wanted

    url = url or settings.database_url
    current = pgstac_version(url)
    if current != wanted:
        result = run([_pypgstac_cli(), "migrate", "--dsn", url], timeout=300)
        if result.returncode != 0:
            raise DatabaseUnavailableError(
                f"pypgstac migrate failed: {result.stderr.strip()[-2000:]}",
                path=redact_url(url),
            )
        current = pgstac_version(url) or wanted
    # Indexed provenance lookups (a no-op once registered).
    with db.connect(url, what="PostgreSQL", autocommit=True) as conn:
        pgstac_ops.ensure_queryables(conn)
    return current
