"""`geo-platform promote` and `geo-platform demote`: run the promotion jobs now, in process.

The work is ``geo_platform.app.promotion``: each promotion is a run in the UI with its config,
logs and report. Dry run unless ``--apply`` is given. Output is the job's report (hrefs and
URLs without credentials); ``--json`` prints it as JSON.

Registered in ``geo_platform.cli.main``. Standalone:
``python -m geo_platform.cli.promotion promote COLLECTION``.
"""

from __future__ import annotations

import json
import sys

import click

from geo_platform.app.lifecycle import run_failure_message
from geo_platform.app.promotion import run_job
from geo_platform.cli.common import require_catalog


def _items(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for raw in values for v in raw.split(",") if v.strip()]


def _emit(report: dict, as_json: bool) -> None:
    if "error" in report and report.get("run_id"):  # the error retried, not "Exceeded max_..."
        report["error"] = run_failure_message(report["run_id"]) or report["error"]
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    elif "error" in report:
        click.echo(f"failed (run {report['run_id']}): {report['error']}", err=True)
    else:
        from geo_platform.defs.promotion.ops import report_lines

        for line in report_lines(report):
            click.echo(line)
        if report["dry_run"]:
            click.echo("dry run: nothing was changed (add --apply to do it)")
        click.echo(f"run {report['run_id']}")
    if "error" in report:
        sys.exit(1)


@click.command()
@click.argument("collection")
@click.option("--items", multiple=True, help="Only these item ids (repeat or comma-separate).")
@click.option("--apply", is_flag=True, help="Really promote (default: dry run).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def promote(collection: str, items: tuple[str, ...], apply: bool, as_json: bool) -> None:
    """Copy dataset COLLECTION from staging to production (dry run unless --apply)."""
    require_catalog(as_json)
    _emit(run_job("promote_job", "promote_dataset", collection, _items(items), apply), as_json)


@click.command()
@click.argument("collection")
@click.option("--items", multiple=True, help="Only these item ids (repeat or comma-separate).")
@click.option("--apply", is_flag=True, help="Really remove (default: dry run).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def demote(collection: str, items: tuple[str, ...], apply: bool, as_json: bool) -> None:
    """Remove dataset COLLECTION (or some items) from production only (dry run unless --apply)."""
    _emit(run_job("demote_job", "demote_dataset", collection, _items(items), apply), as_json)


@click.group()
def promotion_main() -> None:
    """Promotion commands (standalone entry; the same commands are in `geo-platform`)."""


promotion_main.add_command(promote)
promotion_main.add_command(demote)

if __name__ == "__main__":  # pragma: no cover
    promotion_main()
