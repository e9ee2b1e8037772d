from __future__ import annotations

import filecmp
import uuid

import psycopg
import pytest

from geo_platform.lib.errors import ValidationError
from geo_platform.lib.stac.validate import SCHEMA_DIR, validate_stac
from geo_platform.store import pgstac
from geo_platform_tests.fixtures.helpers import SHARED_SCHEMAS


def _item(cid: str, iid: str, x: float, dt: str) -> dict:
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": iid,
        "collection": cid,
        "geometry": {"type": "Point", "coordinates": [x, 10.0]},
        "bbox": [x, 10.0, x, 10.0],
        "properties": {"datetime": dt},
        "links": [{"rel": "collection", "href": f"./{cid}.json"}],
        "assets": {"data": {"href": "/tmp/x.tif", "roles": ["data"]}},
        "stac_extensions": [],
    }


def _collection(cid: str) -> dict:
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": cid,
        "description": "test",
        "license": "other",
        "links": [],
        "extent": {"spatial": {"bbox": [[0, 0, 0, 0]]}, "temporal": {"interval": [[None, None]]}},
    }


def test_vendored_schemas_are_the_official_copies():
    if not SHARED_SCHEMAS.is_dir():
        pytest.skip("shared schemas not beside the checkout")
    for f in SHARED_SCHEMAS.rglob("*.json"):
        rel = f.relative_to(SHARED_SCHEMAS)
        assert filecmp.cmp(f, SCHEMA_DIR / rel, shallow=False), rel


def test_validate_accepts_good_and_rejects_bad():
    good = _item("c", "i", 1.0, "2020-01-01T00:00:00Z")
    assert validate_stac(good)
    bad = dict(good, properties={})  # no datetime
    with pytest.raises(ValidationError, match="datetime"):
        validate_stac(bad)
    with pytest.raises(ValidationError, match="no offline schema"):
        validate_stac(
            dict(good, stac_extensions=["https://example.com/unknown/v1.0.0/schema.json"])
        )


def test_pgstac_round_trip_and_extent(pg_dsn):
    cid = f"test-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn) as conn:
        pgstac.upsert_collection(conn, _collection(cid))
        n = pgstac.upsert_items(
            conn,
            [_item(cid, f"i{i}", float(i), f"202{i}-01-01T00:00:00Z") for i in range(3)],
            batch_size=2,
        )
        assert n == 3
        # Upsert again: no duplicates.
        pgstac.upsert_items(conn, [_item(cid, "i0", 0.0, "2020-01-01T00:00:00Z")])
        assert pgstac.item_ids(conn, cid) == ["i0", "i1", "i2"]
        pgstac.refresh_collection_extent(conn, cid)
        coll = pgstac.get_collection(conn, cid)
        assert coll["extent"]["spatial"]["bbox"][0] == [0, 10, 2, 10]
        assert coll["extent"]["temporal"]["interval"][0][0].startswith("2020-01-01")
        assert pgstac.get_item(conn, cid, "i1")["id"] == "i1"
        assert pgstac.delete_item(conn, cid, "i1") is True
        assert pgstac.delete_item(conn, cid, "i1") is False
        assert pgstac.get_item(conn, cid, "i1") is None
        conn.execute("SELECT delete_collection(%s)", (cid,))
        conn.commit()


def _index_oids(conn: psycopg.Connection) -> set[int]:
    rows = conn.execute(
        "SELECT indexrelid::int FROM pg_index WHERE indrelid = "
        "'pgstac.queryable_index_template'::regclass"
    ).fetchall()
    return {r[0] for r in rows}


def test_provenance_lookups_are_indexed_in_every_partition(pg_dsn):
    """services registered the provenance queryables; a new collection's partition is indexed
    on the exact expression the lookups use, and registering again rebuilds nothing."""
    from geo_platform.lib.stac_ext import SOURCE_BLOB
    from geo_platform.store.catalog import items_of_source
    from geo_platform.store.duplicates import SHA_PROPERTY, find_duplicate

    cid = f"test-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn) as conn:
        before = _index_oids(conn)
        assert pgstac.ensure_queryables(conn) == []  # ensure_postgres did it already
        assert _index_oids(conn) == before
        item = _item(cid, "a", 1.0, "2021-01-01T00:00:00Z")
        item["properties"].update({SOURCE_BLOB: f"{cid}/a.tif", SHA_PROPERTY: "f" * 64})
        pgstac.upsert_collection(conn, _collection(cid))
        pgstac.upsert_items(conn, [item])
        assert items_of_source(conn, f"{cid}/a.tif") == [(cid, "a")]
        found = find_duplicate(conn, "f" * 64, f"{cid}/b.tif")
        assert found is not None and found.source_blob == f"{cid}/a.tif"
        conn.execute("SET enable_seqscan = off")  # only an index can answer now
        for name in (SOURCE_BLOB, SHA_PROPERTY):
            plan = conn.execute(
                psycopg.sql.SQL(
                    "EXPLAIN SELECT id FROM items WHERE collection = %s AND {} = 'x'"
                ).format(pgstac.property_text(name)),
                (cid,),
            ).fetchall()
            text = "\n".join(r[0] for r in plan)
            assert "Index" in text and "to_text" in text, text
        conn.execute("RESET enable_seqscan")
        conn.execute("SELECT pgstac.delete_collection(%s)", (cid,))
        conn.commit()
