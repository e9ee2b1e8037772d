"""What several command modules share: printing JSON and a progress bar."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import click

T = TypeVar("T")


def echo_json(value: Any) -> None:
    """``value`` as indented JSON on stdout (dates and paths as strings)."""
    click.echo(json.dumps(value, indent=2, default=str))


def progress_bar(items: Iterable[T], total: int, label: str) -> Iterator[T]:
    """Yield ``items`` while a transient progress bar counts them (none for fewer than two);
    an ``app.ingest.Track``."""
    if total < 2:
        yield from items
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        for item in items:
            yield item
            bar.advance(task)


def load_definitions_frozen() -> None:
    """Load the Dagster definitions now and keep them out of the garbage collector's full
    passes: they live as long as the command, and walking them was a third of the collector's
    time during an ingest run. (Called by commands that run jobs in this process.)"""
    import geo_platform.definitions  # noqa: F401

    gc.freeze()
