"""The STAC API server: stac-fastapi-pgstac as it ships, behind one request fix.

``uvicorn geo_platform.app.stac_api:create_app --factory`` (what ``geo-platform serve`` runs).

Why a wrapper: a 3-D bbox (``minx,miny,minz,maxx,maxy,maxz``, which the STAC API spec allows)
reaches pgstac as a 3-D box, and PostGIS answers "Unknown geometry type: 13 -
PolyhedralSurface": a 500 (stac-fastapi #162/#292). Published items are 2-D, so the height range
cannot narrow a search: the wrapper drops it (``minx,miny,maxx,maxy``) in ``GET /search``,
``GET /collections/{id}/items`` and ``POST /search`` before the request reaches the upstream app.
Everything else (responses, lifespan, errors) passes through untouched.

It also answers ``GET /healthz`` for load balancers, for the whole serving stack: the database
answers the reader role (pgstac's version), and every sibling server named in
``GEO_PLATFORM_HEALTH_PEERS`` (a JSON object ``{name: health URL}``, set by ``geo-platform
serve``) answers its own health URL. 200 with ``{"healthy": true, "checks": {...}}`` when all
pass, else 503 with the failing check's reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def flat_bbox(bbox: Any) -> Any:
    """``[minx, miny, minz, maxx, maxy, maxz]`` -> ``[minx, miny, maxx, maxy]``; anything else
    unchanged (the upstream app validates it)."""
    if isinstance(bbox, list) and len(bbox) == 6:
        return [bbox[0], bbox[1], bbox[3], bbox[4]]
    return bbox


def flat_bbox_query(query: str) -> str:
    """A query string whose ``bbox`` of six comma-separated numbers becomes four."""
    pairs = parse_qsl(query, keep_blank_values=True)
    changed = False
    out = []
    for key, value in pairs:
        parts = value.split(",")
        if key == "bbox" and len(parts) == 6:
            value = ",".join(flat_bbox(parts))
            changed = True
        out.append((key, value))
    return urlencode(out) if changed else query


def flat_bbox_body(body: bytes) -> bytes:
    """A JSON search body whose 6-number ``bbox`` becomes 4 (other bodies unchanged)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if not isinstance(data, dict) or flat_bbox(data.get("bbox")) == data.get("bbox"):
        return body
    return json.dumps({**data, "bbox": flat_bbox(data["bbox"])}).encode()


class FlatBbox:
    """ASGI middleware applying ``flat_bbox`` to search requests."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        searching = path.endswith("/search") or path.endswith("/items")
        if searching and scope.get("query_string"):
            query = scope["query_string"].decode("latin-1")
            scope = {**scope, "query_string": flat_bbox_query(query).encode("latin-1")}
        if searching and scope.get("method") == "POST":
            body = await _read_body(receive)
            fixed = flat_bbox_body(body)
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(fixed)).encode()))
            scope = {**scope, "headers": headers}
            receive = _replay(fixed, receive)
        await self.app(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once, then the client's own messages (a real disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


PEERS_VARIABLE = "GEO_PLATFORM_HEALTH_PEERS"
HEALTH_TIMEOUT = 3.0


def _database_check() -> str:
    """pgstac's version, over the PG* connection the STAC API itself uses (the reader role)."""
    import psycopg

    with psycopg.connect(connect_timeout=int(HEALTH_TIMEOUT)) as conn:
        row = conn.execute("SELECT pgstac.get_version()").fetchone()
    return f"pgstac {row[0] if row else '?'}"


def _peer_check(url: str) -> str:
    """HTTP 200, and not a body saying its database is offline (titiler-pgstac answers 200
    with ``"database_online": false``)."""
    with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT) as resp:
        status, body = resp.status, resp.read(100_000)
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("database_online") is False:
        raise ConnectionError(f"HTTP {status} but its database is offline (database_online: false)")
    return f"HTTP {status}"


async def stack_health(peers: dict[str, str]) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Every check of the serving stack, run concurrently in threads (each bounded in time)."""
    names = ["database", *peers]
    calls = [_database_check, *(lambda u=u: _peer_check(u) for u in peers.values())]
    results = await asyncio.gather(
        *(asyncio.to_thread(call) for call in calls), return_exceptions=True
    )
    checks: dict[str, dict[str, Any]] = {}
    for name, result in zip(names, results, strict=True):
        if isinstance(result, BaseException):
            reason = str(result).strip().splitlines()[0] if str(result).strip() else ""
            checks[name] = {"ok": False, "detail": f"{type(result).__name__}: {reason}"[:300]}
        else:
            checks[name] = {"ok": True, "detail": result}
    return all(c["ok"] for c in checks.values()), checks


class Health:
    """ASGI middleware answering ``GET /healthz`` (the serving stack's health)."""

    def __init__(self, app: ASGIApp, peers: dict[str, str] | None = None) -> None:
        self.app = app
        self.peers = (
            peers if peers is not None else json.loads(os.environ.get(PEERS_VARIABLE) or "{}")
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != "/healthz":
            await self.app(scope, receive, send)
            return
        ok, checks = await stack_health(self.peers)
        body = json.dumps({"healthy": ok, "checks": checks}).encode()
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        await send(
            {"type": "http.response.start", "status": 200 if ok else 503, "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})


def create_app() -> ASGIApp:
    """stac-fastapi-pgstac's app (configured by PG* and STAC_FASTAPI_* variables), wrapped."""
    from stac_fastapi.pgstac.app import create_app as upstream

    return Health(FlatBbox(upstream()))
