"""The `geo-platform` command line: the group that wires in each command module.

One module per command group under ``geo_platform.cli``; the work behind each command lives in
``geo_platform.app`` (or ``geo_platform.services``). Nothing imports this package.
"""

from __future__ import annotations

import atexit
import gc
import os
from typing import Any

import click

from geo_platform.cli.analytics import query
from geo_platform.cli.backfill import backfill
from geo_platform.cli.demo import demo
from geo_platform.cli.health import health
from geo_platform.cli.ingest import ingest
from geo_platform.cli.lifecycle import janitor, unpublish
from geo_platform.cli.promotion import demote, promote
from geo_platform.cli.serve import rebase_hrefs, serve
from geo_platform.cli.services import services


class _Group(click.Group):
    """Platform errors (bad input, config, unreachable services) print as one clear line."""

    def invoke(self, ctx: click.Context) -> Any:
        from geo_platform.lib.errors import GeoPlatformError

        try:
            return super().invoke(ctx)
        except GeoPlatformError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Also show Dagster's warnings and the run logs (DEBUG lines) in the terminal.",
)
def main(verbose: bool) -> None:
    """geo_platform: bronze geodata in, COGs, PostGIS tables and STAC items out."""
    from geo_platform.app.instance import quiet_warnings

    if verbose:
        os.environ["GEO_PLATFORM_VERBOSE"] = "1"  # settings read it (also in child processes)
    quiet_warnings()
    # At exit, the interpreter's last garbage collection walks every object still alive (the
    # Dagster definitions, the instance...): 0.6 s after `ingest --wait`. Frozen, they are left
    # to the process's end; files and connections are closed by their `with` blocks before.
    atexit.register(gc.freeze)


for _command in (services, ingest, demo, backfill, serve, rebase_hrefs, health, query, unpublish,
                 janitor, promote, demote):  # fmt: skip
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
