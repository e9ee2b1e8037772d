"""PNG charts for the quality report (matplotlib, Agg backend: no display needed).

Small figures (about 20-40 KB each) so the report can embed them in the Dagster UI. Every
function writes one PNG and returns its path, or None when there is nothing to draw (an empty
chart says less than no chart).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.dates import date2num

FIGSIZE = (7.0, 3.2)
DPI = 80


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=DPI)
    plt.close(fig)
    return path


def cumulative_over_time(
    path: Path, days: Sequence[date], counts: Sequence[int], sizes_mb: Sequence[float], title: str
) -> Path | None:
    """Items published so far (line) and their size in MB (second axis), by day."""
    if not days:
        return None
    fig, ax = plt.subplots(figsize=FIGSIZE)
    x = [float(date2num(d)) for d in days]
    ax.step(x, list(counts), where="post", color="tab:blue", label="items")
    ax.set_ylabel("items", color="tab:blue")
    ax2 = ax.twinx()
    ax2.step(x, list(sizes_mb), where="post", color="tab:orange", label="MB")
    ax2.set_ylabel("MB", color="tab:orange")
    ax.set_title(title)
    ax.xaxis_date()
    fig.autofmt_xdate()
    return _save(fig, path)


def stacked_per_day(
    path: Path, per_day: Mapping[date, Mapping[str, int]], title: str, ylabel: str
) -> Path | None:
    """Stacked bars per day, one colour per series (e.g. materializations per asset)."""
    if not per_day:
        return None
    days = sorted(per_day)
    x = [float(date2num(d)) for d in days]
    series = sorted({s for d in days for s in per_day[d]})
    fig, ax = plt.subplots(figsize=FIGSIZE)
    bottom = [0] * len(days)
    for name in series:
        values = [per_day[d].get(name, 0) for d in days]
        ax.bar(x, values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, loc="upper left")
    ax.xaxis_date()
    fig.autofmt_xdate()
    return _save(fig, path)


def horizontal_bars(
    path: Path, values: Mapping[str, float], title: str, xlabel: str, limit: int = 15
) -> Path | None:
    """Largest ``limit`` values as horizontal bars, largest on top."""
    if not values:
        return None
    top = sorted(values.items(), key=lambda kv: kv[1], reverse=True)[:limit]
    labels = [k if len(k) <= 40 else k[:37] + "..." for k, _ in top][::-1]
    fig, ax = plt.subplots(figsize=(FIGSIZE[0], max(2.0, 0.35 * len(top) + 1.0)))
    ax.barh(labels, [v for _, v in top][::-1], color="tab:red" if "fail" in title else None)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return _save(fig, path)


def histogram(
    path: Path, scores: Sequence[float], title: str, bins: Sequence[float]
) -> Path | None:
    """Distribution of scores (completeness 0-100)."""
    if not scores:
        return None
    fig, ax = plt.subplots(figsize=FIGSIZE)
    ax.hist(list(scores), bins=list(bins), color="tab:green", edgecolor="white")
    ax.set_title(title)
    ax.set_xlabel("score")
    ax.set_ylabel("items")
    return _save(fig, path)
