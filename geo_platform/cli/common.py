"""What several command modules share: printing JSON (and errors as JSON) and a progress bar."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import click

T = TypeVar("T")


def echo_json(value: Any) -> None:
    """``value`` as indented JSON on stdout (dates and paths as strings)."""
    click.echo(json.dumps(value, indent=2, default=str))


def fail(message: str, as_json: bool) -> NoReturn:
    """Exit 1 with ``message``: one "Error: ..." line on stderr, or with ``--json`` the object
    ``{"error": message}`` on stdout (a caller parsing the output gets JSON, not a traceback)."""
    if as_json:
        echo_json({"error": message})
        sys.exit(1)
    raise click.ClickException(message)


@contextmanager
def json_errors(as_json: bool) -> Iterator[None]:
    """Platform errors (bad configuration, credentials refused, a service unreachable) inside
    the block end the command through ``fail``; without ``--json`` the group prints them."""
    from geo_platform.lib.errors import GeoPlatformError

    try:
        yield
    except GeoPlatformError as exc:
        if not as_json:
            raise
        fail(str(exc), as_json)


def require_catalog(as_json: bool) -> None:
    """Stop at once, as ``unpublish`` does, when the platform database cannot be reached."""
    from geo_platform.app.lifecycle import catalog_problem

    problem = catalog_problem()
    if problem:
        fail(problem, as_json)


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
