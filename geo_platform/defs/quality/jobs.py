"""A daily job for the platform-wide quality assets (report and storage accounting)."""

import dagster as dg

quality_job = dg.define_asset_job(
    "quality_job",
    selection=dg.AssetSelection.assets("quality_report", "storage_accounting"),
    description="Quality report and storage/cost accounting over the whole platform.",
)

quality_schedule = dg.ScheduleDefinition(
    name="quality_schedule",
    job=quality_job,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day at 05:00 UTC.",
)
