"""The `geo-platform` command line: services, ingest, demo (and more as the platform grows)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from geo_platform.settings import Settings, load_settings


def dagster_env(settings: Settings) -> None:
    """Point Dagster at the platform's instance (DAGSTER_HOME and its PostgreSQL storage)."""
    from geo_platform import services as svc

    svc.ensure_dagster_home(settings)
    for key, value in svc.dagster_env(settings).items():
        os.environ.setdefault(key, value)


class _Group(click.Group):
    """Platform errors (bad input, config, unreachable services) print as one clear line."""

    def invoke(self, ctx: click.Context) -> Any:
        from geo_platform.lib.errors import GeoPlatformError

        try:
            return super().invoke(ctx)
        except GeoPlatformError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group)
def main() -> None:
    """geo_platform: bronze geodata in, COGs, PostGIS tables and STAC items out."""


# --- services --------------------------------------------------------------------------------
@main.group()
def services() -> None:
    """Start, stop and inspect the local services (PostgreSQL/PostGIS/pgstac, Azurite)."""


@services.command("up")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def services_up(as_json: bool) -> None:
    """Start the local services (idempotent: starting twice is harmless)."""
    from geo_platform import services as svc

    settings = load_settings()
    svc.up(settings)
    _print_status(svc.status(settings), as_json)


@services.command("down")
def services_down() -> None:
    """Stop the local services started by `services up` (data is kept)."""
    from geo_platform import services as svc

    click.echo(json.dumps(svc.down(load_settings()), indent=2, default=str))


@services.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def services_status(as_json: bool) -> None:
    """What runs where (the database URL is shown without its password)."""
    from geo_platform import services as svc

    _print_status(svc.status(load_settings()), as_json)


def _print_status(status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(status, indent=2, default=str))
        return
    for name, value in status.items():
        if isinstance(value, dict):
            state = value.get("running")
            mark = "" if state is None else ("up   " if state else "down ")
            details = ", ".join(f"{k}={v}" for k, v in value.items() if k != "running")
            click.echo(f"{name:<10} {mark}{details}")
        else:
            click.echo(f"{name:<10} {value}")


# --- ingest ----------------------------------------------------------------------------------
@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--prefix", default="", help="Folder in the bronze container to upload under.")
@click.option("--wait", is_flag=True, help="Publish the files now and report per file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file.")
def ingest(paths: tuple[Path, ...], prefix: str, wait: bool, as_json: bool) -> None:
    """Upload files or folders into bronze (names kept under PREFIX)."""
    results = run_ingest(list(paths), prefix, wait, progress=not as_json)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in results], indent=2, ensure_ascii=False))
    else:
        _print_results(results)
    if any(r.status == "failed" for r in results):
        sys.exit(1)


def run_ingest(paths: list[Path], prefix: str, wait: bool, progress: bool = True) -> list[Any]:
    from geo_platform.app import ingest as ing
    from geo_platform.resources.blob_store import blob_store_from_settings

    settings = load_settings()
    store = blob_store_from_settings(settings)
    files = ing.collect_files(paths, prefix)
    results: dict[str, ing.FileResult] = {}
    blobs = []
    for local, info in _progress(
        ing.upload(store, settings.bronze_container, files), len(files), "upload", progress
    ):
        results[info.path] = ing.FileResult(file=str(local), blob=info.path)
        blobs.append(info)
    if wait:
        _publish_now(settings, blobs, results)
    return list(results.values())


def _publish_now(settings: Settings, blobs: list[Any], results: dict[str, Any]) -> None:
    import dagster as dg

    from geo_platform.app import ingest as ing
    from geo_platform.definitions import defs
    from geo_platform.defs.bronze.partitions import PARTITIONS
    from geo_platform.defs.bronze.sensors import requests_for_plan
    from geo_platform.defs.pipeline import PIPELINE_STAGES
    from geo_platform.lib.bronze import classify

    dagster_env(settings)
    instance = dg.DagsterInstance.get()
    plan = ing.plan_for(blobs)
    for blob, reason in plan.unsupported:
        results[blob.path].status, results[blob.path].error = "skipped", reason
    for blob in blobs:
        if classify(blob.path, blob.size).kind == "sidecar":
            results[blob.path].status = "skipped"
            results[blob.path].error = "sidecar file: published with the file it belongs to"
    req = requests_for_plan(instance, plan, settings.sensor_batch_size)
    for kind, keys in req.add.items():
        if keys:
            instance.add_dynamic_partitions(PARTITIONS[kind].name, keys)
    from geo_platform.lib.naming import partition_key_for_blob

    keys_by_kind = {
        kind: [partition_key_for_blob(b.path) for b in plan.new[kind]] for kind in PARTITIONS
    }
    ing.execute_pipeline(defs, instance, PIPELINE_STAGES, keys_by_kind, results)


def _progress(items: Any, total: int, label: str, enabled: bool) -> Any:
    if not enabled or total < 2:
        yield from items
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        for item in items:
            yield item
            bar.advance(task)


def _print_results(results: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="ingest")
    for col in ("blob", "status", "details"):
        table.add_column(col, overflow="fold")
    for r in results:
        details = r.error or ", ".join(
            [*(f"{i['collection']}/{i['id']}" for i in r.stac_items), *r.tables]
        )
        style = {"failed": "red", "published": "green", "skipped": "yellow"}.get(r.status)
        table.add_row(r.blob, f"[{style}]{r.status}[/]" if style else r.status, details)
    Console().print(table)


# --- demo ------------------------------------------------------------------------------------
@main.command()
@click.option("--json", "as_json", is_flag=True)
def demo(as_json: bool) -> None:
    """Put sample data into bronze and run the whole pipeline, then print a summary."""
    from geo_platform.app import demo as demo_mod

    summary = demo_mod.run_demo(progress=not as_json)
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        demo_mod.print_summary(summary)
    if summary.get("unexpected_failures"):
        sys.exit(1)


# --- backfill --------------------------------------------------------------------------------
@main.command()
@click.option(
    "--select",
    "select",
    required=True,
    help="Comma-separated asset keys, e.g. raster_cog,raster_stac_item.",
)
@click.option("--partitions", default="", help="Comma-separated bronze blob paths.")
@click.option("--prefix", default=None, help="Every bronze file under this path prefix.")
@click.option("--all", "all_partitions", is_flag=True, help="Every bronze file of that kind.")
@click.option("--failed", is_flag=True, help="Partitions whose last materialization failed.")
@click.option("--no-wait", is_flag=True, help="Print the backfill id and return at once.")
@click.option("--url", default=None, help="Dagster GraphQL URL (default: the local UI).")
@click.option("--json", "as_json", is_flag=True)
def backfill(
    select: str, partitions: str, prefix: str | None, all_partitions: bool, failed: bool,
    no_wait: bool, url: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Launch an asset backfill (honouring backfill policies) and follow its progress."""
    import dagster as dg

    from geo_platform.app import backfill as bf
    from geo_platform.definitions import defs

    settings = load_settings()
    dagster_env(settings)
    url = url or f"http://127.0.0.1:{settings.dagster_ui_port}/graphql"
    keys = [dg.AssetKey.from_user_string(s.strip()) for s in select.split(",") if s.strip()]
    graph = defs.resolve_asset_graph()
    parts_defs = {graph.get(k).partitions_def for k in keys}
    if len(parts_defs) != 1 or not isinstance(
        next(iter(parts_defs)), dg.DynamicPartitionsDefinition
    ):
        raise click.UsageError(
            "select assets of one kind (all raster or all vector) partitioned by file"
        )
    if not (partitions or prefix is not None or all_partitions or failed):
        raise click.UsageError("say which partitions: --partitions, --prefix, --all or --failed")
    with dg.DagsterInstance.get() as instance:
        chosen = bf.select_partitions(
            instance, next(iter(parts_defs)), keys,
            partitions=[p for p in partitions.split(",") if p],
            prefix=prefix, all_partitions=all_partitions, failed=failed,
        )  # fmt: skip
    if not chosen:
        click.echo("nothing to backfill: no partition matches")
        return
    backfill_id = bf.launch(url, keys, chosen, f"geo-platform backfill ({len(chosen)} files)")
    click.echo(json.dumps({"backfill_id": backfill_id, "partitions": len(chosen)}) if as_json
               else f"launched backfill {backfill_id} over {len(chosen)} partitions")  # fmt: skip
    if no_wait:
        return
    final = _follow_backfill(bf, url, backfill_id, len(chosen) * len(keys), quiet=as_json)
    if as_json:
        click.echo(json.dumps({"backfill_id": backfill_id, "status": final.status,
                               "per_asset": final.per_asset}))  # fmt: skip
    else:
        click.echo(f"backfill {backfill_id}: {final.status}; materialized {final.materialized}, "
                   f"failed {final.failed} of {final.targeted}")  # fmt: skip
    if final.failed or final.status not in ("COMPLETED", "COMPLETED_SUCCESS"):
        sys.exit(1)


def _follow_backfill(bf: Any, url: str, backfill_id: str, total: int, quiet: bool) -> Any:
    if quiet:
        return bf.follow(url, backfill_id, lambda _s: None)
    from rich.progress import Progress

    with Progress() as bar:
        task = bar.add_task("backfill", total=total)

        def update(state: Any) -> None:
            bar.update(task, total=max(state.targeted, 1),
                       completed=state.materialized + state.failed,
                       description=f"backfill {state.status.lower()}")  # fmt: skip

        return bf.follow(url, backfill_id, update)


def _register_commands() -> None:
    """Commands that live in their own modules (imported lazily by click at call time)."""
    from geo_platform.cli.analytics import query
    from geo_platform.cli.health import health
    from geo_platform.cli.lifecycle import janitor, unpublish
    from geo_platform.cli.promotion import demote, promote
    from geo_platform.cli.serve import serve
    from geo_platform.services.reset import reset_command

    main.add_command(serve)
    main.add_command(health)
    services.add_command(reset_command)
    main.add_command(query)
    main.add_command(unpublish)
    main.add_command(janitor)
    main.add_command(promote)
    main.add_command(demote)


_register_commands()


if __name__ == "__main__":  # pragma: no cover
    main()
