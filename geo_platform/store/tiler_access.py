"""What a published item needs so that the tiler can read its blobs where they are stored.

Azure: the blobs live in a private container, which the tiler cannot read through the assets'
https hrefs. Each blob asset gets a ``/vsiaz/`` alternate (``lib.stac.alternates``), read by
titiler-pgstac with the account's credentials (``app.serve`` sets RIO_TILER_STAC_ALTERNATE_KEY
and the AZURE_STORAGE_* variables). The local backend needs nothing: its hrefs are readable.

Called where items reach pgstac: the catalog stage (``workflows.catalog``), a raster
collection's publication (``workflows.publish_collection``) and a promotion
(``workflows.promote``, with production's container, so promoted items never point at staging).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from geo_platform.lib.stac.alternates import with_vsiaz_alternates
from geo_platform.store.silver_refs import BlobStoreLike, container_href_base


def with_tiler_access(
    store: BlobStoreLike, container: str, items: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``items`` as the tiler needs them for blobs of ``container`` in ``store``: on Azure with
    the ``/vsiaz/`` alternate on each blob asset, elsewhere unchanged."""
    # An AzureBlobStore exists only once its module is loaded: no need to load the Azure SDK
    # (0.15 s) to learn that a local store is not one.
    azure = sys.modules.get("geo_platform.store.blobs.azure")
    if azure is None or not isinstance(store, azure.AzureBlobStore):
        return list(items)
    base = container_href_base(store, container)
    return [with_vsiaz_alternates(item, container, base) for item in items]
