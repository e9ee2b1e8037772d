"""titiler-pgstac and tipg as ``geo-platform serve`` runs them: the tiler's database pool fails
fast, and tipg finds a table published after its catalog was read on its first request.

``uvicorn geo_platform.app.serve_apps:tiler_app`` / ``:features_app``: each is built by
``__getattr__`` when uvicorn imports it, so no process imports the other's stack.
"""

from __future__ import annotations

import json
import logging
import os
import re
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from geo_platform.app.stac_api import ASGIApp, Receive, Scope, Send

TILER_TIMEOUT_VARIABLE = "GEO_PLATFORM_TILER_DB_TIMEOUT"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_COLLECTION_PATH = re.compile(r"^/collections/([^/]+)")
_log = logging.getLogger(__name__)
_RELATION_EXISTS = """SELECT EXISTS (SELECT FROM pg_class c JOIN pg_namespace n
    ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2)"""


def __getattr__(name: str) -> Any:
    builders = {"tiler_app": _tiler_app, "features_app": _features_app}
    if name in builders:
        return builders[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _tiler_app() -> Any:
    """titiler-pgstac whose database pool fails fast: a request waits at most
    ``GEO_PLATFORM_TILER_DB_TIMEOUT`` seconds (default 5) for a connection instead of 30 s per
    try; a connection is checked before use (none broken by a database restart is handed out);
    a failed reconnection gives up after the same delay, so the next request connects anew as
    soon as the database is back."""
    from psycopg_pool import ConnectionPool
    from titiler.pgstac.main import app
    from titiler.pgstac.settings import PostgresSettings

    timeout = float(os.environ.get(TILER_TIMEOUT_VARIABLE) or 5)

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        s = PostgresSettings()
        options = "-c search_path=pgstac,public -c application_name=pgstac"  # as upstream
        app.state.dbpool = ConnectionPool(
            conninfo=str(s.database_url), min_size=s.db_min_conn_size,
            max_size=s.db_max_conn_size, max_waiting=s.db_max_queries, max_idle=s.db_max_idle,
            num_workers=s.db_num_workers, timeout=timeout, reconnect_timeout=timeout,
            check=ConnectionPool.check_connection, open=True,
            kwargs={"options": options, "connect_timeout": max(2, round(timeout))},
        )  # fmt: skip
        app.state.dbpool.wait()
        try:
            yield
        finally:
            app.state.dbpool.close()

    app.router.lifespan_context = lifespan
    return app


def _features_app() -> ASGIApp:
    from tipg.main import app

    return CatalogOnMiss(app)


def unsupported_crs(query: str) -> str | None:
    """The first ``crs``/``bbox-crs``/``filter-crs`` of a query string that is not CRS84."""
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in {"crs", "bbox-crs", "filter-crs"} and value.rstrip("/") not in {
            CRS84,
            CRS84.replace("http:", "https:"),
            "[OGC:CRS84]",
        }:
            return f"{key}={value}"
    return None


class CatalogOnMiss:
    """ASGI middleware for tipg (``app``: tipg's FastAPI app).

    tipg answers from a catalog of tables it refreshes lazily (``TIPG_CATALOG_TTL``, after
    answering), so the first request for a table published since then was a 404. Here, a
    collection id missing from the catalog is looked up in the database (that one table only:
    a few milliseconds, where a whole refresh reads every table's extent) and added before tipg
    answers. Also refuses (400) a CRS other than CRS84, which tipg would silently ignore.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _COLLECTION_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match:
            bad = unsupported_crs(scope.get("query_string", b"").decode("latin-1"))
            if bad:
                await _send_json(send, 400, {"code": "InvalidParameterValue", "description": (
                    f"{bad}: only {CRS84} (longitude, latitude) is supported"
                )})  # fmt: skip
                return
            await self.add_if_new(match.group(1))
        await self.app(scope, receive, send)

    async def add_if_new(self, collection_id: str) -> None:
        from tipg.collections import Catalog, pg_get_collection_index
        from tipg.main import db_settings

        catalog = getattr(self.app.state, "collection_catalog", None)
        schema, _, table = collection_id.rpartition(".")  # as tipg splits it
        if not catalog or collection_id in catalog["collections"] or not table:
            return
        allowed = db_settings.tables or [collection_id]  # TIPG_DB_TABLES, when set
        if schema not in db_settings.schemas or collection_id not in allowed:
            return
        one = db_settings.model_copy(update={"tables": [collection_id], "functions": []})
        try:
            async with self.app.state.pool.acquire() as conn:  # an unknown name: one cheap query
                exists = await conn.fetchval(_RELATION_EXISTS, schema, table)
                found = await pg_get_collection_index(conn, settings=one) if exists else []
        except Exception as exc:  # tipg answers: 404, or its own database error
            _log.warning("looking up collection %s failed: %s", collection_id, exc)
            return
        if found:
            latest = self.app.state.collection_catalog  # may have been refreshed meanwhile
            self.app.state.collection_catalog = Catalog(
                collections={**latest["collections"], **{c.id: c for c in found}},
                last_updated=latest["last_updated"],
            )


async def _send_json(send: Send, status: int, data: dict[str, Any]) -> None:
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(data).encode()})
