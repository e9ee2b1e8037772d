"""Duplicate content under two bronze names, detected and linked in real pgstac."""

from __future__ import annotations

import copy
import uuid

import psycopg
import pytest

from geo_platform.lib.errors import ConfigError
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.store import pgstac
from geo_platform.store.catalog import items_of_source, publish_source_items
from geo_platform.store.duplicates import (
    DUPLICATE_PROPERTY,
    DUPLICATE_REL,
    duplicates_mode,
    find_duplicate,
    is_pointer,
    pointers_for,
    resolve_items,
)


def item(cid: str, iid: str, blob: str, sha: str, created: str) -> dict:
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": [],
        "id": iid,
        "collection": cid,
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]},
        "bbox": [0, 0, 1, 1],
        "properties": {
            "datetime": "2020-01-01T00:00:00Z",
            "created": created,
            "geo_platform:source_blob": blob,
            "geo_platform:source_sha256": sha,
            "geo_platform:source_etag": "e-" + iid,
        },
        "links": [],
        "assets": {"analysis": {"href": f"/silver/{iid}/analysis.tif", "roles": ["data"]}},
    }


@pytest.fixture
def world(pg_dsn):
    tag = uuid.uuid4().hex[:8]
    cids = [f"dup-{tag}-a", f"dup-{tag}-b"]
    sha = uuid.uuid4().hex * 2
    yield tag, cids, sha
    with psycopg.connect(pg_dsn) as conn:
        for cid in cids:
            if pgstac.get_collection(conn, cid) is not None:
                conn.execute("SELECT pgstac.delete_collection(%s)", (cid,))
        conn.commit()


def test_planted_duplicate_is_detected_and_linked(pg_dsn, world):
    tag, (ca, cb), sha = world
    first, second = f"{tag}/a/x.tif", f"{tag}/b/copy of x.tif"
    with psycopg.connect(pg_dsn) as conn:
        publish_source_items(
            conn, [item(ca, "x.tif", first, sha, "2026-01-01T00:00:00Z")], first, "raster"
        )
        assert find_duplicate(conn, sha, first) is None  # it is the original
        assert find_duplicate(conn, "0" * 64, second) is None  # unknown content
        original = find_duplicate(conn, sha, second)
        assert original is not None and original.source_blob == first
        assert original.items == ((ca, "x.tif"),)

        # Catalog stage for the second name (its silver stage built it: same batch).
        mine = [item(cb, "copy-of-x.tif", second, sha, "2026-01-02T00:00:00Z")]
        res = resolve_items(conn, copy.deepcopy(mine), blob=second, mode="link")
        assert res.original == original and res.linked == ["copy-of-x.tif"]
        pointer = res.items[0]
        assert is_pointer(pointer) and pointer["assets"] == {}
        assert pointer["properties"]["geo_platform:source_blob"] == second
        assert pointer["properties"][DUPLICATE_PROPERTY] == {
            "source_blob": first,
            "collection": ca,
            "id": "x.tif",
        }
        publish_source_items(conn, res.items, second, "raster")  # validates offline, commits

        stored = pgstac.get_item(conn, cb, "copy-of-x.tif")
        assert stored is not None
        links = {link["rel"]: link["href"] for link in stored["links"]}
        assert links[DUPLICATE_REL] == f"/collections/{ca}/items/x.tif"
        assert links["canonical"] == links[DUPLICATE_REL]
        assert items_of_source(conn, second) == [(cb, "copy-of-x.tif")]
        # Pointers never count as originals: a third copy still links to the first.
        third = find_duplicate(conn, sha, f"{tag}/c/x.tif")
        assert third is not None and third.source_blob == first
        # Republishing the original itself is not a duplicate of anything.
        again = resolve_items(
            conn, [item(ca, "x.tif", first, sha, "2026-01-03T00:00:00Z")], blob=first, mode="link"
        )
        assert again.original is None and not is_pointer(again.items[0])
        conn.rollback()


def test_publish_mode_flags_but_keeps_the_items(pg_dsn, world):
    tag, (ca, cb), sha = world
    first, second = f"{tag}/a/y.tif", f"{tag}/b/y.tif"
    with psycopg.connect(pg_dsn) as conn:
        publish_source_items(
            conn, [item(ca, "y.tif", first, sha, "2026-01-01T00:00:00Z")], first, "raster"
        )
        mine = [item(cb, "y.tif", second, sha, "2026-01-02T00:00:00Z")]
        res = resolve_items(conn, mine, blob=second, mode="publish")
        conn.rollback()
    assert res.original is not None and res.linked == []
    assert res.items[0]["assets"] and not is_pointer(res.items[0])
    assert res.items[0]["properties"]["geo_platform:duplicate_of_source"] == first


def test_the_earliest_created_source_is_the_original(pg_dsn, world):
    tag, (ca, cb), sha = world
    older, newer = f"{tag}/a/z.tif", f"{tag}/b/z.tif"
    with psycopg.connect(pg_dsn) as conn:
        # Published in the "wrong" order (mode publish): creation time decides, not insertion.
        publish_source_items(
            conn, [item(cb, "z.tif", newer, sha, "2026-02-01T00:00:00Z")], newer, "raster"
        )
        publish_source_items(
            conn, [item(ca, "z.tif", older, sha, "2026-01-01T00:00:00Z")], older, "raster"
        )
        found = find_duplicate(conn, sha, newer)
        assert found is not None and found.source_blob == older
        assert find_duplicate(conn, sha, older) is None


def test_silver_skip_path_builds_valid_pointers_from_the_original(pg_dsn, world):
    tag, (ca, cb), sha = world
    first = f"{tag}/a/w.tif"
    with psycopg.connect(pg_dsn) as conn:
        publish_source_items(
            conn, [item(ca, "w.tif", first, sha, "2026-01-01T00:00:00Z")], first, "raster"
        )
        original = find_duplicate(conn, sha, f"{tag}/b/w2.tif")
        assert original is not None
        pointers = pointers_for(
            conn,
            original,
            item_id_for=lambda _orig, _n: "w2.tif",
            collection_id=cb,
            properties={"geo_platform:source_blob": f"{tag}/b/w2.tif"},
        )
    assert [p["id"] for p in pointers] == ["w2.tif"]
    assert pointers[0]["bbox"] == [0, 0, 1, 1]  # geometry from the original
    assert pointers[0]["properties"]["datetime"] == "2020-01-01T00:00:00Z"
    validate_stac(pointers[0])


def test_mode_is_validated():
    assert duplicates_mode("") == "link" and duplicates_mode("PUBLISH") == "publish"
    with pytest.raises(ConfigError):
        duplicates_mode("skip")


def test_two_copies_in_one_batch_are_published_once(pg_dsn, world):
    from geo_platform.store.catalog import publish_sources
    from geo_platform.store.duplicates import resolve_sources

    tag, (ca, cb), sha = world
    first, second = f"{tag}/a/v.tif", f"{tag}/b/v.tif"
    by_source = {
        second: [item(cb, "v.tif", second, sha, "2026-03-01T00:00:01Z")],
        first: [item(ca, "v.tif", first, sha, "2026-03-01T00:00:00Z")],
    }
    with psycopg.connect(pg_dsn) as conn:
        resolved = resolve_sources(conn, by_source, mode="link")
        assert resolved[first].original is None and not is_pointer(resolved[first].items[0])
        assert resolved[second].original is not None
        assert resolved[second].original.source_blob == first
        publish_sources(conn, {s: r.items for s, r in resolved.items()}, "raster")  # commits
        stored = pgstac.get_item(conn, cb, "v.tif")
    assert stored is not None and stored["assets"] == {}
    assert stored["properties"][DUPLICATE_PROPERTY] == {
        "source_blob": first,
        "collection": ca,
        "id": "v.tif",
    }
