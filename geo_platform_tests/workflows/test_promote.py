"""Promotion and demotion between the real staging and production databases, as the promoter.

Every test checks both databases and both blob locations; connections to staging and
production are made AS the promoter role, so the grants of ``services.access`` are exercised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from geo_platform.lib.errors import InputError, NotFoundError, UnsafePathError
from geo_platform.lib.stac.refs import matches_spec, rewrite_item
from geo_platform.lib.stac_ext import PROMOTED_AT, PROMOTION_RUN, PROMOTION_VERSION, SOURCE_RUN
from geo_platform.settings import Settings
from geo_platform.store import pgstac
from geo_platform.store.promotion_audit import history
from geo_platform.store.promotion_state import read_items
from geo_platform.workflows.demote import demote
from geo_platform.workflows.promote import PromotionRequest, promote
from geo_platform_tests.fixtures.promotion import (
    PROD,
    SILVER,
    Dataset,
    count_rows,
    drop_dataset,
    make_dataset,
    publish_items,
    set_rows,
)


@pytest.fixture
def ds(pg_dsn: str, settings: Settings, tmp_path: Path) -> Iterator[Dataset]:
    dataset = make_dataset(settings, tmp_path)
    try:
        yield dataset
    finally:
        drop_dataset(dataset)


def _prod_items(ds: Dataset) -> dict[str, dict[str, Any]]:
    with ds.production() as conn:
        return {i["id"]: i for i in read_items(conn, ds.collection)}


def _prod_blobs(ds: Dataset) -> list[str]:
    return [b.path for b in ds.store.list_blobs(PROD, prefix=f"{ds.collection}/")]


def _run(ds: Dataset, *, dry_run: bool, run_id: str = "run-promote-0001", **req: Any) -> Any:
    with ds.promoter() as (src, dst):
        return promote(
            src,
            dst,
            ds.source,
            ds.target,
            PromotionRequest(ds.collection, **req),
            run_id=run_id,
            dry_run=dry_run,
        )


def test_dry_run_plans_everything_and_changes_nothing(ds: Dataset) -> None:
    result = _run(ds, dry_run=True)
    plan = result.as_dict()["plan"]
    assert result.applied is False and result.as_dict()["dry_run"] is True
    assert plan["items"] == sorted([ds.raster_id, ds.vector_id])
    assert plan["tables"] == [{"source": f"geo.{ds.table}", "target": f"geo.{ds.table}"}]
    assert {b["source"] for b in plan["blobs"]} == set(ds.blobs.values())
    assert all(b["target"].startswith(f"{ds.collection}/{plan['version']}/") for b in plan["blobs"])
    assert _prod_items(ds) == {} and _prod_blobs(ds) == []
    with ds.production() as conn:
        assert pgstac.get_collection(conn, ds.collection) is None
        assert count_rows(conn, ds.table) is None
        assert history(conn, ds.collection) == []


def test_promote_repromote_demote(ds: Dataset) -> None:
    first = _run(ds, dry_run=False, run_id="run-aaaa1111")
    assert first.applied and first.blobs_copied == 3 and first.tables[0].rows == 100
    items = _prod_items(ds)
    vec, ras = items[ds.vector_id], items[ds.raster_id]
    prod_root = str(Path(ds.store.root).resolve() / PROD)
    prod_db = ds.target.db_href
    assert vec["assets"]["postgis"]["href"] == f"{prod_db}?table=geo.{ds.table}"
    assert "geo_platform_prod" in prod_db and "@" not in vec["assets"]["postgis"]["href"]
    for item in (vec, ras):
        for asset in item["assets"].values():
            assert asset["href"].startswith((prod_root, prod_db)), asset["href"]
        props = item["properties"]
        assert props[PROMOTION_RUN] == "run-aaaa1111" and props[PROMOTED_AT].endswith("Z")
        assert props[SOURCE_RUN] == props["geo_platform:run_id"]
    version1 = vec["properties"][PROMOTION_VERSION]
    assert sorted(_prod_blobs(ds)) == sorted(
        f"{ds.collection}/{version1}/{p}" for p in ds.blobs.values()
    )
    analysis = Path(ras["assets"]["analysis"]["href"])
    assert analysis.read_bytes() == b"analysis v1"
    with ds.production() as conn:
        assert count_rows(conn, ds.table) == 100
        indexes = {
            r[0]
            for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'geo' AND tablename = %s",
                (ds.table,),
            )
        }
        assert indexes == {f"{ds.table}_pkey", f"{ds.table}_geom_gix"}
        [row] = history(conn, ds.collection)
        assert row["action"] == "promote" and row["run_id"] == "run-aaaa1111"
        assert row["db_user"] == ds.settings.promoter_role and row["blobs"] == 3
    with ds.staging() as conn:  # staging untouched
        assert count_rows(conn, ds.table) == 100
        item = pgstac.get_item(conn, ds.collection, ds.vector_id)
        assert item is not None and PROMOTED_AT not in item["properties"]

    # Staging moves on: more rows, new blob content, the raster item is gone.
    set_rows(ds, 250)
    publish_items(ds, 250, "v2", raster=False)
    second = _run(ds, dry_run=False, run_id="run-bbbb2222")
    assert second.plan.remove_items == [ds.raster_id] and second.blobs_deleted == 3
    items = _prod_items(ds)
    assert set(items) == {ds.vector_id}
    vec = items[ds.vector_id]
    version2 = vec["properties"][PROMOTION_VERSION]
    assert version2 != version1 and vec["properties"]["table:row_count"] == 250
    assert _prod_blobs(ds) == [f"{ds.collection}/{version2}/{ds.blobs['parquet']}"]
    assert Path(vec["assets"]["geoparquet"]["href"]).read_bytes() == b"parquet v2"
    assert not analysis.exists()
    with ds.production() as conn:
        assert count_rows(conn, ds.table) == 250
        assert [r["action"] for r in history(conn, ds.collection)] == ["promote", "promote"]

    # Demote: a dry run first (nothing changes), then for real; staging keeps everything.
    with psycopg.connect(ds.settings.role_url("promoter", "production")) as dst:
        dry = demote(dst, ds.target, ds.collection, run_id="run-cccc3333")
        assert dry.applied is False and dry.plan.delete_collection
        assert dry.plan.drop_tables == [f"geo.{ds.table}"]
        assert _prod_blobs(ds) and _prod_items(ds)
        done = demote(dst, ds.target, ds.collection, run_id="run-cccc3333", dry_run=False)
    assert done.applied and done.blobs_deleted == 1
    assert _prod_items(ds) == {} and _prod_blobs(ds) == []
    with ds.production() as conn:
        assert pgstac.get_collection(conn, ds.collection) is None
        assert count_rows(conn, ds.table) is None
        assert history(conn, ds.collection)[0]["action"] == "demote"
    with ds.staging() as conn:
        assert count_rows(conn, ds.table) == 250
        assert pgstac.get_item(conn, ds.collection, ds.vector_id) is not None
    assert ds.store.exists(SILVER, ds.blobs["parquet"])


def test_promote_selected_items_only(ds: Dataset) -> None:
    _run(ds, dry_run=False, item_ids=(ds.raster_id,))
    assert set(_prod_items(ds)) == {ds.raster_id}
    with ds.production() as conn:
        assert count_rows(conn, ds.table) is None  # the vector item's table did not move
    _run(ds, dry_run=False, run_id="run-second", item_ids=(ds.vector_id,))
    assert set(_prod_items(ds)) == {ds.raster_id, ds.vector_id}
    with pytest.raises(NotFoundError, match="not in staging"):
        _run(ds, dry_run=True, item_ids=("no-such-item",))


def test_reader_never_sees_a_mixture(ds: Dataset) -> None:
    """A reader polls production (one statement: row count and the item's declared count)
    while the dataset is re-promoted with other row counts; every answer must agree."""
    _run(ds, dry_run=False)
    query = sql.SQL(
        "SELECT (SELECT count(*) FROM geo.{}), (SELECT (content->'properties'->>'table:row_count')"
        "::int FROM pgstac.items WHERE collection = %s AND id = %s)"
    ).format(sql.Identifier(ds.table))
    seen: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def poll() -> None:
        try:
            url = ds.settings.role_url("reader", "production")
            with psycopg.connect(url, autocommit=True) as conn:
                while not stop.is_set():
                    row = conn.execute(query, (ds.collection, ds.vector_id)).fetchone()
                    seen.append((int(row[0]), int(row[1])))  # type: ignore[index]
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        for n, rows in enumerate([3000, 40, 2500, 7]):
            set_rows(ds, rows)
            publish_items(ds, rows, f"v{n + 2}")
            _run(ds, dry_run=False, run_id=f"run-{n:08d}")
            time.sleep(0.05)
    finally:
        stop.set()
        reader.join(30)
    assert not errors, errors
    counts = {c for c, _ in seen}
    assert len(seen) > 20 and len(counts) >= 3, (len(seen), counts)
    mixed = [(c, declared) for c, declared in seen if c != declared]
    assert not mixed, mixed[:5]


def test_hrefs_escaping_the_container_are_refused(ds: Dataset) -> None:
    base = ds.source.blobs.base
    with ds.staging() as conn:
        item = pgstac.get_item(conn, ds.collection, ds.raster_id)
        assert item is not None
        item["assets"]["analysis"]["href"] = base + "../bronze/secret.tif"
        pgstac.upsert_items(conn, [item])
    with pytest.raises(UnsafePathError):
        _run(ds, dry_run=False)
    assert _prod_items(ds) == {} and _prod_blobs(ds) == []


def test_failed_promotion_leaves_production_and_blobs_untouched(ds: Dataset) -> None:
    _run(ds, dry_run=False)
    before = sorted(_prod_blobs(ds))
    with ds.staging() as conn:  # the table vanishes from staging: the copy must fail
        conn.execute(sql.SQL("DROP TABLE geo.{}").format(sql.Identifier(ds.table)))
    with pytest.raises(psycopg.Error):
        _run(ds, dry_run=False, run_id="run-failing")
    assert sorted(_prod_blobs(ds)) == before
    with ds.production() as conn:
        assert count_rows(conn, ds.table) == 100
        assert len(history(conn, ds.collection)) == 1


def test_demote_rules(ds: Dataset) -> None:
    with psycopg.connect(ds.settings.role_url("promoter", "production")) as dst:
        with pytest.raises(NotFoundError):
            demote(dst, ds.target, ds.collection, dry_run=False)
        with pytest.raises(InputError, match="protected"):
            demote(dst, ds.target, "system-h3-grids", dry_run=False)
    _run(ds, dry_run=False)
    with psycopg.connect(ds.settings.role_url("promoter", "production")) as dst:
        partial = demote(dst, ds.target, ds.collection, (ds.raster_id,), dry_run=False)
    assert partial.plan.drop_tables == [] and not partial.plan.delete_collection
    assert set(_prod_items(ds)) == {ds.vector_id}
    assert len(_prod_blobs(ds)) == 1


def test_rewrite_item_and_auto_promote_spec() -> None:
    item = {
        "id": "a",
        "properties": {"geo_platform:run_id": "r1", "geo_platform:table": "geo.t"},
        "assets": {"x": {"href": "old"}, "y": {"href": "keep"}},
        "links": [{"rel": "alternate", "href": "old"}],
    }
    out = rewrite_item(item, {"old": "new"}, {"geo.t": "prod.t"}, {PROMOTION_RUN: "r2"})
    assert out["assets"] == {"x": {"href": "new"}, "y": {"href": "keep"}}
    assert out["links"][0]["href"] == "new" and item["assets"]["x"]["href"] == "old"
    assert out["properties"] == {
        "geo_platform:run_id": "r1",
        "geo_platform:table": "prod.t",
        SOURCE_RUN: "r1",
        PROMOTION_RUN: "r2",
    }
    assert matches_spec("rasters-dem", "vectors, rasters-*")
    assert matches_spec("landuse", " landuse ")
    assert not matches_spec("landuse-2", "landuse")
    assert not matches_spec("x", "")


@pytest.mark.slow
def test_large_table_streams_with_bounded_memory(ds: Dataset) -> None:
    """1M rows (~110 MB of COPY data) go through in chunks: the client's peak RSS barely moves."""
    with ds.staging() as conn:
        conn.execute(
            sql.SQL(
                "INSERT INTO geo.{} SELECT i, repeat('x', 60) || i, "
                "ST_SetSRID(ST_MakePoint(i % 360 - 180, i % 180 - 90), 4326) "
                "FROM generate_series(1000, 1000999) i"
            ).format(sql.Identifier(ds.table))
        )
    status = Path("/proc/self/status")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM (peak RSS) to the current RSS

    def kb(field: str) -> int:
        line = next(x for x in status.read_text().splitlines() if x.startswith(field))
        return int(line.split()[1])

    base = kb("VmRSS:")
    t0 = time.perf_counter()
    result = _run(ds, dry_run=False)
    seconds = time.perf_counter() - t0
    copy = result.tables[0]
    assert copy.rows == 1_000_100 and copy.bytes > 100_000_000
    peak_growth_mb = (kb("VmHWM:") - base) / 1024
    print(f"1M rows: {seconds:.1f} s, {copy.bytes / 1e6:.0f} MB, peak RSS +{peak_growth_mb:.0f} MB")
    assert peak_growth_mb < 60
    with ds.production() as conn:
        assert count_rows(conn, ds.table) == 1_000_100
