"""`geo-platform serve`: start, stop or inspect the STAC API, the tiler and OGC API Features.

Registered in ``geo_platform.cli.main`` with ``main.add_command(serve)``. Never imports dagster.
"""

from __future__ import annotations

import json
from typing import Any

import click

from geo_platform.lib.errors import GeoPlatformError
from geo_platform.settings import Settings, load_settings, redact_url

_DESCRIPTIONS = {
    "stac": "STAC API (stac-fastapi-pgstac)",
    "tiles": "tiles (titiler-pgstac)",
    "features": "OGC API Features (tipg)",
    "files": "silver blobs over HTTP (asset hrefs)",
}


@click.group(invoke_without_command=True)
@click.option("--stop", "do_stop", is_flag=True, help="Stop the servers started by `serve`.")
@click.option("--status", "do_status", is_flag=True, help="Only show what runs where.")
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(["stac", "tiles", "features", "files"]),
    help="Limit to these servers (repeatable; default: all).",
)
@click.option(
    "--target",
    type=click.Choice(["staging", "production"]),
    default="staging",
    show_default=True,
    help="Which database and silver container to serve (always as the reader role).",
)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for health.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def serve(
    ctx: click.Context,
    do_stop: bool,
    do_status: bool,
    only: tuple[str, ...],
    target: str,
    timeout: float,
    as_json: bool,
) -> None:
    """Serve published data on loopback: STAC API, tiles, OGC API Features and (local blob
    backend) the silver files the asset hrefs point at.

    Every server connects as the reader role (GEO_PLATFORM_READER_ROLE, default geo_reader) to
    the staging or production database. Starting is idempotent (servers already up for the same
    target are left alone). Ports come from GEO_PLATFORM_STAC_PORT, GEO_PLATFORM_TILER_PORT,
    GEO_PLATFORM_FEATURES_PORT and GEO_PLATFORM_FILES_PORT; pid files and logs are in
    $GEO_PLATFORM_STATE_DIR/serve.
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
    if set(names or srv.SERVERS) - {"files"}:
        _check_database(settings, target)
    try:
        state = srv.start(settings, names, timeout=timeout, target=target)
    except GeoPlatformError as exc:
        raise click.ClickException(str(exc)) from exc
    _print(state, as_json)


def _check_database(settings: Settings, target: str) -> None:
    """Connect as the reader role first: a database that is down is one line naming it (without
    its password), not a server's traceback."""
    import psycopg

    url = settings.role_url("reader", target)
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        reason = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        variable = "PRODUCTION_DATABASE_URL" if target == "production" else "DATABASE_URL"
        raise click.ClickException(
            f"cannot connect to the {target} database {redact_url(url)} as "
            f"{settings.reader_role}: {reason}; start it (`geo-platform services up` locally) or "
            f"point GEO_PLATFORM_{variable} at a running server"
        ) from None


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
        where = f" [{info['target']} as {info['role']}]" if info.get("target") else ""
        docs = f"; docs {info['docs']}" if info.get("docs") else ""
        click.echo(f"{name:<9} {mark} {info['url']:<24} {label}{docs}{where}")


@click.command("rebase-hrefs")
@click.option("--apply", is_flag=True, help="Rewrite (default: only list what would change).")
@click.option(
    "--target",
    type=click.Choice(["staging", "production", "both"]),
    default="both",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def rebase_hrefs(apply: bool, target: str, as_json: bool) -> None:
    """Point published asset hrefs at the current public base URL (GEO_PLATFORM_PUBLIC_BASE_URL,
    the local files server, or the storage account): run it after changing that setting."""
    from geo_platform.app.hrefs import rebase_hrefs as run

    targets = ("staging", "production") if target == "both" else (target,)
    report = run(load_settings(), apply=apply, targets=targets)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    verb = "rewrote" if apply else "would rewrite"
    for name, r in report.items():
        click.echo(
            f"{name}: {verb} {r['hrefs']} href(s) in {len(r['items'])} of {r['items_seen']} "
            f"item(s) and {len(r['collections'])} collection(s) -> {r['base']}"
        )
        for old, new in r["prefixes"].items():
            click.echo(f"  {old} -> {new}")
        if r["blobs_rewritten"]:
            click.echo(f"  silver documents rewritten: {len(r['blobs_rewritten'])}")
    if not apply and any(r["hrefs"] for r in report.values()):
        click.echo("dry run: add --apply to rewrite")
