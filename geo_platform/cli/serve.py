"""`geo-platform serve`: start, stop or inspect the STAC API, the tiler and OGC API Features.

Registered in ``geo_platform.cli.main`` with ``main.add_command(serve)``. Never imports dagster.
"""

from __future__ import annotations

import json
from typing import Any

import click

from geo_platform.lib.errors import GeoPlatformError
from geo_platform.settings import load_settings

_DESCRIPTIONS = {
    "stac": "STAC API (stac-fastapi-pgstac)",
    "tiles": "tiles (titiler-pgstac)",
    "features": "OGC API Features (tipg)",
}


@click.group(invoke_without_command=True)
@click.option("--stop", "do_stop", is_flag=True, help="Stop the servers started by `serve`.")
@click.option("--status", "do_status", is_flag=True, help="Only show what runs where.")
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(["stac", "tiles", "features"]),
    help="Limit to these servers (repeatable; default: all three).",
)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for health.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def serve(
    ctx: click.Context,
    do_stop: bool,
    do_status: bool,
    only: tuple[str, ...],
    timeout: float,
    as_json: bool,
) -> None:
    """Serve published data on loopback: STAC API, tiles and OGC API Features.

    Starting is idempotent (servers already up are left alone). Ports come from
    GEO_PLATFORM_STAC_PORT, GEO_PLATFORM_TILER_PORT and GEO_PLATFORM_FEATURES_PORT; pid files
    and logs are in $GEO_PLATFORM_STATE_DIR/serve.
    """
    if ctx.invoked_subcommand is not None:
        return
    from geo_platform.app import serve as srv

    settings = load_settings()
    names = list(only) or None
    if do_stop and do_status:
        raise click.UsageError("--stop and --status cannot be combined")
    if do_stop:
        stopped = srv.stop(settings, names)
        _print({"stopped": stopped, **srv.status(settings)}, as_json)
        return
    if do_status:
        _print(srv.status(settings), as_json)
        return
    try:
        state = srv.start(settings, names, timeout=timeout)
    except GeoPlatformError as exc:
        raise click.ClickException(str(exc)) from exc
    _print(state, as_json)


def _print(state: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(state, indent=2, default=str))
        return
    if "stopped" in state:
        stopped = [name for name, was in state["stopped"].items() if was]
        click.echo(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    for name, label in _DESCRIPTIONS.items():
        info = state.get(name)
        if not info:
            continue
        mark = "up  " if info["running"] else "down"
        click.echo(f"{name:<9} {mark} {info['url']:<24} {label}; docs {info['docs']}")
