"""URLs the platform hands out: server links for metadata, and blob hrefs that resolve.

Pure string work (values in, values out): the callers pass base URLs, this module never reads
settings or opens a connection.

- **Server links**: where a published item, collection or table is seen in the three servers of
  ``geo-platform serve`` (STAC API, tiler, OGC API Features). ``local_url(port)`` is the
  loopback base of one of them.
- **Blob hrefs**: a STAC asset href is ``{public base}/{container}/{path}``, each path segment
  percent-quoted, the same layout as an Azure blob URL (``https://<account>.blob.core.windows.net``
  is the base there). Locally ``geo-platform serve`` serves the silver containers under that
  layout, with Range requests, so GDAL's ``/vsicurl/`` and titiler read COGs through it.
- **Rebasing**: when the public base changes, ``rebase_item`` rewrites the hrefs of a published
  item in one step (``geo-platform rebase-hrefs``). Hrefs are stored absolute, not relative to a
  base resolved at request time, because the tiler (titiler-pgstac) and every STAC client read the
  hrefs exactly as pgstac stores them: an off-the-shelf server cannot resolve a relative one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from geo_platform.lib.stac.raster_mosaic import collection_mosaic_query

LOOPBACK = "127.0.0.1"
FILE_ALTERNATE = "file"


def local_url(port: int, host: str = LOOPBACK) -> str:
    """``http://host:port``: the base URL of one server of ``geo-platform serve``."""
    return f"http://{host}:{port}"


# --- server links -----------------------------------------------------------------------------
def item_links(
    stac_url: str, tiles_url: str, collection_id: str, item_id: str, asset: str | None = None
) -> dict[str, str]:
    """URLs of a published STAC item: the API item, and (with ``asset``) tiles of that asset.

    Pure string building (no request): callers show them where the servers are known to run.
    ``tiles`` is an XYZ template in WebMercatorQuad.
    """
    c, i = quote(collection_id, safe=""), quote(item_id, safe="")
    links = {"stac_item": f"{stac_url.rstrip('/')}/collections/{c}/items/{i}"}
    if asset:
        base = f"{tiles_url.rstrip('/')}/collections/{c}/items/{i}"
        query = f"assets={quote(asset, safe='')}"
        links["tiles"] = f"{base}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png?{query}"
        links["tilejson"] = f"{base}/WebMercatorQuad/tilejson.json?{query}"
        links["map"] = f"{base}/WebMercatorQuad/map.html?{query}"
    return links


def collection_links(
    stac_url: str, tiles_url: str, collection_id: str, asset: str | None = None
) -> dict[str, str]:
    """URLs of a collection in the STAC API and (with ``asset``) its mosaic tiles."""
    c = quote(collection_id, safe="")
    stac = stac_url.rstrip("/")
    links = {
        "stac_collection": f"{stac}/collections/{c}",
        "stac_items": f"{stac}/collections/{c}/items",
    }
    if asset:
        base = f"{tiles_url.rstrip('/')}/collections/{c}"
        query = collection_mosaic_query(assets=asset)  # raster items only (mixed folders)
        links["mosaic_tiles"] = f"{base}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png?{query}"
        links["mosaic_map"] = f"{base}/WebMercatorQuad/map.html?{query}"
    return links


def features_links(features_url: str, schema: str, table: str) -> dict[str, str]:
    """URLs of a PostGIS table in tipg (collection id ``schema.table``)."""
    cid = quote(f"{schema}.{table}", safe="")
    base = f"{features_url.rstrip('/')}/collections/{cid}"
    return {
        "features_collection": base,
        "features_items": f"{base}/items",
        "vector_tiles": f"{base}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}",
        "map": f"{base}/viewer.html",
    }


# --- blob hrefs -------------------------------------------------------------------------------
def blob_url(base: str, container: str, path: str) -> str:
    """``{base}/{container}/{path}`` with every path segment percent-quoted (as Azure does)."""
    quoted = "/".join(quote(seg, safe="") for seg in path.split("/"))
    return f"{base.rstrip('/')}/{container}/{quoted}"


def file_uri(path: str) -> str:
    """``file:///abs/path`` of an absolute local path (segments percent-quoted)."""
    return "file://" + quote(path, safe="/")


def file_alternate(path: str) -> dict[str, dict[str, str]]:
    """The ``alternate`` entry (alternate-assets extension) of a local file: for tools that run
    on the machine holding the blob root."""
    return {FILE_ALTERNATE: {"href": file_uri(path), "title": "Local file"}}


def is_url(href: str) -> bool:
    return urlsplit(href).scheme in {"http", "https", "file"}


def blob_path_under(prefix: str, href: str) -> str | None:
    """The blob path of ``href`` if it starts with ``prefix`` (``{base}/{container}/``), else None.

    URL hrefs are percent-decoded (query and fragment dropped); plain local paths are taken as
    they are. The caller checks that the path is a blob of its container before trusting it.
    """
    if not href.startswith(prefix):
        return None
    rest = href[len(prefix) :]
    if is_url(prefix):
        rest = unquote(rest.split("?", 1)[0].split("#", 1)[0])
    return rest or None


def container_prefixes(href: str, container: str) -> list[str]:
    """Every ``.../{container}/`` prefix of ``href`` (longest first): where a blob path of
    ``container`` may start, whatever the base in front of it was."""
    marker = f"/{container}/"
    out, start = [], href.find(marker)
    while start >= 0:
        out.append(href[: start + len(marker)])
        start = href.find(marker, start + 1)
    return out[::-1]


def rebase_item(
    item: Mapping[str, Any], new_href: Callable[[str], str | None]
) -> tuple[dict[str, Any], dict[str, str]]:
    """A copy of ``item`` whose asset hrefs (and links with the same href) ``new_href`` maps.

    ``new_href(old)`` returns the href to store instead, or None to keep ``old``. Returns the
    new item and the old -> new mapping that was applied (empty: nothing changed).
    """
    out = copy.deepcopy(dict(item))
    changed: dict[str, str] = {}
    for asset in (out.get("assets") or {}).values():
        href = asset.get("href") if isinstance(asset, dict) else None
        if isinstance(href, str):
            new = new_href(href)
            if new is not None and new != href:
                asset["href"] = changed[href] = new
    for link in out.get("links") or []:
        if isinstance(link, dict) and link.get("href") in changed:
            link["href"] = changed[link["href"]]
    return out, changed


def rewrite_strings(value: Any, new_href: Callable[[str], str | None]) -> Any:
    """A copy of a JSON value (a silver item, a MosaicJSON) with every string that
    ``new_href`` maps replaced: hrefs wherever a document keeps them."""
    if isinstance(value, str):
        new = new_href(value)
        return value if new is None else new
    if isinstance(value, list):
        return [rewrite_strings(v, new_href) for v in value]
    if isinstance(value, dict):
        return {k: rewrite_strings(v, new_href) for k, v in value.items()}
    return value
