"""The quality report: what the catalogue holds, how complete it is, and what failed.

Why: one page that a person running the platform can read in a minute, per collection and
platform-wide: counts and sizes over time, failures by reason, the completeness distribution and
the worst offenders. Inputs are plain records (gathered by the Dagster asset from pgstac and the
Dagster instance); output is Markdown plus PNG charts in a folder, so the same report is written
to silver and shown in the UI (charts embedded as data URIs there).
"""

from __future__ import annotations

import base64
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from geo_platform.lib.stac.completeness import (
    COMPLETENESS_PROPERTY,
    MISSING_PROPERTY,
    completeness,
    item_kind,
)
from geo_platform.lib.stac_ext import DUPLICATE_OF, SOURCE_BLOB
from geo_platform.store import pgstac

WORST = 10


@dataclass(frozen=True)
class ItemFacts:
    """One published STAC item as the report sees it."""

    collection: str
    item_id: str
    kind: str
    published: datetime | None  # when the platform published it (never the data's datetime)
    size_bytes: int
    completeness: int | None  # None for duplicate pointers (nothing of their own to score)
    missing: tuple[str, ...] = ()
    duplicate_of: str | None = None
    source_blob: str | None = None


@dataclass(frozen=True)
class FailureFacts:
    """One file that failed in a run (from the run's Failure metadata)."""

    when: datetime
    run_id: str
    step: str
    blob: str
    error_type: str
    message: str


@dataclass(frozen=True)
class Materialization:
    when: datetime
    asset: str


@dataclass
class Report:
    markdown: str
    charts: dict[str, Path] = field(default_factory=dict)
    summary: dict[str, float | int] = field(default_factory=dict)


# --- gathering from pgstac -------------------------------------------------------------------
def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _size(item: dict[str, Any]) -> int:
    return sum(int(a.get("file:size") or 0) for a in item.get("assets", {}).values())


def publication_time(properties: dict[str, Any]) -> datetime | None:
    """When the item was published: its ``created`` (set when the platform built it) or
    ``updated``. Never the STAC ``datetime``, which is when the *data* was captured: one scene
    from 2022 published today must not stretch the publication axis back to 2022."""
    return _parse_time(properties.get("created")) or _parse_time(properties.get("updated"))


def facts_of_item(item: dict[str, Any], collection: dict[str, Any] | None = None) -> ItemFacts:
    """Report facts of a hydrated STAC item (its stored score, else one computed now)."""
    props = item.get("properties", {})
    dup = props.get(DUPLICATE_OF)
    score, missing = props.get(COMPLETENESS_PROPERTY), props.get(MISSING_PROPERTY)
    if dup is None and score is None:
        score, missing = completeness(item, collection)
    return ItemFacts(
        collection=str(item.get("collection")),
        item_id=str(item.get("id")),
        kind=item_kind(item),
        published=publication_time(props),
        size_bytes=_size(item),
        completeness=None if dup is not None else int(score),
        missing=tuple(missing or ()),
        duplicate_of=dup.get("source_blob") if isinstance(dup, dict) else None,
        source_blob=props.get(SOURCE_BLOB),
    )


def collect_item_facts(
    conn: psycopg.Connection[Any], collection_ids: Sequence[str] | None = None
) -> list[ItemFacts]:
    """Facts of every item in pgstac (or in ``collection_ids``), hydrated by pgstac itself."""
    pgstac.prepare(conn)
    colls = {cid: content for cid, content in conn.execute("SELECT id, content FROM collections")}
    query = "SELECT content_hydrate(i) FROM items i"
    params: tuple[Any, ...] = ()
    if collection_ids is not None:
        query += " WHERE collection = ANY(%s)"
        params = (list(collection_ids),)
    rows = conn.execute(query, params).fetchall()
    return [facts_of_item(row[0], colls.get(row[0].get("collection"))) for row in rows]


# --- pieces of the report --------------------------------------------------------------------
def error_type_of(message: str) -> str:
    """'MissingCRSError: ...' -> 'MissingCRSError' (the run metadata's per-file format)."""
    match = re.match(r"^\s*([A-Za-z_][\w.]*)\s*:", message)
    return match.group(1) if match else "unknown"


def published_series(items: Sequence[ItemFacts]) -> tuple[list[datetime], list[int], list[float]]:
    """(publication times, items published by then, their MB) at each publication time."""
    per_time: dict[datetime, tuple[int, int]] = {}
    for it in items:
        if it.published is None:
            continue
        n, b = per_time.get(it.published, (0, 0))
        per_time[it.published] = (n + 1, b + it.size_bytes)
    times, counts, sizes = [], [], []
    n_total = b_total = 0
    for t in sorted(per_time):
        n_total += per_time[t][0]
        b_total += per_time[t][1]
        times.append(t)
        counts.append(n_total)
        sizes.append(round(b_total / 1e6, 3))
    return times, counts, sizes


def _collection_rows(items: Sequence[ItemFacts], failures: Sequence[FailureFacts]) -> list[str]:
    from geo_platform.lib.naming import collection_id

    by_coll: dict[str, list[ItemFacts]] = defaultdict(list)
    for it in items:
        by_coll[it.collection].append(it)
    failed = Counter(collection_id(f.blob) for f in failures)
    rows = [
        "| collection | items | duplicates | MB | completeness mean | min | failed files |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for coll in sorted(set(by_coll) | set(failed)):
        its = by_coll.get(coll, [])
        scores = [i.completeness for i in its if i.completeness is not None]
        mean = f"{sum(scores) / len(scores):.0f}" if scores else "-"
        low = f"{min(scores)}" if scores else "-"
        dups = sum(1 for i in its if i.duplicate_of)
        mb = sum(i.size_bytes for i in its) / 1e6
        rows.append(
            f"| {coll} | {len(its)} | {dups} | {mb:.1f} | {mean} | {low} | {failed.get(coll, 0)} |"
        )
    return rows


def _worst_rows(items: Sequence[ItemFacts]) -> list[str]:
    scored = sorted(
        (i for i in items if i.completeness is not None),
        key=lambda i: (i.completeness, i.collection, i.item_id),
    )[:WORST]
    rows = ["| item | score | missing |", "|---|---:|---|"]
    for it in scored:
        missing = "; ".join(it.missing) or "-"
        rows.append(f"| {it.collection}/{it.item_id} | {it.completeness} | {_cell(missing)} |")
    return rows


def _failure_rows(failures: Sequence[FailureFacts]) -> list[str]:
    latest: dict[str, FailureFacts] = {}
    for f in sorted(failures, key=lambda f: f.when):
        latest[f.blob] = f
    rows = ["| file | error | when | message |", "|---|---|---|---|"]
    for f in sorted(latest.values(), key=lambda f: f.when, reverse=True)[:WORST]:
        when = f.when.strftime("%Y-%m-%d %H:%M")
        rows.append(f"| {_cell(f.blob)} | {f.error_type} | {when} | {_cell(f.message[:160])} |")
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# --- the report ------------------------------------------------------------------------------
def _charts(
    out_dir: Path,
    items: Sequence[ItemFacts],
    failures: Sequence[FailureFacts],
    materializations: Sequence[Materialization],
) -> dict[str, Path]:
    # matplotlib is imported here, not at module level: every Dagster process loads this module
    # with the code location, and only the quality report draws.
    from geo_platform.lib.quality import charts as report_charts

    times, counts, sizes = published_series(items)
    scores = [float(i.completeness) for i in items if i.completeness is not None]
    drawn = {
        "items_over_time": report_charts.cumulative_over_time(
            out_dir / "items_over_time.png", times, counts, sizes, "Published items and size"
        ),
        "materializations": report_charts.stacked_over_time(
            out_dir / "materializations.png",
            [(m.when, m.asset) for m in materializations],
            "Materializations",
            "partitions",
        ),
        "failures": report_charts.horizontal_bars(
            out_dir / "failures.png",
            dict(Counter(f.error_type for f in failures)),
            "Failed files by reason",
            "files",
        ),
        "completeness": report_charts.histogram(
            out_dir / "completeness.png", scores, "Metadata completeness", range(0, 101, 10)
        ),
    }
    return {k: v for k, v in drawn.items() if v is not None}


def build_report(
    out_dir: Path,
    items: Sequence[ItemFacts],
    failures: Sequence[FailureFacts] = (),
    materializations: Sequence[Materialization] = (),
    *,
    generated_at: datetime | None = None,
    title: str = "Quality report",
) -> Report:
    """Write the PNG charts into ``out_dir`` and return the Markdown (linking them by file
    name), the chart paths and a numeric summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    charts = _charts(out_dir, items, failures, materializations)
    scores = [i.completeness for i in items if i.completeness is not None]
    reasons = Counter(f.error_type for f in failures)
    summary: dict[str, float | int] = {
        "items": len(items),
        "collections": len({i.collection for i in items}),
        "duplicates": sum(1 for i in items if i.duplicate_of),
        "bytes": sum(i.size_bytes for i in items),
        "failed_files": len({f.blob for f in failures}),
        "completeness_mean": round(sum(scores) / len(scores), 2) if scores else 0.0,
        "completeness_min": min(scores) if scores else 0,
    }
    lines = [f"# {title}", "", f"Generated {when}.", "", "## Platform", ""]
    lines += [f"- **{k.replace('_', ' ')}**: {v}" for k, v in summary.items()]
    lines += ["", "## Collections", "", *_collection_rows(items, failures), ""]
    lines += _chart_section(charts, sum(1 for i in items if i.published is None))
    lines += ["## Failures by reason", ""]
    lines += [f"- {r}: {n} file(s)" for r, n in reasons.most_common()] or ["- none"]
    lines += ["", "### Most recent failed files", "", *_failure_rows(failures), ""]
    lines += ["## Worst offenders (metadata completeness)", "", *_worst_rows(items), ""]
    return Report("\n".join(lines), charts, summary)


def _chart_section(charts: dict[str, Path], unpublished_time: int) -> list[str]:
    titles = {
        "items_over_time": "Items and size by publication time",
        "materializations": "Materializations over time",
        "failures": "Failures by reason",
        "completeness": "Completeness distribution",
    }
    out = ["## Charts", ""]
    for name, path in charts.items():
        out += [f"![{titles.get(name, name)}]({path.name})", ""]
        if name == "items_over_time" and unpublished_time:
            out += [f"{unpublished_time} item(s) record no publication time and are not drawn.", ""]
    return out


def embed_charts(markdown: str, charts: Iterable[Path]) -> str:
    """The Markdown with chart links replaced by base64 data URIs (for the Dagster UI)."""
    for path in charts:
        data = base64.b64encode(path.read_bytes()).decode()
        markdown = markdown.replace(f"]({path.name})", f"](data:image/png;base64,{data})")
    return markdown
