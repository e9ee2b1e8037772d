"""Pure pieces of the catalog: a dataset's minimal collection, the collection link every item
needs, and reading an item's JSON. ``store/catalog.py`` publishes them into pgstac.

Collections whose id starts with ``PROTECTED_PREFIX`` (``system-``) are the platform's own
(the H3 grids): lifecycle jobs never unpublish them.
"""

from __future__ import annotations

import json
from typing import Any

from geo_platform.lib.errors import ValidationError

PROTECTED_PREFIX = "system-"
STAC_VERSION = "1.1.0"


def dataset_collection(collection_id: str, description: str, kind: str) -> dict[str, Any]:
    """A minimal valid collection for a dataset; pgstac computes its extent from the items."""
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "id": collection_id,
        "title": collection_id,
        "description": description,
        "license": "other",
        "keywords": [kind, "geo_platform"],
        "links": [],
        "extent": {
            "spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
            "temporal": {"interval": [[None, None]]},
        },
        "summaries": {},
    }


def with_collection_link(item: dict[str, Any]) -> dict[str, Any]:
    """STAC requires a 'collection' link when an item names its collection; add a relative one."""
    cid = item.get("collection")
    links = item.setdefault("links", [])
    if cid and not any(link.get("rel") == "collection" for link in links):
        links.append({"rel": "collection", "href": f"../{cid}/collection.json",
                      "type": "application/json"})  # fmt: skip
    return item


def load_item_json(data: bytes, name: str) -> dict[str, Any]:
    """A STAC item read from JSON bytes (``name`` for the error); ``ValidationError`` if the
    bytes are not JSON."""
    try:
        item: dict[str, Any] = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"STAC item JSON is not valid JSON: {exc}", path=name) from exc
    return item
