"""`geo-platform query "SQL"`: DuckDB over the silver GeoParquet, one view per published dataset.

Every published dataset is a view named like its PostGIS table (``geo-platform query "SELECT
count(*) FROM vectors_roads"``); H3 aggregates are ``<table>_h3_res<R>``. Geometry columns
print as WKT in the text formats. DuckDB's spatial extension is loaded (from its pip package),
so ``ST_*`` functions work on the geometry columns (``ST_Intersects(geometry,
ST_MakeEnvelope(...))``). With the local blob store DuckDB reads the silver files in place; with
Azure it reads the blobs directly as ``az://`` URLs (azure extension), nothing downloaded first.
"""

from __future__ import annotations

from pathlib import Path

import click

from geo_platform.lib.types import QUERY_FORMATS as FORMATS  # not store.analytics: DuckDB


@click.command()
@click.argument("sql", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table (terminal), csv, json, or parquet (needs --output).",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the result to this file instead of the terminal.")  # fmt: skip
@click.option("--max-rows", type=int, default=100, show_default=True,
              help="Rows shown by --format table.")  # fmt: skip
@click.option("--list-views", is_flag=True, help="Print the registered views first.")
def query(sql: str | None, fmt: str, output: Path | None, max_rows: int, list_views: bool) -> None:
    """Run SQL in DuckDB over every published dataset (each one a view named by dataset);
    ST_* functions of DuckDB's spatial extension work on the geometry columns. With
    --list-views and no SQL, only list the views."""
    from geo_platform.lib.errors import GeoPlatformError
    from geo_platform.resources.blob_store import blob_store_from_settings
    from geo_platform.settings import load_settings
    from geo_platform.store import analytics
    from geo_platform.workflows.analytics_views import query_sources

    settings = load_settings()
    try:
        store = blob_store_from_settings(settings)
        sources = query_sources(store, settings.silver_container, settings.analytics_dir)
        if list_views:
            for name, path in sorted(sources.views.items()):
                click.echo(f"{name}\t{path}", err=sql is not None)
        if sql is None:
            if not list_views:
                raise click.UsageError("give the SQL to run (or --list-views)")
            return
        text = analytics.query(
            sql, sources.views, fmt, output=output, max_rows=max_rows, azure=sources.azure
        )
    except GeoPlatformError as exc:
        raise click.ClickException(f"{exc.message}") from exc
    click.echo(text, err=output is not None)
