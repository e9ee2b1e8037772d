"""`geo-platform services up|down|status|reset`: the local PostgreSQL, PgBouncer and Azurite.

The work is ``geo_platform.services`` (and ``services.reset``); these commands print it.
"""

from __future__ import annotations

from typing import Any

import click

from geo_platform.cli.common import echo_json
from geo_platform.lib.errors import ConfigError
from geo_platform.settings import load_settings

# ``geo_platform.services`` (psycopg, the Azure SDK) is imported by the commands that use it:
# every `geo-platform` command imports this module.


@click.group()
def services() -> None:
    """Start, stop and inspect the local services (PostgreSQL/PostGIS/pgstac, Azurite)."""


@services.command("up")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def services_up(as_json: bool) -> None:
    """Start the local services (idempotent: starting twice is harmless) and write the Dagster
    instance's variables to the checkout's .env (for plain `dagster ...` / `dg ...` commands)."""
    from geo_platform import services as svc
    from geo_platform.app.instance import write_dotenv

    settings = load_settings()
    svc.up(settings)
    state = svc.status(settings)
    state["dotenv"] = str(write_dotenv(settings))
    _print_status(state, as_json)


@services.command("down")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def services_down(as_json: bool) -> None:
    """Stop the local services started by `services up` (data is kept)."""
    from geo_platform import services as svc

    state = svc.down(load_settings())
    if as_json:
        echo_json(state)
        return
    stopped = [name for name, was in state.pop("stopped").items() if was]
    click.echo(f"{'stopped':<10} {', '.join(stopped) or 'nothing was running'}")
    _print_status(state, as_json)


@services.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def services_status(as_json: bool) -> None:
    """What runs where (the database URL is shown without its password)."""
    from geo_platform import services as svc

    _print_status(svc.status(load_settings()), as_json)


@services.command("reset")
@click.option("--yes", is_flag=True, help="Really wipe the local databases and blob folder.")
def reset_command(yes: bool) -> None:
    """Wipe local state for a clean start: platform database (PostGIS tables, pgstac), Dagster
    storage, local blob root. Refuses without --yes, with an external database, or on Azure."""
    from geo_platform.services.reset import reset

    settings = load_settings()
    try:
        summary = reset(settings, yes)
    except ConfigError as exc:
        raise click.ClickException(exc.message) from exc
    for key, value in summary.items():
        click.echo(f"{key}: {value}")


def _print_status(status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(status)
        return
    for name, value in status.items():
        if isinstance(value, dict):
            state = value.get("running")
            mark = "" if state is None else ("up   " if state else "down ")
            details = ", ".join(f"{k}={v}" for k, v in value.items() if k != "running")
            click.echo(f"{name:<10} {mark}{details}")
        else:
            click.echo(f"{name:<10} {value}")
