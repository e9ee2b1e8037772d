"""`geo-platform promote` and `geo-platform demote`: run the promotion jobs now, in process.

The jobs run on the configured Dagster instance (like ``ingest --wait``), so each promotion is
a run in the UI with its config, logs and report. Dry run unless ``--apply`` is given. Output
is the job's report (hrefs and URLs without credentials); ``--json`` prints it as JSON.

Register in ``cli.py``: ``main.add_command(promote)`` and ``main.add_command(demote)``.
Standalone: ``python -m geo_platform.cli.promotion promote COLLECTION``.
"""

from __future__ import annotations

import getpass
import json
import sys
from typing import Any

import click

from geo_platform.settings import load_settings


def _job(name: str) -> Any:
    """The job from the code location, or (not registered yet) with resources from settings."""
    import dagster as dg

    from geo_platform.definitions import build_resources, defs
    from geo_platform.defs.promotion import PROMOTION_JOBS, promotion_resource

    try:
        return defs.resolve_job_def(name)
    except (dg.DagsterInvariantViolationError, KeyError, ValueError):
        settings = load_settings()
        resources = {**build_resources(settings), "promotion": promotion_resource(settings)}
        local = dg.Definitions(jobs=PROMOTION_JOBS, resources=resources)
        return local.resolve_job_def(name)


def run_job(job_name: str, op: str, collection: str, items: list[str], apply: bool) -> dict:
    """Execute ``job_name`` in process; the report, or ``{"error": ...}`` when it failed."""
    import dagster as dg

    from geo_platform.app.ingest import QUIET
    from geo_platform.cli.main import dagster_env
    from geo_platform.defs.promotion import run_config
    from geo_platform.defs.promotion.ops import REQUESTED_BY_TAG

    dagster_env(load_settings())
    instance = dg.DagsterInstance.get()
    result = _job(job_name).execute_in_process(
        # The run logs to the instance (the UI) as usual; the terminal gets the report.
        run_config={**run_config(op, collection, items, dry_run=not apply), **QUIET},
        instance=instance,
        tags={REQUESTED_BY_TAG: f"cli:{getpass.getuser()}"},
        raise_on_error=False,
    )
    if result.success:
        report: dict = result.output_for_node(op)
        return {"run_id": result.run_id, **report}
    failure = result.get_step_failure_events()
    message = "run failed"
    if failure and failure[0].step_failure_data.user_failure_data is not None:
        message = failure[0].step_failure_data.user_failure_data.description or message
    elif failure and failure[0].step_failure_data.error is not None:
        message = failure[0].step_failure_data.error.message.strip().splitlines()[-1]
    return {"run_id": result.run_id, "error": message}


def _items(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for raw in values for v in raw.split(",") if v.strip()]


def _emit(report: dict, as_json: bool) -> None:
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
    """Promotion commands (standalone entry until they are registered in the main CLI)."""


promotion_main.add_command(promote)
promotion_main.add_command(demote)

if __name__ == "__main__":  # pragma: no cover
    promotion_main()
