"""Alternate locations of STAC assets: how the tiler reads blobs of a private Azure container.

Why: on the Azure backend an asset's ``href`` is the blob's URL (``<account or public base>/
<container>/<path>``), which is what STAC clients show and what a public, CDN-fronted or
SAS-signed container serves. A private container answers an anonymous GET with 403/404, and
GDAL's plain HTTP reader has no Azure credentials. GDAL's ``/vsiaz/<container>/<path>`` reads the
same blob with the account's credentials (``AZURE_STORAGE_CONNECTION_STRING``, or
``AZURE_STORAGE_ACCOUNT`` with a key, a SAS or a managed / workload identity).

So every asset that is a blob of the container also carries, per the STAC alternate-assets
extension, ``"alternate": {"vsiaz": {"href": "/vsiaz/<container>/<path>"}}``. rio-tiler and
titiler-pgstac read an asset's alternate instead of its ``href`` when
``RIO_TILER_STAC_ALTERNATE_KEY`` names it (``app.serve`` sets ``vsiaz`` for the Azure backend).

The extension is not listed in ``stac_extensions``: its schema is not among the ones vendored for
offline validation (``lib/stac/schemas``), and core STAC allows extra asset fields, so items stay
valid. Pure: values in, values out (the caller says which container and href base apply).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

VSIAZ = "vsiaz"
"""The alternate's key, and the value of RIO_TILER_STAC_ALTERNATE_KEY that selects it."""
VSIAZ_TITLE = "GDAL /vsiaz/"


def vsiaz_href(container: str, path: str) -> str:
    """GDAL's name of a blob: ``/vsiaz/<container>/<path>`` (the path as stored, unquoted)."""
    return f"/vsiaz/{container}/{path.lstrip('/')}"


def vsiaz_alternate(container: str, path: str) -> dict[str, dict[str, str]]:
    """The ``alternate`` entry of an asset that is blob ``path`` of ``container``."""
    return {VSIAZ: {"href": vsiaz_href(container, path), "title": VSIAZ_TITLE}}


def blob_path_of(href: str, href_base: str) -> str | None:
    """The blob path an href designates under ``href_base`` (``<base>/<container>/``): the rest
    of the URL, percent-decoded, without query or fragment. None for anything else (a table's
    ``postgresql://`` href, a blob of another container or account)."""
    if not href_base or not href.startswith(href_base):
        return None
    rest = href[len(href_base) :].split("?", 1)[0].split("#", 1)[0]
    path = unquote(rest)
    return path or None


def with_vsiaz_alternates(
    item: Mapping[str, Any], container: str, href_base: str
) -> dict[str, Any]:
    """A copy of ``item`` whose blob assets carry the ``/vsiaz/`` alternate.

    An asset whose ``href`` is under ``href_base`` gets ``alternate.vsiaz`` for its blob in
    ``container``; a ``vsiaz`` alternate on any other asset is dropped (it would name a blob the
    href no longer designates, e.g. staging's container after a promotion). Other alternates
    are kept. Applying it twice gives the same item.
    """
    out = copy.deepcopy(dict(item))
    for asset in (out.get("assets") or {}).values():
        if not isinstance(asset, dict):
            continue
        alternates = asset.get("alternate")
        if isinstance(alternates, dict):
            alternates.pop(VSIAZ, None)
            if not alternates:
                asset.pop("alternate")
        href = asset.get("href")
        path = blob_path_of(href, href_base) if isinstance(href, str) else None
        if path is not None:
            found = asset.get("alternate")
            merged = found if isinstance(found, dict) else {}
            merged.update(vsiaz_alternate(container, path))
            asset["alternate"] = merged
    return out
