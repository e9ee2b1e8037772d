"""Platform-wide quality report and storage/cost accounting (group "quality").

Both are unpartitioned assets that look at everything the platform holds; run them on a schedule
(``jobs.quality_schedule``, daily) or by hand. Their numeric metadata (items, completeness,
failed files, bytes and monthly cost per tier) is plotted by Dagster over time.
"""

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

import geo_platform.defs.quality.history as history
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource, PostGISResource
from geo_platform.workflows import accounting
from geo_platform.workflows.quality_report import build_report, collect_item_facts, embed_charts

QUALITY_GROUP = "quality"
REPORT_ROOT = "reports/quality"
ACCOUNTING_ROOT = "reports/accounting"
TRACKED_ASSETS = ["raster_cog", "vector_table", "raster_stac_item", "vector_stac_item"]
EMBED_LIMIT = 700_000  # bytes of base64 charts shown inline in the UI; larger ones are linked


class QualityReportConfig(dg.Config):
    """How far back the report looks into the Dagster run history."""

    days: int = 30


@dg.asset(
    group_name=QUALITY_GROUP,
    kinds={"markdown", "blob"},
    description=(
        "Quality report, per collection and platform-wide: published items and size over time, "
        "materializations per day, failed files by reason, the metadata completeness "
        "distribution and the worst offenders. Markdown with PNG charts, written to silver "
        "under reports/quality/<date>/ and shown here."
    ),
)
def quality_report(
    context: dg.AssetExecutionContext,
    config: QualityReportConfig,
    blob_store: dg.ResourceParam[BlobStore],
    pgstac: PgSTACResource,
    platform: PlatformResource,
) -> dg.MaterializeResult:
    now = datetime.now(UTC)
    since = now - timedelta(days=config.days)
    with pgstac.connect() as conn:
        items = collect_item_facts(conn)
    failures = history.failed_files(context.instance, since=since)
    mats = history.materializations(
        context.instance, [dg.AssetKey(a) for a in TRACKED_ASSETS], since=since
    )
    folder = f"{REPORT_ROOT}/{now:%Y-%m-%d}"
    with tempfile.TemporaryDirectory(prefix="quality-") as tmp:
        report = build_report(Path(tmp), items, failures, mats, generated_at=now)
        md_path = Path(tmp) / "report.md"
        md_path.write_text(report.markdown)
        blob_store.ensure_container(platform.silver_container)
        for path in [md_path, *report.charts.values()]:
            blob_store.upload_file(platform.silver_container, f"{folder}/{path.name}", path)
        inline = sum(p.stat().st_size for p in report.charts.values()) * 4 // 3 < EMBED_LIMIT
        shown = embed_charts(report.markdown, report.charts.values()) if inline else report.markdown
    href = blob_store.href(platform.silver_container, f"{folder}/report.md")
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.md(shown),
            "report_href": dg.MetadataValue.path(href),
            **{f"quality/{k}": v for k, v in report.summary.items()},
        }
    )


def _listing(store: BlobStore, containers: list[str]) -> Any:
    for container in containers:
        for info in store.list_blobs(container):
            yield accounting.StoredBlob(container, info.path, info.size)


@dg.asset(
    group_name=QUALITY_GROUP,
    kinds={"blob", "postgres"},
    description=(
        "Storage accounting: bytes by container, tier (bronze, analysis, visualization, "
        "archive, thumbnail, parquet, stac...), collection and format, PostGIS table sizes, "
        "and the estimated monthly cost per tier from the price table (GEO_PLATFORM_PRICES; "
        "default: Azure Blob list prices, LRS, East US 2, November 2026)."
    ),
)
def storage_accounting(
    context: dg.AssetExecutionContext,
    blob_store: dg.ResourceParam[BlobStore],
    postgis: PostGISResource,
    platform: PlatformResource,
) -> dg.MaterializeResult:
    prices = accounting.parse_price_table(platform.prices)
    with postgis.connect() as conn:
        prefixes = accounting.silver_collections(conn)
        tables = accounting.table_sizes(conn, platform.geo_schema)
    containers = [platform.bronze_container, platform.silver_container]
    report = accounting.account(
        _listing(blob_store, containers),
        bronze_container=platform.bronze_container,
        silver_prefixes=prefixes,
        prices=prices,
        database_bytes=tables,
    )
    doc = {
        "generated_at": datetime.now(UTC).isoformat(),
        "blobs": report.blobs,
        "total_bytes": report.total_bytes,
        "by_container": report.by_container,
        "by_tier": report.by_tier,
        "by_collection": report.by_collection,
        "by_format": report.by_format,
        "by_access_tier": report.by_access_tier,
        "monthly_cost_by_tier": report.monthly_cost_by_tier,
        "monthly_cost_total": report.monthly_cost_total,
        "database_bytes": report.database_bytes,
        "prices": report.prices,
    }
    path = f"{ACCOUNTING_ROOT}/{datetime.now(UTC):%Y-%m-%d}/storage.json"
    blob_store.upload_bytes(
        platform.silver_container, path, json.dumps(doc, indent=1).encode(), "application/json"
    )
    context.log.info(
        f"{report.blobs} blobs, {report.total_bytes} bytes, "
        f"{report.monthly_cost_total} {prices.currency}/month"
    )
    return dg.MaterializeResult(
        metadata={
            **report.metadata(),
            "by_collection": dg.MetadataValue.json(report.by_collection),
            "by_format": dg.MetadataValue.json(report.by_format),
            "postgis_tables": dg.MetadataValue.json(report.database_bytes),
            "prices": dg.MetadataValue.json(report.prices),
            "summary": dg.MetadataValue.md(_summary_md(report, prices)),
            "report_href": dg.MetadataValue.path(blob_store.href(platform.silver_container, path)),
        }
    )


def _summary_md(report: accounting.StorageReport, prices: accounting.PriceTable) -> str:
    lines = ["| tier | access tier | GiB | per month |", "|---|---|---:|---:|"]
    for tier, size in report.by_tier.items():
        cost = report.monthly_cost_by_tier[tier]
        lines.append(
            f"| {tier} | {prices.tier_map.get(tier, 'hot')} | "
            f"{size / accounting.BYTES_PER_GB:.4f} | {cost:.4f} {prices.currency} |"
        )
    lines += [
        "",
        f"Total: {report.monthly_cost_total:.4f} {prices.currency}/month. Prices: "
        f"{prices.source}, {prices.redundancy}, {prices.region}, as of {prices.as_of}; "
        "storage only (no transactions, retrieval or egress).",
    ]
    return "\n".join(lines)
