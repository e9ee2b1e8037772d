"""`geo-platform unpublish` and `geo-platform janitor`: the lifecycle jobs from the terminal.

Registered in ``geo_platform.cli.main``. Both run the Dagster job in process on the platform's
instance (``geo_platform.app.lifecycle``), so the run, its log and its report show in the UI
like any other; both are dry runs unless ``--apply`` is given.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from geo_platform.app.lifecycle import catalog_message, item_kind, run_job
from geo_platform.cli.common import fail, require_catalog


@click.command()
@click.argument("item_ids", nargs=-1, required=True)
@click.option("--collection", "-c", required=True, help="STAC collection of the items.")
@click.option(
    "--kind",
    type=click.Choice(["auto", "raster", "vector"]),
    default="auto",
    show_default=True,
    help="Which job to run (auto: from the item).",
)
@click.option("--apply", is_flag=True, help="Really remove (default: dry run, a report only).")
@click.option("--keep-blobs", is_flag=True, help="Keep the silver blobs (COGs, GeoParquet...).")
@click.option("--keep-table", is_flag=True, help="Keep the PostGIS tables.")
@click.option("--reason", default="", help="Why (stored in the audit record).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def unpublish(
    item_ids: tuple[str, ...],
    collection: str,
    kind: str,
    apply: bool,
    keep_blobs: bool,
    keep_table: bool,
    reason: str,
    as_json: bool,
) -> None:
    """Unpublish STAC items and the silver data behind them (dry run unless --apply)."""
    from geo_platform.defs.lifecycle.jobs import UNPUBLISH_JOBS, unpublish_run_config

    if kind == "auto":
        try:
            kind = item_kind(collection, item_ids[0])
        except Exception as exc:  # the database is down or misconfigured: say so plainly
            fail(catalog_message(exc), as_json)
    else:
        require_catalog(as_json)
    config = unpublish_run_config(
        kind,
        item_ids=list(item_ids),
        collection=collection,
        dry_run=not apply,
        delete_blobs=not keep_blobs,
        drop_table=not keep_table,
        reason=reason,
    )
    ok, report, error = run_job(UNPUBLISH_JOBS[kind].name, config)
    _finish(ok, report, error, as_json, unpublish_lines)


@click.command()
@click.option("--apply", is_flag=True, help="Really remove (default: dry run, a report only).")
@click.option(
    "--older-than-hours",
    type=float,
    default=24.0,
    show_default=True,
    help="Only blobs and temp folders older than this count as leftovers.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def janitor(apply: bool, older_than_hours: float, as_json: bool) -> None:
    """Find orphans (and remove them with --apply): intermediate files must never accumulate."""
    from geo_platform.defs.lifecycle.jobs import janitor_run_config

    require_catalog(as_json)
    config = janitor_run_config(dry_run=not apply, older_than_hours=older_than_hours)
    ok, report, error = run_job("janitor", config)
    _finish(ok, report, error, as_json, janitor_lines)


def _finish(ok: bool, report: Any, error: str, as_json: bool, lines: Any) -> None:
    if as_json:
        click.echo(json.dumps(report if ok else {"error": error}, indent=2, default=str))
    elif ok:
        for line in lines(report):
            click.echo(line)
    if not ok:
        if not as_json:
            click.echo(f"error: {error}", err=True)
        sys.exit(1)


def unpublish_lines(report: dict[str, Any]) -> list[str]:
    mode = "DRY RUN (nothing changed; --apply to remove)" if report["dry_run"] else "applied"
    out = [f"{report['message']} [{mode}]"]
    warning = report.get("dependents", {}).get("production_warning")
    if report["noop"]:
        return out + ([warning] if warning else [])
    for item in report["items"]:
        out.append(f"item {item['collection']}/{item['id']} ({item['state']})")
        keep_b = "" if report["delete_blobs"] else " [kept]"
        keep_t = "" if report["drop_table"] else " [kept]"
        out += [f"  blob {b['path']} ({b['size']} bytes){keep_b}" for b in item["blobs"]]
        out += [
            f"  blob {b['path']} [kept: also used by {', '.join(b['referenced_by'])}]"
            for b in item.get("shared_blobs", [])
        ]
        out += [f"  table {t['table']} ({t['rows']} rows){keep_t}" for t in item["tables"]]
        h3 = item.get("h3_aggregates", {})
        out += [
            f"  H3 aggregate {b['path']} ({b['size']} bytes){keep_b}" for b in h3.get("blobs", [])
        ]
        out += [
            f"  H3 aggregate table {t['table']} ({t['rows']} rows){keep_t}"
            for t in h3.get("tables", [])
        ]
    deps = report.get("dependents", {})
    dropped, deleted = (
        ("would drop", "would be deleted") if report["dry_run"] else ("dropped", "deleted")
    )
    out += [
        f"DuckDB view {v['view']} ({v['source']}): {dropped}" for v in deps.get("duckdb_views", [])
    ]
    coll = report["collection"]
    if coll["would_be_deleted"]:
        out.append(f"collection {coll['id']}: {deleted} (empty afterwards)")
    else:
        why = "protected" if coll["protected"] else f"{coll['remaining_items']} items remain"
        out.append(f"collection {coll['id']}: kept ({why})")
    if "result" in report:
        out.append(f"audit rows: {report['result']['audit_ids']}")
    elif "audit_ids" in report:
        out.append(f"dry run recorded in audit rows: {report['audit_ids']}")
    if warning:
        out.append(warning)
    return out


def janitor_lines(report: dict[str, Any]) -> list[str]:
    """Every finding (damaged items with their remedy, strays included), as the run logs it."""
    from geo_platform.workflows.janitor_report import report_lines

    return report_lines(report)
