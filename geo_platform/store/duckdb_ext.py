"""DuckDB extensions loaded from their pip packages, and DuckDB's access to Azure blobs.

Nothing is downloaded at run time (machines here, and many production hosts, cannot reach
DuckDB's extension repository). The ``duckdb-extension-<name>`` packages ship the binary built
for one DuckDB version as ``<package>/extensions/v<version>/<name>.duckdb_extension``;
pyproject pins duckdb to that version, and ``LOAD '<path>'`` loads it from there. Autoloading
and autoinstalling are switched off, so a missing extension fails at once with a message
instead of trying the network.

- ``spatial``: ``ST_*`` functions over the GEOMETRY columns DuckDB reads from GeoParquet.
- ``azure``: ``az://<container>/<path>`` reads blobs in place, with a secret made from the same
  credentials the blob store uses (a connection string, or the account URL with Azure's
  credential chain).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from geo_platform.lib.errors import ConfigError

SPATIAL = "spatial"
AZURE = "azure"
_CONFIG = {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def extension_path(name: str) -> Path:
    """The extension file the ``duckdb-extension-<name>`` package ships for this DuckDB."""
    package = f"duckdb_extension_{name}"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"DuckDB extension {name!r} is not installed: pip install "
            f"'duckdb-extension-{name}=={duckdb.__version__}' (the package for this DuckDB)"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        built = sorted(p.name for p in (root / "extensions").glob("v*"))
        raise ConfigError(
            f"duckdb-extension-{name} has no build for DuckDB {duckdb.__version__} "
            f"(it has {', '.join(built) or 'none'}): install the matching versions together"
        )
    return path


def load(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Load extension ``name`` into ``con`` from its pip package."""
    con.execute(f"LOAD {_literal(str(extension_path(name)))}")


def connect(
    database: str = ":memory:", *, extensions: tuple[str, ...] = (SPATIAL,), read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with ``extensions`` loaded and no extension ever fetched."""
    con = duckdb.connect(database, read_only=read_only, config=dict(_CONFIG))
    try:
        for name in extensions:
            load(con, name)
    except BaseException:
        con.close()
        raise
    return con


@dataclass(frozen=True)
class AzureAccess:
    """How DuckDB signs in to the storage account: a connection string (an account key, or
    Azurite), else the account URL with Azure's credential chain (managed identity, az login,
    environment). ``repr`` never shows the connection string."""

    connection_string: str | None = None
    account_url: str | None = None

    def __repr__(self) -> str:
        how = "connection string" if self.connection_string else self.account_url
        return f"AzureAccess({how})"

    def secret_sql(self, name: str = "geo_platform_blobs") -> str:
        """The ``CREATE SECRET`` statement (temporary: it lives in this connection only)."""
        if self.connection_string:
            body = f"CONNECTION_STRING {_literal(self.connection_string)}"
        elif self.account_url:
            account = (urlsplit(self.account_url).hostname or "").split(".")[0]
            if not account:
                raise ConfigError(f"no account name in {self.account_url!r}")
            body = f"PROVIDER credential_chain, ACCOUNT_NAME {_literal(account)}"
        else:
            raise ConfigError("Azure access needs a connection string or an account URL")
        return f"CREATE OR REPLACE TEMPORARY SECRET {name} (TYPE azure, {body})"


def attach_azure(con: duckdb.DuckDBPyConnection, access: AzureAccess) -> None:
    """Let ``con`` read ``az://<container>/<path>`` with ``access`` (loads ``azure``)."""
    load(con, AZURE)
    con.execute(access.secret_sql())
