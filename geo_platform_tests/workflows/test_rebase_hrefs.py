"""Published hrefs follow a changed public base URL in one step (workflows.rebase_hrefs).

Real pgstac and a real local blob store: an item published with the old layout (absolute file
paths, as the local backend wrote before hrefs were URLs) is rewritten to URLs under the public
base, then to another base; lifecycle code maps the new hrefs back to the same blobs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pystac
import pytest

from geo_platform.lib.stac.refs import blob_location
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.stac_ext import SOURCE_BLOB
from geo_platform.store import pgstac
from geo_platform.store.blobs.local import LocalBlobStore
from geo_platform.store.catalog import publish_source_items
from geo_platform.store.silver_refs import blob_path_for_href, item_blob_paths, stac_json_path
from geo_platform.workflows.rebase_hrefs import rebase_catalog

SILVER = "silver"


def _item(collection: str, item_id: str, source: str, hrefs: dict[str, str]) -> dict[str, Any]:
    item = pystac.Item(
        id=item_id,
        geometry={"type": "Point", "coordinates": [10.0, 45.0]},
        bbox=[10.0, 45.0, 10.0, 45.0],
        datetime=datetime(2022, 1, 1, tzinfo=UTC),
        properties={SOURCE_BLOB: source},
        collection=collection,
    )
    for key, href in hrefs.items():
        item.add_asset(key, pystac.Asset(href=href, media_type=pystac.MediaType.COG))
    item.add_link(pystac.Link("collection", f"/collections/{collection}", pystac.MediaType.JSON))
    out = item.to_dict(include_self_link=False, transform_hrefs=False)
    validate_stac(out)
    return out


@pytest.fixture
def legacy(pg_dsn: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Blobs in a local store and an item whose hrefs are absolute paths into it."""
    tag = uuid.uuid4().hex[:8]
    old = LocalBlobStore(root=str(tmp_path / "blobs"))
    source = f"rebase{tag}/scene.tif"
    folder = f"rebase{tag}/scene"
    for name in ("analysis.tif", "a b#1.tif"):
        old.upload_bytes(SILVER, f"{folder}/{name}", b"II*\x00data")
    hrefs = {
        "analysis": old.href(SILVER, f"{folder}/analysis.tif"),
        "odd": old.href(SILVER, f"{folder}/a b#1.tif"),
        "gone": old.href(SILVER, f"{folder}/missing.tif"),  # no such blob: left alone
        "elsewhere": "https://example.org/silver/other.tif",  # not ours: left alone
        "table": "postgresql://db.example:5432/gis?table=geo.roads",
    }
    collection, item_id = f"test-rebase-{tag}", f"scene-{tag}"
    item = _item(collection, item_id, source, hrefs)
    json_path = stac_json_path(item)
    assert json_path is not None
    old.upload_bytes(SILVER, json_path, json.dumps(item).encode())
    with psycopg.connect(pg_dsn) as conn:
        publish_source_items(conn, [item], source, "raster")
    try:
        yield {"root": tmp_path / "blobs", "collection": collection, "id": item_id,
               "hrefs": hrefs, "json_path": json_path, "folder": folder}  # fmt: skip
    finally:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("SELECT pgstac.delete_collection(%s)", (collection,))
            conn.commit()


def _published(pg_dsn: str, legacy: dict[str, Any]) -> dict[str, Any]:
    with psycopg.connect(pg_dsn) as conn:
        item = pgstac.get_item(conn, legacy["collection"], legacy["id"])
    assert item is not None
    return item


def test_rebase_rewrites_blob_hrefs_in_one_step(pg_dsn: str, legacy: dict[str, Any]) -> None:
    store = LocalBlobStore(root=str(legacy["root"]), public_url="http://files.example:8084")
    mine = f"{legacy['collection']}/{legacy['id']}"
    with psycopg.connect(pg_dsn) as conn:
        dry = rebase_catalog(conn, store, SILVER)
    assert mine in dry.items and not dry.applied
    assert _published(pg_dsn, legacy)["assets"]["analysis"]["href"] == legacy["hrefs"]["analysis"]

    with psycopg.connect(pg_dsn) as conn:
        done = rebase_catalog(conn, store, SILVER, apply=True)
    assert mine in done.items
    assets = _published(pg_dsn, legacy)["assets"]
    folder = legacy["folder"]
    assert assets["analysis"]["href"] == f"http://files.example:8084/silver/{folder}/analysis.tif"
    assert assets["odd"]["href"] == f"http://files.example:8084/silver/{folder}/a%20b%231.tif"
    for key in ("gone", "elsewhere", "table"):
        assert assets[key]["href"] == legacy["hrefs"][key], key
    # The silver copy of the item follows (a re-run of the catalog stage publishes it as is).
    assert legacy["json_path"] in done.blobs_rewritten
    with store.local_copy(SILVER, legacy["json_path"]) as local:
        kept = json.loads(local.read_text())
    assert kept["assets"]["odd"]["href"] == assets["odd"]["href"]
    # Lifecycle code maps the new hrefs back to the same blobs, through the store.
    assert blob_path_for_href(store, SILVER, assets["odd"]["href"]) == f"{folder}/a b#1.tif"
    paths, external = item_blob_paths(store, SILVER, _published(pg_dsn, legacy))
    assert {f"{folder}/analysis.tif", f"{folder}/a b#1.tif"} <= paths
    assert "https://example.org/silver/other.tif" in external
    assert blob_location(SILVER, store.href).path_of(assets["odd"]["href"]) == f"{folder}/a b#1.tif"

    with psycopg.connect(pg_dsn) as conn:  # nothing left to do
        assert mine not in rebase_catalog(conn, store, SILVER).items

    moved = LocalBlobStore(root=str(legacy["root"]), public_url="https://data.example.org/b")
    with psycopg.connect(pg_dsn) as conn:
        again = rebase_catalog(conn, moved, SILVER, apply=True)
    assert again.prefixes == {
        "http://files.example:8084/silver/": "https://data.example.org/b/silver/"
    }
    assert _published(pg_dsn, legacy)["assets"]["odd"]["href"] == (
        f"https://data.example.org/b/silver/{folder}/a%20b%231.tif"
    )
