"""Publishing STAC items of one bronze source into pgstac, in one transaction.

Silver assets write their STAC items as JSON next to their data; the catalog assets hand them to
``publish_source_items``, which validates every item offline first (nothing is published if one
is invalid), makes sure each collection exists, upserts the items, removes items that the same
bronze source published before but no longer produces (a dropped layer, say), and refreshes the
collections' extents. Readers see the old set of items or the new one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import psycopg

from geo_platform.lib.stac import pgstac
from geo_platform.lib.stac.validate import validate_stac

SOURCE_PROPERTY = "geo_platform:source_blob"
PROTECTED_PREFIX = "system-"
STAC_VERSION = "1.1.0"


@dataclass
class PublishResult:
    items: list[dict[str, str]] = field(default_factory=list)  # [{collection, id}]
    removed: list[dict[str, str]] = field(default_factory=list)
    collections_created: list[str] = field(default_factory=list)


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


def _lock(conn: psycopg.Connection, source_blob: str) -> None:
    # Two runs publishing the same source serialize; different sources never wait.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("stac:" + source_blob,))


def items_of_source(conn: psycopg.Connection, source_blob: str) -> list[tuple[str, str]]:
    """(collection, id) of every item a bronze source published."""
    pgstac.prepare(conn)
    rows = conn.execute(
        "SELECT collection, id FROM items WHERE content->'properties'->>%s = %s",
        (SOURCE_PROPERTY, source_blob),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def publish_source_items(
    conn: psycopg.Connection,
    items: list[dict[str, Any]],
    source_blob: str,
    kind: str,
) -> PublishResult:
    """Validate, then publish ``items`` (all from ``source_blob``) and commit."""
    for item in items:
        validate_stac(with_collection_link(item))
        if item.get("properties", {}).get(SOURCE_PROPERTY) != source_blob:
            item.setdefault("properties", {})[SOURCE_PROPERTY] = source_blob
    result = PublishResult()
    try:
        _lock(conn, source_blob)
        pgstac.prepare(conn)
        collections = sorted({str(i["collection"]) for i in items})
        for cid in collections:
            if pgstac.get_collection(conn, cid) is None:
                pgstac.upsert_collection(
                    conn, dataset_collection(cid, f"{kind} data published from bronze", kind)
                )
                result.collections_created.append(cid)
        pgstac.upsert_items(conn, items)
        keep = {(str(i["collection"]), str(i["id"])) for i in items}
        for cid, iid in items_of_source(conn, source_blob):
            if (cid, iid) not in keep:
                conn.execute("SELECT delete_item(%s, %s)", (iid, cid))
                result.removed.append({"collection": cid, "id": iid})
        for cid in {*collections, *(r["collection"] for r in result.removed)}:
            pgstac.refresh_collection_extent(conn, cid)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    result.items = [{"collection": c, "id": i} for c, i in sorted(keep)]
    return result


def load_item_json(data: bytes, name: str) -> dict[str, Any]:
    from geo_platform.lib.errors import ValidationError

    try:
        item: dict[str, Any] = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"STAC item JSON is not valid JSON: {exc}", path=name) from exc
    return item
