"""What a published STAC item points at: silver blobs, PostGIS tables, its source folder.

Unpublish and the janitor both need to go from an item back to the data it describes. Asset
hrefs are whatever the blob store handed out (a local path, or an account URL with
percent-quoted segments), so they are mapped back through the same store (``href`` round trip)
instead of being parsed by guesswork; table assets carry ``?table=schema.name``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from geo_platform.lib.errors import GeoPlatformError
from geo_platform.lib.naming import silver_prefix
from geo_platform.lib.stac.collection import PROTECTED_PREFIX
from geo_platform.lib.stac_ext import RUN_ID, SOURCE_BLOB
from geo_platform.lib.types import BlobInfo

# Silver layout written by store/silver.py (kept in sync by a test).
STAC_FOLDER = "stac"
STAGING_ROOT = "_staging"
POSTGRES_SCHEMES = ("postgresql", "postgres")
POSTGIS_MEDIA_TYPE = "application/vnd.postgresql"


class BlobStoreLike(Protocol):
    """The part of ``store.blobs.base.BlobStore`` the unpublish and janitor workflows use (kept
    structural so that fakes in tests need only these methods)."""

    def list_blobs(self, container: str, prefix: str = "") -> Iterator[BlobInfo]: ...

    def stat(self, container: str, path: str) -> BlobInfo | None: ...

    def delete(self, container: str, path: str) -> bool: ...

    def href(self, container: str, path: str) -> str: ...


def is_protected(collection_id: str) -> bool:
    """``system-*`` collections (grids, reference data) are never deleted by lifecycle jobs."""
    return collection_id.startswith(PROTECTED_PREFIX)


def container_href_base(store: BlobStoreLike, container: str) -> str:
    """The href prefix every blob of ``container`` shares (probe path stripped)."""
    probe = "p"
    href = store.href(container, probe)
    return href[: -len(probe)]


def blob_path_for_href(
    store: BlobStoreLike, container: str, href: str, base: str | None = None
) -> str | None:
    """The blob path in ``container`` that ``href`` designates, or None if it is elsewhere.

    Exact: a candidate path is accepted only if the store gives back the very same href for it.
    """
    base = container_href_base(store, container) if base is None else base
    if not href or not href.startswith(base):
        return None
    rel = href[len(base) :]
    for candidate in dict.fromkeys((rel, unquote(rel))):
        if not candidate:
            continue
        try:
            if store.href(container, candidate) == href:
                return candidate
        except GeoPlatformError:  # UnsafePathError and the like: not one of ours
            continue
    return None


def table_of_href(href: str) -> tuple[str, str] | None:
    """(schema, table) of a ``postgresql://host/db?table=schema.name`` asset href."""
    parts = urlsplit(href or "")
    if parts.scheme not in POSTGRES_SCHEMES:
        return None
    values = parse_qs(parts.query).get("table")
    if not values or "." not in values[0]:
        return None
    schema, _, table = values[0].partition(".")
    return (schema, table) if schema and table else None


def item_kind(item: dict[str, Any]) -> str:
    """'vector' for items describing PostGIS tables, else 'raster'."""
    if any(k.startswith("table:") for k in item.get("properties", {})):
        return "vector"
    for asset in item.get("assets", {}).values():
        if asset.get("type") == POSTGIS_MEDIA_TYPE or table_of_href(asset.get("href", "")):
            return "vector"
    return "raster"


def asset_hrefs(item: dict[str, Any], data_only: bool = False) -> dict[str, str]:
    """Asset key -> href; with ``data_only``, the assets holding the data (role ``data``; all
    assets when none has that role)."""
    assets = item.get("assets", {}) or {}
    if data_only:
        data = {k: a for k, a in assets.items() if "data" in (a.get("roles") or [])}
        assets = data or assets
    return {k: a["href"] for k, a in assets.items() if a.get("href")}


def source_blob(item: dict[str, Any]) -> str | None:
    value = item.get("properties", {}).get(SOURCE_BLOB)
    return str(value) if value else None


def original_run_id(item: dict[str, Any]) -> str | None:
    value = item.get("properties", {}).get(RUN_ID)
    return str(value) if value else None


def stac_json_path(item: dict[str, Any]) -> str | None:
    """Where the silver stage wrote the item's JSON (``<silver prefix>/stac/<item id>.json``)."""
    src = source_blob(item)
    return f"{silver_prefix(src)}/{STAC_FOLDER}/{item['id']}.json" if src else None


def item_blob_paths(
    store: BlobStoreLike, container: str, item: dict[str, Any], base: str | None = None
) -> tuple[set[str], list[str]]:
    """(silver blob paths the item owns, asset hrefs outside silver and PostGIS)."""
    base = container_href_base(store, container) if base is None else base
    paths: set[str] = set()
    external: list[str] = []
    for href in asset_hrefs(item).values():
        path = blob_path_for_href(store, container, href, base)
        if path is not None:
            paths.add(path)
        elif table_of_href(href) is None:
            external.append(href)
    stac_json = stac_json_path(item)
    if stac_json:
        paths.add(stac_json)
    return paths, external


def item_tables(item: dict[str, Any], default_schema: str) -> list[tuple[str, str]]:
    """Tables of a vector item: its table assets, else (default schema, item id)."""
    found = [t for href in asset_hrefs(item).values() if (t := table_of_href(href))]
    if found:
        return list(dict.fromkeys(found))
    return [(default_schema, str(item["id"]))] if item_kind(item) == "vector" else []


def ancestors(path: str) -> Iterable[str]:
    """'a/b/c.tif' -> 'a/b', 'a' (nearest first)."""
    parts = path.split("/")[:-1]
    for i in range(len(parts), 0, -1):
        yield "/".join(parts[:i])
