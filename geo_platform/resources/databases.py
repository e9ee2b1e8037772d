"""Database resources: PostGIS for silver tables, pgstac for the catalog.

Both hand out psycopg 3 connections; the SQL lives in ``geo_platform.lib``. A connection is
opened per unit of work (a partition) for writes: that keeps a crashed run from holding anything
open. Read-only catalog lookups made for every file of a batch (duplicates, collection
consistency) share one connection for the whole step instead (``PgSTACResource.lookups``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
from dagster import ConfigurableResource
from pydantic import PrivateAttr, model_validator

from geo_platform.lib.errors import DatabaseUnavailableError
from geo_platform.settings import password_for, redact_url
from geo_platform.store import pgstac
from geo_platform.store.secret_config import database_url_without_password


def _connect(url: str, **kwargs: Any) -> psycopg.Connection:
    try:
        # The URL in config has no password (see _no_password_in_config): look it up now.
        return psycopg.connect(url, connect_timeout=10, password=password_for(url), **kwargs)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailableError(
            f"cannot connect to the database: {str(exc).splitlines()[0]}", path=redact_url(url)
        ) from exc


class PostGISResource(ConfigurableResource):
    """The platform database (PostGIS + pgstac). Silver vector tables live in ``geo_schema``."""

    database_url: str
    geo_schema: str = "geo"

    @model_validator(mode="before")
    @classmethod
    def _no_password_in_config(cls, data: Any) -> Any:
        return database_url_without_password(data)

    @contextmanager
    def connect(self, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        conn = _connect(self.database_url, autocommit=autocommit)
        try:
            yield conn
        finally:
            conn.close()

    def public_url(self) -> str:
        return redact_url(self.database_url)

    def table_href(self, schema: str, table: str) -> str:
        """A credential-free reference to a table, for STAC assets and UI metadata."""
        parts = urlsplit(self.database_url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        db = parts.path.lstrip("/")
        return f"postgresql://{host}{port}/{db}?table={schema}.{table}"


class PgSTACResource(ConfigurableResource):
    """The STAC catalog in pgstac (same server as PostGIS by default)."""

    database_url: str
    _lookup_conn: psycopg.Connection | None = PrivateAttr(default=None)
    _in_session: bool = PrivateAttr(default=False)

    @model_validator(mode="before")
    @classmethod
    def _no_password_in_config(cls, data: Any) -> Any:
        return database_url_without_password(data)

    @contextmanager
    def lookup_session(self) -> Iterator[None]:
        """Within it, ``lookups()`` shares one connection (opened on first use, closed at the
        end): wrap a step's loop over its files in it."""
        self._in_session = True
        try:
            yield
        finally:
            self._in_session = False
            conn, self._lookup_conn = self._lookup_conn, None
            if conn is not None:
                conn.close()

    @contextmanager
    def lookups(self) -> Iterator[psycopg.Connection]:
        """A connection for read-only lookups. Inside ``lookup_session()`` it is the session's
        connection, otherwise one of its own. Each use ends in a rollback, so no transaction
        stays open between files; after an error the shared connection is dropped."""
        conn = self._lookup_conn
        if conn is None or conn.closed or conn.broken:
            conn = _connect(self.database_url)
            pgstac.prepare(conn)
            conn.commit()
            self._lookup_conn = conn if self._in_session else None
        try:
            yield conn
            conn.rollback()
        except BaseException:
            self._lookup_conn = None
            conn.close()
            raise
        finally:
            if not self._in_session:
                conn.close()

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        conn = _connect(self.database_url)
        try:
            pgstac.prepare(conn)
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    def upsert_collection(self, collection: dict[str, Any]) -> None:
        with self.connect() as conn:
            pgstac.upsert_collection(conn, collection)

    def upsert_items(self, items: list[dict[str, Any]]) -> int:
        with self.connect() as conn:
            return pgstac.upsert_items(conn, items)

    def get_item(self, collection_id: str, item_id: str) -> dict[str, Any] | None:
        with self.connect() as conn:
            return pgstac.get_item(conn, collection_id, item_id)

    def delete_item(self, collection_id: str, item_id: str) -> bool:
        with self.connect() as conn:
            return pgstac.delete_item(conn, collection_id, item_id)

    def item_href(self, collection_id: str, item_id: str, stac_api_url: str = "") -> str:
        base = stac_api_url.rstrip("/") if stac_api_url else "pgstac:"
        if stac_api_url:
            return f"{base}/collections/{collection_id}/items/{item_id}"
        return f"{base}//collections/{collection_id}/items/{item_id}"


class PlatformResource(ConfigurableResource):
    """Platform-wide settings the assets need (containers, schema, batching, rules)."""

    bronze_container: str = "bronze"
    silver_container: str = "silver"
    geo_schema: str = "geo"
    code_version: str = "0.1.0"
    stac_api_url: str = ""
    sensor_batch_size: int = 25
    sensor_max_adds_per_tick: int = 25_000
    vector_assume_crs: str = ""
    raster_rules: str = ""
    raster_collections: str = ""
    vector_rules: str = ""
    duplicates: str = "publish"
    """Same content under a second bronze name: 'link' (publish once, link the second name) or
    'publish' (both in full, the second flagged). The platform passes GEO_PLATFORM_DUPLICATES,
    whose default is 'link'; a bare resource publishes everything (no cross-file effects)."""
    prices: str = ""
    """Storage price table as JSON (GEO_PLATFORM_PRICES); empty for the documented defaults."""
