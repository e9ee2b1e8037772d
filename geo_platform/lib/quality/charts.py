"""PNG charts for the quality report (matplotlib, Agg backend: no display needed).

Charts a person can trust:

- time axes are *publication* time (when the platform published or materialized something),
  never the STAC ``datetime`` of the data: an item of data dated 2022 published today is today;
- every series is visible: each quantity has its own panel (items and MB do not share an axis
  where one hides the other);
- labels match the scale: the tick locator and formatter follow the span shown (hours for a
  day, dates for weeks), and bars are binned per hour or per day to match, said in the title.

Small figures (about 20-50 KB each) so the report can embed them in the Dagster UI. Each chart
has a ``*_figure`` function that returns the figure (what tests inspect) and a function that
writes the PNG and returns its path, or None when there is nothing to draw (an empty chart says
less than no chart).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

FIGSIZE = (7.0, 3.2)
DPI = 80
HOURLY_UP_TO = timedelta(days=2)  # activity spanning less than this is binned per hour
MIN_SPAN = timedelta(hours=2)  # a time axis never spans less (one event is not a point)


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, format="png", dpi=DPI)
    plt.close(fig)
    return path


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _time_axis(ax: plt.Axes, start: datetime, end: datetime) -> None:
    """Limits from ``start`` to ``end`` (padded, at least ``MIN_SPAN``), with ticks and labels
    chosen for that span: hours within a day, days within weeks, months beyond."""
    span = max(end - start, MIN_SPAN)
    pad = span * 0.05
    middle = start + (end - start) / 2
    lo, hi = middle - span / 2 - pad, middle + span / 2 + pad
    locator = AutoDateLocator(tz=UTC, minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=UTC, show_offset=True))
    ax.set_xlim(float(date2num(lo)), float(date2num(hi)))


def published_figure(
    times: Sequence[datetime], counts: Sequence[int], sizes_mb: Sequence[float], title: str
) -> Figure:
    """Items published so far and their size in MB, by publication time: two panels (one
    quantity each, neither hides the other) over one time axis."""
    when = [_utc(t) for t in times]
    x = [float(date2num(t)) for t in when]
    fig, (top, bottom) = plt.subplots(
        2, 1, sharex=True, figsize=(FIGSIZE[0], FIGSIZE[1] * 1.4), layout="constrained"
    )
    # Each step holds its value up to the right edge of the axis: extend the last value.
    end = when[-1] + max(when[-1] - when[0], MIN_SPAN) * 0.05
    xs = [*x, float(date2num(end))]
    top.step(xs, [*counts, counts[-1]], where="post", color="tab:blue", linewidth=2)
    top.set_ylabel("items")
    top.set_ylim(0, max(counts) * 1.15 + 0.5)
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.step(xs, [*sizes_mb, sizes_mb[-1]], where="post", color="tab:orange", linewidth=2)
    top.plot(x, list(counts), "o", color="tab:blue", markersize=3)  # each publication
    bottom.plot(x, list(sizes_mb), "o", color="tab:orange", markersize=3)
    bottom.set_ylabel("MB")
    bottom.set_ylim(0, max(sizes_mb) * 1.15 or 1.0)
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    top.set_title(title)
    bottom.set_xlabel("publication time (UTC)")
    _time_axis(bottom, when[0], when[-1])
    return fig


def cumulative_over_time(
    path: Path,
    times: Sequence[datetime],
    counts: Sequence[int],
    sizes_mb: Sequence[float],
    title: str,
) -> Path | None:
    """Write ``published_figure`` (None when nothing was published)."""
    if not times:
        return None
    return _save(published_figure(times, counts, sizes_mb, title), path)


@dataclass(frozen=True)
class Binned:
    """Events counted per series in bins of one hour or one day."""

    unit: str  # "hour" | "day"
    starts: list[datetime]  # the start of each bin, in order
    counts: dict[str, list[int]]  # series -> count per bin


def bin_events(events: Sequence[tuple[datetime, str]]) -> Binned:
    """Per hour when the events span less than ``HOURLY_UP_TO``, else per day; every bin from
    the first to the last is present (an empty hour is a zero, not a gap)."""
    when = sorted(_utc(t) for t, _ in events)
    hourly = when[-1] - when[0] < HOURLY_UP_TO
    step = timedelta(hours=1) if hourly else timedelta(days=1)

    def floor(t: datetime) -> datetime:
        t = _utc(t).replace(minute=0, second=0, microsecond=0)
        return t if hourly else t.replace(hour=0)

    per_bin: dict[datetime, Counter[str]] = {}
    for t, name in events:
        per_bin.setdefault(floor(t), Counter())[name] += 1
    starts, t = [], floor(when[0])
    while t <= floor(when[-1]):
        starts.append(t)
        t += step
    series = sorted({name for _, name in events})
    counts = {s: [per_bin.get(b, Counter())[s] for b in starts] for s in series}
    return Binned("hour" if hourly else "day", starts, counts)


def activity_figure(events: Sequence[tuple[datetime, str]], what: str, ylabel: str) -> Figure:
    """Stacked bars of ``events`` (time, series) per hour or per day, the unit in the title:
    "<what> per hour" / "<what> per day"."""
    binned = bin_events(events)
    width = timedelta(hours=1) if binned.unit == "hour" else timedelta(days=1)
    x = [float(date2num(s)) for s in binned.starts]
    fig, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    bottom = [0] * len(x)
    for name, values in binned.counts.items():
        ax.bar(x, values, width=0.9 * width.total_seconds() / 86400, bottom=bottom,
               align="edge", label=name)  # fmt: skip
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_title(f"{what} per {binned.unit}")
    ax.set_ylabel(ylabel)
    ax.set_xlabel(f"{binned.unit} (UTC)")
    ax.set_ylim(0, max(bottom) * 1.3 + 0.5)  # room for the legend above the bars
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7, loc="upper left", ncols=min(4, len(binned.counts)))
    ax.grid(True, axis="y", alpha=0.3)
    _time_axis(ax, binned.starts[0], binned.starts[-1] + width)
    return fig


def stacked_over_time(
    path: Path, events: Sequence[tuple[datetime, str]], what: str, ylabel: str
) -> Path | None:
    """Write ``activity_figure`` (None when there are no events)."""
    if not events:
        return None
    return _save(activity_figure(events, what, ylabel), path)


def horizontal_bars(
    path: Path, values: Mapping[str, float], title: str, xlabel: str, limit: int = 15
) -> Path | None:
    """Largest ``limit`` values as horizontal bars, largest on top, each labelled."""
    if not values:
        return None
    top = sorted(values.items(), key=lambda kv: kv[1], reverse=True)[:limit]
    labels = [k if len(k) <= 40 else k[:37] + "..." for k, _ in top][::-1]
    fig, ax = plt.subplots(
        figsize=(FIGSIZE[0], max(2.0, 0.35 * len(top) + 1.0)), layout="constrained"
    )
    bars = ax.barh(labels, [v for _, v in top][::-1], color="tab:red" if "fail" in title else None)
    ax.bar_label(bars, fmt="%g", padding=2, fontsize=8)
    ax.set_xlim(0, max(v for _, v in top) * 1.15)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return _save(fig, path)


def histogram(
    path: Path, scores: Sequence[float], title: str, bins: Sequence[float]
) -> Path | None:
    """Distribution of scores (completeness 0-100)."""
    if not scores:
        return None
    fig, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    ax.hist(list(scores), bins=list(bins), color="tab:green", edgecolor="white")
    ax.set_xlim(bins[0], bins[-1])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.set_xlabel("score")
    ax.set_ylabel("items")
    return _save(fig, path)
