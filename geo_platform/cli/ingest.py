"""`geo-platform ingest`: upload files or folders into bronze and, with --wait, publish them.

The work is ``geo_platform.app.ingest``; this command prints a table (or JSON) per file.
Statuses: uploaded, published, partial (some layers of the file refused, each named with its
error in ``failed_layers``; the others published), skipped (a file found in a folder given that
the platform does not publish, or a sidecar), failed (also a file given by name that the
platform does not publish). Exit code 1 when any file failed or is partial (not everything
given was published), else 0.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from geo_platform.cli.common import json_errors, load_definitions_frozen, progress_bar

if TYPE_CHECKING:
    from geo_platform.app.ingest import FileResult


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--prefix", default="", help="Folder in the bronze container to upload under.")
@click.option("--wait", is_flag=True, help="Publish the files now and report per file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file.")
def ingest(paths: tuple[Path, ...], prefix: str, wait: bool, as_json: bool) -> None:
    """Upload files or folders into bronze (names kept under PREFIX)."""
    from geo_platform.app.ingest import run_ingest  # imports dagster: only when used

    if wait:
        load_definitions_frozen()
    with json_errors(as_json):  # a wrong key, a missing container: one line (or JSON)
        results = run_ingest(list(paths), prefix, wait, track=None if as_json else progress_bar)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in results], indent=2, ensure_ascii=False))
    elif not results:  # empty folders: say so rather than print an empty table
        click.echo(f"No files to ingest in {', '.join(map(str, paths))}.", err=True)
    else:
        _print_results(results)
    sys.exit(exit_code(results))


def exit_code(results: list[FileResult]) -> int:
    """1 when some file failed or is partial (a layer of it was refused), else 0."""
    return 1 if any(r.status in ("failed", "partial") for r in results) else 0


def details(r: FileResult) -> str:
    """The table's details of a file: its error, or its items and tables (and failed layers)."""
    if r.error:
        return r.error
    out = ", ".join([*(f"{i['collection']}/{i['id']}" for i in r.stac_items), *r.tables])
    if r.duplicate_of:  # built again (duplicates=publish), or pointer items only (link)
        built = r.tables or any(not b.endswith(".json") for b in r.blobs)
        out += (
            f" (same content as {r.duplicate_of})"
            if built
            else f" (duplicate of {r.duplicate_of}: its items point at that file's outputs)"
        )
    failed = [f"layer {name!r} failed: {why}" for name, why in r.failed_layers.items()]
    return "\n".join([out, *failed]) if failed else out


def _print_results(results: list[FileResult]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="ingest")
    for col in ("blob", "status", "details"):
        table.add_column(col, overflow="fold")
    for r in results:
        style = {"failed": "red", "published": "green", "skipped": "yellow",
                 "partial": "dark_orange"}.get(r.status)  # fmt: skip
        table.add_row(r.blob, f"[{style}]{r.status}[/]" if style else r.status, escape(details(r)))
    Console().print(table)
