"""`geo-platform backfill`: launch an asset backfill through the webserver and follow it.

The work is ``geo_platform.app.backfill`` (which partitions, the GraphQL calls); this command
checks the options and shows the progress.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from geo_platform.settings import load_settings


@click.command()
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
    from geo_platform.app.instance import use_platform_instance

    settings = load_settings()
    use_platform_instance(settings)
    url = url or bf.graphql_url(settings)
    keys = bf.asset_keys(select)
    parts_def = bf.file_partitions(keys)
    if parts_def is None:
        raise click.UsageError(
            "select assets of one kind (all raster or all vector) partitioned by file"
        )
    if not (partitions or prefix is not None or all_partitions or failed):
        raise click.UsageError("say which partitions: --partitions, --prefix, --all or --failed")
    with dg.DagsterInstance.get() as instance:
        chosen = bf.select_partitions(
            instance, parts_def, keys,
            partitions=[p for p in partitions.split(",") if p],
            prefix=prefix, all_partitions=all_partitions, failed=failed,
        )  # fmt: skip
    chosen, removed = bf.skip_removed(settings, chosen)
    if removed:
        click.echo(f"skipping {len(removed)} file(s) removed from bronze (unpublish them to drop "
                   f"their data): {', '.join(removed[:20])}", err=True)  # fmt: skip
    if not chosen:
        why = "no partition matches" + (" a file still in bronze" if removed else "")
        if as_json:  # scripts parse stdout: JSON whatever happens
            click.echo(json.dumps({"backfill_id": None, "partitions": 0, "reason": why,
                                   "skipped_removed": removed}))  # fmt: skip
        else:
            click.echo(f"nothing to backfill: {why}")
        return
    backfill_id = bf.launch(url, keys, chosen, f"geo-platform backfill ({len(chosen)} files)")
    click.echo(json.dumps({"backfill_id": backfill_id, "partitions": len(chosen),
                           "skipped_removed": removed}) if as_json
               else f"launched backfill {backfill_id} over {len(chosen)} partitions")  # fmt: skip
    if no_wait:
        return
    final = _follow(bf, url, backfill_id, len(chosen) * len(keys), quiet=as_json)
    if as_json:
        click.echo(json.dumps({"backfill_id": backfill_id, "status": final.status,
                               "per_asset": final.per_asset}))  # fmt: skip
    else:
        click.echo(f"backfill {backfill_id}: {final.status}; materialized {final.materialized}, "
                   f"failed {final.failed} of {final.targeted}")  # fmt: skip
    if final.failed or final.status not in ("COMPLETED", "COMPLETED_SUCCESS"):
        sys.exit(1)


def _follow(bf: Any, url: str, backfill_id: str, total: int, quiet: bool) -> Any:
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
