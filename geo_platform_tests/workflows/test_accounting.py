"""Storage accounting: a known inventory gives hand-computed bytes and costs."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from psycopg import sql

from geo_platform.lib.errors import ConfigError
from geo_platform.store.catalog import publish_source_items
from geo_platform.workflows.accounting import (
    DEFAULT_PRICE_TABLE,
    StoredBlob,
    account,
    format_of,
    parse_price_table,
    silver_collections,
    table_sizes,
    tier_of,
)

GIB = 2**30
INVENTORY = [
    StoredBlob("bronze", "rasters/dem/a.tif", 3 * GIB),
    StoredBlob("bronze", "vectors/roads.gpkg", GIB // 2),
    StoredBlob("silver", "rasters/dem/a.tif/analysis.tif", 2 * GIB),
    StoredBlob("silver", "rasters/dem/a.tif/visualization.tif", GIB),
    StoredBlob("silver", "rasters/dem/a.tif/archive.tif", 4 * GIB),
    StoredBlob("silver", "rasters/dem/a.tif/thumbnail.png", 2**20),
    StoredBlob("silver", "rasters/dem/a.tif/stac/a.tif.json", 1024),
    StoredBlob("silver", "vectors/roads.gpkg/vectors_roads.parquet", GIB // 2),
    StoredBlob("silver", "vectors/roads.gpkg/stac/vectors_roads.json", 1024),
    StoredBlob("silver", "orphan/b.tif/analysis.tif", GIB),
    StoredBlob("silver", "_staging/0a1b/analysis.tif", 10),
    StoredBlob("silver", "reports/quality/2026-11-01/report.md", 100),
]
PREFIXES = {"rasters/dem/a.tif": "rasters-dem", "vectors/roads.gpkg": "vectors"}


def test_known_inventory_matches_hand_computed_figures():
    r = account(
        INVENTORY,
        bronze_container="bronze",
        silver_prefixes=PREFIXES,
        database_bytes={"roads": 8192},
    )
    assert r.blobs == 12
    assert r.by_container == {"bronze": 3.5 * GIB, "silver": 8.5 * GIB + 2**20 + 2158}
    assert r.by_tier == {
        "bronze": 3.5 * GIB,
        "analysis": 3 * GIB,
        "visualization": GIB,
        "archive": 4 * GIB,
        "thumbnail": 2**20,
        "parquet": GIB // 2,
        "stac": 2048,
        "reports": 100,
        "staging": 10,
    }
    assert r.by_collection == {
        "(reports)": 100,
        "(unpublished)": GIB + 10,
        "rasters-dem": 3 * GIB + 7 * GIB + 2**20 + 1024,
        "vectors": GIB + 1024,
    }
    assert r.by_format == {
        "gpkg": GIB // 2,
        "json": 2048,
        "md": 100,
        "parquet": GIB // 2,
        "png": 2**20,
        "tif": 3 * GIB + 7 * GIB + GIB + 10,
    }
    # Hand computation with the default list prices (USD per GiB-month):
    # bronze 3.5 GiB cool 0.01 = 0.035; analysis 3 GiB hot 0.0184 = 0.0552;
    # visualization 1 GiB hot = 0.0184; archive 4 GiB cool = 0.04;
    # thumbnail 1 MiB hot = 0.0184/1024 = 0.000018; parquet 0.5 GiB hot = 0.0092.
    assert r.monthly_cost_by_tier["bronze"] == pytest.approx(0.035)
    assert r.monthly_cost_by_tier["analysis"] == pytest.approx(0.0552)
    assert r.monthly_cost_by_tier["visualization"] == pytest.approx(0.0184)
    assert r.monthly_cost_by_tier["archive"] == pytest.approx(0.04)
    assert r.monthly_cost_by_tier["thumbnail"] == pytest.approx(0.000018)
    assert r.monthly_cost_by_tier["parquet"] == pytest.approx(0.0092)
    assert r.monthly_cost_total == pytest.approx(
        0.035 + 0.0552 + 0.0184 + 0.04 + 0.000018 + 0.0092, abs=2e-6
    )
    assert r.by_access_tier == {"cool": 7.5 * GIB, "hot": 4.5 * GIB + 2**20 + 2158}
    assert r.database_monthly_cost is None  # no database price configured
    meta = r.metadata()
    assert meta["bytes/tier/archive"] == 4 * GIB and meta["bytes/database"] == 8192
    assert meta["cost/monthly_total"] == r.monthly_cost_total
    json.dumps(meta)


def test_price_table_overrides():
    table = parse_price_table(
        json.dumps(
            {
                "prices": {"hot": 0.02, "archive": 0.001},
                "tiers": {"archive": "archive"},
                "database_per_gb": 0.115,
                "region": "West Europe",
                "as_of": "2027-01",
            }
        )
    )
    assert table.prices["hot"] == 0.02 and table.prices["cool"] == 0.01  # default kept
    assert table.price_of("archive") == 0.001 and table.region == "West Europe"
    r = account(
        INVENTORY,
        bronze_container="bronze",
        silver_prefixes=PREFIXES,
        prices=table,
        database_bytes={"roads": GIB},
    )
    assert r.monthly_cost_by_tier["archive"] == pytest.approx(0.004)
    assert r.database_monthly_cost == pytest.approx(0.115)
    flat = parse_price_table('{"hot": 0.03}')
    assert flat.price_of("analysis") == 0.03 and flat.as_of == "custom"
    assert parse_price_table("") is DEFAULT_PRICE_TABLE
    for bad in ("[1]", "{nope", '{"tiers": {"archive": "glacier"}}', '{"hot": "cheap"}'):
        with pytest.raises(ConfigError):
            parse_price_table(bad)


@pytest.mark.parametrize(
    ("path", "bronze", "tier", "fmt"),
    [
        ("a/b.tif/analysis.tif", False, "analysis", "tif"),
        ("a/b.tif/stac/b.tif.json", False, "stac", "json"),
        ("a/notes.json", False, "other", "json"),
        ("a/b.tar.gz", True, "bronze", "tar.gz"),
        ("README", True, "bronze", "none"),
    ],
)
def test_tier_and_format(path, bronze, tier, fmt):
    assert tier_of(path, bronze=bronze) == tier and format_of(path) == fmt


def test_collections_and_table_sizes_from_the_real_database(pg_dsn, pg_schema):
    cid = f"acct-{uuid.uuid4().hex[:8]}"
    blob = f"{cid}/dem/x y.tif"
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": "x",
        "collection": cid,
        "geometry": {"type": "Point", "coordinates": [0, 0]},
        "bbox": [0, 0, 0, 0],
        "properties": {"datetime": "2020-01-01T00:00:00Z"},
        "links": [],
        "assets": {},
    }
    with psycopg.connect(pg_dsn) as conn:
        try:
            publish_source_items(conn, [item], blob, "raster")
            prefixes = silver_collections(conn)
            conn.execute(
                sql.SQL("CREATE TABLE {} AS SELECT g FROM generate_series(1, 1000) g").format(
                    sql.Identifier(pg_schema, "t")
                )
            )
            sizes = table_sizes(conn, pg_schema)
        finally:
            conn.rollback()
            conn.execute("SELECT pgstac.delete_collection(%s)", (cid,))
            conn.commit()
    from geo_platform.lib.naming import silver_prefix

    assert prefixes[silver_prefix(blob)] == cid
    assert sizes["t"] > 8192
