"""`geo-platform demo`: sample data into bronze, the whole pipeline, a readable summary.

The work is ``geo_platform.app.demo``; this command prints its summary.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from geo_platform.cli.common import echo_json, progress_bar


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--sample-data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the real sample files (default: GEO_PLATFORM_SAMPLE_DATA, else "
    "../shared/testdata beside the checkout).",
)
def demo(as_json: bool, sample_data: Path | None) -> None:
    """Put sample data into bronze and run the whole pipeline, then print a summary."""
    from geo_platform.app.demo import run_demo

    summary = run_demo(track=None if as_json else progress_bar, sample_data=sample_data)
    if as_json:
        echo_json(summary)
    else:
        print_summary(summary)
    if summary.get("unexpected_failures"):
        sys.exit(1)


def print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from geo_platform.app.demo import EXPECTED_FAILURES

    console = Console()
    samples = summary["sample_data"]
    if samples["found"]:
        console.print(f"real sample files: {len(samples['found'])} from {samples['dir']}")
    else:
        where = "is empty" if samples["exists"] else "does not exist"
        console.print(
            f"[bold yellow]No real sample data: {samples['dir']} {where}[/]; only the synthetic "
            "files were published. Point GEO_PLATFORM_SAMPLE_DATA (or --sample-data) at a copy "
            "of the shared test data for the real ones."
        )
    table = Table(title="geo_platform demo")
    for col in ("bronze blob", "status", "published as / error"):
        table.add_column(col, overflow="fold")
    for r in summary["files"]:
        outputs = [f"{i['collection']}/{i['id']}" for i in r["stac_items"]] + r["tables"]
        expected = " (expected: broken on purpose)" if r["blob"] in EXPECTED_FAILURES else ""
        table.add_row(r["blob"], r["status"], (r["error"] or ", ".join(outputs)) + expected)
    console.print(table)
    console.print(
        f"published {summary['published']}, failed {summary['failed']}, "
        f"skipped {summary['skipped']}; unexpected failures: {len(summary['unexpected_failures'])}"
    )
    console.print(f"Dagster UI (run `make dev`): {summary['dagster_ui']}")
    console.print(f"Database: {summary['database']}")
