"""The quality report: Markdown plus PNG charts that exist and decode, from known facts."""

from __future__ import annotations

import base64
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import matplotlib.pyplot as plt
import psycopg
from matplotlib.dates import num2date
from PIL import Image

from geo_platform.lib.quality import charts
from geo_platform.store.catalog import publish_source_items
from geo_platform.workflows.quality_report import (
    FailureFacts,
    ItemFacts,
    Materialization,
    build_report,
    collect_item_facts,
    embed_charts,
    error_type_of,
    facts_of_item,
    published_series,
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
    assert f.published == datetime(2026, 11, 2, 10, tzinfo=UTC)
    assert f.completeness is not None and 0 < f.completeness < 100
    assert "geometry and bbox" not in f.missing  # hydrated by pgstac: geometry is there
    assert "license (now: 'other')" in f.missing  # inherited from the dataset collection


# --- charts a person can trust (issue 17) ------------------------------------------------------
def _x_range(ax) -> tuple[datetime, datetime]:
    lo, hi = ax.get_xlim()
    return num2date(lo, tz=UTC), num2date(hi, tz=UTC)


def _tick_labels(fig, ax) -> list[str]:
    fig.canvas.draw()
    return [t.get_text() for t in ax.get_xticklabels() if t.get_text()]


def test_publication_time_never_the_data_datetime() -> None:
    def item(props: dict) -> dict:
        return {"id": "x", "collection": "c", "properties": props, "assets": {}}

    scene = {"datetime": "2022-03-01T00:00:00Z", "created": "2026-11-01T10:00:00Z"}
    assert facts_of_item(item(scene)).published == datetime(2026, 11, 1, 10, tzinfo=UTC)
    updated = {"datetime": "2022-03-01T00:00:00Z", "updated": "2026-11-01T11:00:00Z"}
    assert facts_of_item(item(updated)).published == datetime(2026, 11, 1, 11, tzinfo=UTC)
    assert facts_of_item(item({"datetime": "2022-03-01T00:00:00Z"})).published is None


def test_items_chart_axis_spans_publication_times_with_a_panel_per_series(tmp_path) -> None:
    """What we saw: one item dated 2022 stretched the axis over five years, and the items line
    was hidden under the MB line on a shared axis."""
    t0 = datetime(2026, 11, 1, 9, tzinfo=UTC)
    props = {"datetime": "2022-03-01T00:00:00Z", "created": (t0 + timedelta(hours=3)).isoformat()}
    scene = facts_of_item(
        {"id": "old", "collection": "c", "assets": {"a": {"file:size": 4e7}}, "properties": props}
    )
    items = [
        ItemFacts("c", f"d{i}", "raster", t0 + timedelta(minutes=40 * i), 2_000_000, 80)
        for i in range(8)
    ] + [scene]
    times, counts, sizes = published_series(items)
    assert times[0] == t0 and counts[-1] == 9 and sizes[-1] == 56.0
    fig = charts.published_figure(times, counts, sizes, "Published items and size")
    try:
        items_ax, mb_ax = fig.axes  # two panels, one quantity each
        lo, hi = _x_range(mb_ax)
        hour = timedelta(hours=1)
        assert t0 - hour < lo <= t0 and times[-1] <= hi < times[-1] + hour
        assert _x_range(items_ax) == (lo, hi)  # one shared time axis
        for ax, values in ((items_ax, counts), (mb_ax, sizes)):
            [line] = [ln for ln in ax.get_lines() if ln.get_linestyle() != "None"]
            assert list(line.get_ydata())[: len(values)] == list(values)
            bottom, top = ax.get_ylim()
            assert bottom <= 0 and max(values) < top  # nothing clipped, nothing hidden
        labels = _tick_labels(fig, mb_ax)
        assert labels and all(re.fullmatch(r"\d\d:\d\d", t) for t in labels), labels
    finally:
        plt.close(fig)
    # No time at all: the item is counted, not drawn at 1970 or at its data's datetime.
    undated = ItemFacts("c", "u", "raster", None, 1, 50)
    assert published_series([undated]) == ([], [], [])
    report = build_report(tmp_path, [undated, items[0]])
    assert "1 item(s) record no publication time" in report.markdown


def test_one_day_of_materializations_is_labelled_in_hours() -> None:
    """What we saw: a one-day chart whose tick labels were dates under hourly ticks."""
    t0 = datetime(2026, 11, 1, 9, 10, tzinfo=UTC)
    events = [(t0 + timedelta(minutes=25 * i), "raster_cog") for i in range(20)]
    events += [(t0 + timedelta(minutes=50 * i), "raster_stac_item") for i in range(10)]
    binned = charts.bin_events(events)
    assert binned.unit == "hour" and binned.starts[0] == t0.replace(minute=0)
    assert sum(binned.counts["raster_cog"]) == 20 and len(binned.starts) == 9
    fig = charts.activity_figure(events, "Materializations", "partitions")
    try:
        [ax] = fig.axes
        assert ax.get_title() == "Materializations per hour"
        labels = _tick_labels(fig, ax)
        assert labels and all(re.fullmatch(r"\d\d:\d\d", t) for t in labels), labels
        assert "2026-Nov-01" in ax.xaxis.get_major_formatter().get_offset()
        lo, hi = _x_range(ax)
        assert lo <= t0.replace(minute=0) and hi >= binned.starts[-1] + timedelta(hours=1)
        assert hi - lo < timedelta(hours=12)
    finally:
        plt.close(fig)
    # Three weeks: per day, dates on the axis.
    weeks = [(t0 + timedelta(days=i), "vector_table") for i in range(21)]
    fig = charts.activity_figure(weeks, "Materializations", "partitions")
    try:
        [ax] = fig.axes
        assert ax.get_title() == "Materializations per day"
        assert not any(":" in t for t in _tick_labels(fig, ax))
    finally:
        plt.close(fig)
