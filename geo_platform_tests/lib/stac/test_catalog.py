from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from geo_platform.lib.errors import ValidationError
from geo_platform.lib.stac.collection import dataset_collection
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.store import pgstac
from geo_platform.store.catalog import items_of_source, publish_source_items, publish_sources


def _item(cid: str, iid: str, source: str) -> dict:
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": iid,
        "collection": cid,
        "geometry": {"type": "Point", "coordinates": [1.0, 2.0]},
        "bbox": [1.0, 2.0, 1.0, 2.0],
        "properties": {"datetime": "2024-05-01T00:00:00Z", "geo_platform:source_blob": source},
        "links": [{"rel": "collection", "href": f"./{cid}.json"}],
        "assets": {"data": {"href": "/x.tif", "roles": ["data"]}},
    }


def test_dataset_collection_validates():
    validate_stac(dataset_collection("c-1", "desc", "raster"))


def test_publish_replaces_items_of_a_source_and_creates_collection(pg_dsn):
    cid = f"t-{uuid.uuid4().hex[:8]}"
    src = f"bronze/{cid}.gpkg"
    with psycopg.connect(pg_dsn) as conn:
        first = publish_source_items(
            conn, [_item(cid, "a", src), _item(cid, "b", src)], src, "vector"
        )
        assert first.collections_created == [cid]
        assert sorted(i["id"] for i in first.items) == ["a", "b"]
        # Re-publishing with one layer fewer removes the stale item, and creates nothing new.
        second = publish_source_items(conn, [_item(cid, "a", src)], src, "vector")
        assert second.removed == [{"collection": cid, "id": "b"}] and not second.collections_created
        assert items_of_source(conn, src) == [(cid, "a")]
        coll = pgstac.get_collection(conn, cid)
        assert coll["extent"]["spatial"]["bbox"][0] == [1, 2, 1, 2]
        conn.execute("SELECT delete_collection(%s)", (cid,))
        conn.commit()


def test_invalid_item_publishes_nothing(pg_dsn):
    cid = f"t-{uuid.uuid4().hex[:8]}"
    src = f"bronze/{cid}.tif"
    bad = _item(cid, "bad", src)
    del bad["properties"]["datetime"]
    with psycopg.connect(pg_dsn) as conn:
        with pytest.raises(ValidationError, match="datetime"):
            publish_source_items(conn, [_item(cid, "good", src), bad], src, "raster")
        assert items_of_source(conn, src) == []
        assert pgstac.get_collection(conn, cid) is None


def test_republishing_with_a_new_datetime_works(pg_dsn):
    cid = f"t-{uuid.uuid4().hex[:8]}"
    src = f"bronze/{cid}.tif"
    with psycopg.connect(pg_dsn) as conn:
        publish_source_items(conn, [_item(cid, "a", src)], src, "raster")
        moved = _item(cid, "a", src)
        moved["properties"]["datetime"] = "2021-03-01T00:00:00Z"
        publish_source_items(conn, [moved], src, "raster")
        item = pgstac.get_item(conn, cid, "a")
        assert item["properties"]["datetime"].startswith("2021-03-01")
        interval = pgstac.get_collection(conn, cid)["extent"]["temporal"]["interval"][0]
        assert interval[0].startswith("2021-03-01")
        conn.execute("SELECT delete_collection(%s)", (cid,))
        conn.commit()


def test_a_batch_of_sources_removes_each_ones_stale_items_only(pg_dsn):
    """Several sources in one transaction: each keeps what it publishes now, loses what it no
    longer produces in its collections (everywhere when it produces nothing), and never touches
    another source's items."""
    c1, c2 = (f"t-{uuid.uuid4().hex[:8]}" for _ in range(2))
    s1, s2, s3 = (f"bronze/{c1}/{n}.gpkg" for n in ("one", "two", "three"))
    with psycopg.connect(pg_dsn) as conn:
        publish_sources(
            conn,
            {
                s1: [_item(c1, "1a", s1), _item(c1, "1c", s1), _item(c2, "1b", s1)],
                s2: [_item(c1, "2a", s2), _item(c1, "2b", s2)],
                s3: [_item(c2, "3a", s3)],
            },
            "vector",
        )
        again = publish_sources(
            conn,
            {s1: [_item(c1, "1a", s1), _item(c2, "1b", s1)], s2: [_item(c1, "2b", s2)], s3: []},
            "vector",
        )
        assert again[s1].removed == [{"collection": c1, "id": "1c"}]
        assert again[s2].removed == [{"collection": c1, "id": "2a"}]
        assert again[s3].removed == [{"collection": c2, "id": "3a"}]
        assert sorted(items_of_source(conn, s1)) == sorted([(c1, "1a"), (c2, "1b")])
        assert items_of_source(conn, s2) == [(c1, "2b")]
        assert items_of_source(conn, s3) == []
        for cid in (c1, c2):
            conn.execute("SELECT delete_collection(%s)", (cid,))
        conn.commit()


def test_concurrent_workers_publish_into_new_collections_without_errors(pg_dsn):
    """Four connections, each publishing the first items of new collections at once (what
    several Dagster workers do). pgstac creates an item partition per collection inside the
    writing transaction; unserialized, 30 of 40 such publishes failed ("relation _items_N does
    not exist", deadlocks). With ``pgstac.lock_writes`` every one lands."""
    tag = f"t-{uuid.uuid4().hex[:8]}"
    errors: list[str] = []

    def worker(w: int) -> None:
        with psycopg.connect(pg_dsn) as conn:
            for i in range(5):
                cid, src = f"{tag}-w{w}-{i}", f"bronze/{tag}/w{w}/{i}.tif"
                days = [f"2024-0{1 + (w + i) % 9}-01T00:00:00Z", "2023-12-31T00:00:00Z"]
                items = [_item(cid, f"{cid}-{k}", src) for k in "ab"]
                for item, day in zip(items, days, strict=True):
                    item["properties"]["datetime"] = day
                try:
                    publish_sources(conn, {src: items}, "raster")
                except Exception as exc:  # collected: the assertion names them all
                    errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert errors == []
        with psycopg.connect(pg_dsn) as conn:
            pgstac.prepare(conn)
            (count,) = conn.execute(
                "SELECT count(*) FROM items WHERE collection LIKE %s", (f"{tag}-%",)
            ).fetchone()
        assert count == 40
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            for (cid,) in conn.execute(
                "SELECT id FROM pgstac.collections WHERE id LIKE %s", (f"{tag}-%",)
            ).fetchall():
                conn.execute("SELECT pgstac.delete_collection(%s)", (cid,))
