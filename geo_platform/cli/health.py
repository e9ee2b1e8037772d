"""``geo-platform health [--json] [--skip NAME]``: one table; exit 0 healthy, 1 services down,
2 services up but no daemon running (or a sensor stopped or failing).

Registered in ``geo_platform.cli.main`` with ``main.add_command(health)``.
"""

from __future__ import annotations

import json
import sys

import click

from geo_platform.settings import load_settings


@click.command("health")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option(
    "--skip",
    multiple=True,
    metavar="NAME",
    help="Skip a check (daemon, sensors, sensor:<name>, dagster, blob:<container>...); "
    "shown as skipped, never as passed.",
)
def health(as_json: bool, skip: tuple[str, ...]) -> None:
    """Check the database, PostGIS/pgstac, both blob containers, Dagster storage, the daemon
    and the sensors. Exit status 0 when healthy, 1 when a service is down or broken, 2 when
    the services are up but no daemon runs or a sensor is stopped or failing."""
    from geo_platform.app.health import check_all, exit_code, healthy

    checks = check_all(load_settings(), skip=skip)
    ok = healthy(checks)
    if as_json:
        click.echo(json.dumps({"healthy": ok, "checks": [c.as_dict() for c in checks]}, indent=2))
    else:
        _print_table(checks, ok)
    sys.exit(exit_code(checks))


def _print_table(checks: list, ok: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="geo_platform health")
    for col in ("check", "status", "details"):
        table.add_column(col, overflow="fold")
    styles = {"ok": "green", "FAIL": "bold red", "skipped": "yellow"}
    for c in checks:
        table.add_row(c.name, f"[{styles[c.status]}]{c.status}[/]", c.detail)
    console = Console()
    console.print(table)
    console.print("[green]healthy[/]" if ok else "[bold red]unhealthy[/]")
