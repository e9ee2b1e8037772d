"""The quality report: Markdown plus PNG charts that exist and decode, from known facts."""

from __future__ import annotations

import base64
import io
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from PIL import Image

from geo_platform.store.catalog import publish_source_items
from geo_platform.workflows.quality_report import (
    FailureFacts,
    ItemFacts,
    Materialization,
    build_report,
    collect_item_facts,
    embed_charts,
    error_type_of,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _facts() -> tuple[list[ItemFacts], list[FailureFacts], list[Materialization]]:
    items = [
        ItemFacts(
            "rasters-dem",
            f"d{i}.tif",
            "raster",
            T0 + timedelta(days=i),
            1_000_000 * (i + 1),
            60 + 10 * i,
            ("license",) if i < 3 else (),
        )
        for i in range(4)
    ] + [
        ItemFacts("vectors", "roads", "vector", T0, 500_000, 19, ("license", "providers")),
        ItemFacts(
            "vectors",
            "roads_copy",
            "other",
            T0 + timedelta(days=2),
            0,
            None,
            duplicate_of="vectors/roads.gpkg",
        ),
    ]
    failures = [
        FailureFacts(
            T0,
            "r1",
            "raster_cog",
            "rasters/dem/bad.tif",
            "NotGeoreferencedError",
            "NotGeoreferencedError: no georeferencing",
        ),
        FailureFacts(
            T0 + timedelta(hours=1),
            "r2",
            "vector_table",
            "vectors/x.csv",
            "MissingCRSError",
            "MissingCRSError: no CRS | try assume_crs",
        ),
        FailureFacts(
            T0 + timedelta(hours=2),
            "r3",
            "vector_table",
            "vectors/y.csv",
            "MissingCRSError",
            "MissingCRSError: no CRS",
        ),
    ]
    mats = [
        Materialization(T0 + timedelta(days=i % 3), a)
        for i in range(9)
        for a in ("raster_cog", "raster_stac_item")
    ]
    return items, failures, mats


def test_report_and_charts_are_produced(tmp_path):
    items, failures, mats = _facts()
    report = build_report(tmp_path, items, failures, mats, generated_at=T0)
    assert set(report.charts) == {"items_over_time", "materializations", "failures", "completeness"}
    for path in report.charts.values():
        assert path.parent == tmp_path and path.stat().st_size > 1000
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            assert img.format == "PNG" and img.size[0] > 300
    md = report.markdown
    assert "| rasters-dem | 4 | 0 | 10.0 | 75 | 60 | 1 |" in md
    assert "| vectors | 2 | 1 | 0.5 | 19 | 19 | 2 |" in md
    assert "- MissingCRSError: 2 file(s)" in md and "- NotGeoreferencedError: 1 file(s)" in md
    worst = md.split("## Worst offenders")[1]
    assert worst.index("vectors/roads |") < worst.index("rasters-dem/d0.tif")
    assert "roads_copy" not in worst  # pointers have nothing of their own to score
    assert "no CRS \\| try assume_crs" in md  # table cells escaped
    assert report.summary == {
        "items": 6,
        "collections": 2,
        "duplicates": 1,
        "bytes": 10_500_000,
        "failed_files": 3,
        "completeness_mean": 63.8,
        "completeness_min": 19,
    }
    embedded = embed_charts(md, report.charts.values())
    assert "(items_over_time.png)" in md and "(items_over_time.png)" not in embedded
    data = embedded.split("](data:image/png;base64,")[1].split(")")[0]
    with Image.open(io.BytesIO(base64.b64decode(data))) as img:
        assert img.format == "PNG"


def test_an_empty_platform_still_gives_a_report(tmp_path):
    report = build_report(tmp_path, [], [], [])
    assert report.charts == {} and "- none" in report.markdown
    assert report.summary["items"] == 0


def test_error_type_parsing():
    assert error_type_of("MissingCRSError: no CRS") == "MissingCRSError"
    assert error_type_of("something odd") == "unknown"


def test_item_facts_from_real_pgstac(pg_dsn):
    cid = f"report-{uuid.uuid4().hex[:8]}"
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": "x",
        "collection": cid,
        "geometry": {"type": "Point", "coordinates": [0, 0]},
        "bbox": [0, 0, 0, 0],
        "properties": {
            "datetime": "2020-01-01T00:00:00Z",
            "created": "2026-11-02T10:00:00Z",
            "proj:code": "EPSG:4326",
            "table:row_count": 1,
            "table:columns": [],
        },
        "links": [],
        "assets": {"geoparquet": {"href": "x.parquet", "roles": ["data"], "file:size": 1234}},
    }
    with psycopg.connect(pg_dsn) as conn:
        try:
            publish_source_items(conn, [item], f"{cid}/x.gpkg", "vector")
            facts = collect_item_facts(conn, [cid])
        finally:
            conn.rollback()
            conn.execute("SELECT pgstac.delete_collection(%s)", (cid,))
            conn.commit()
    assert len(facts) == 1
    f = facts[0]
    assert (f.collection, f.item_id, f.kind, f.size_bytes) == (cid, "x", "vector", 1234)
    assert f.created == datetime(2026, 11, 2, 10, tzinfo=UTC)
    assert f.completeness is not None and 0 < f.completeness < 100
    assert "geometry and bbox" not in f.missing  # hydrated by pgstac: geometry is there
    assert "license (now: 'other')" in f.missing  # inherited from the dataset collection
