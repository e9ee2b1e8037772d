"""Wiring across the stages: silver and catalog follow bronze, and the stage list of ingest.

``defs``: the sensor ``silver_automation``. Silver and catalog assets follow bronze by
declarative automation (``AutomationCondition.eager``); a tick that requests several partitions
of an asset emits a backfill, which honours the assets' backfill policy and so batches a burst of
files into few runs.

``PIPELINE_STAGES``: each kind's pipeline job, and its stages as (asset, job of that stage alone)
in order. ``geo-platform ingest --wait`` uses it to carry on the files that survived a partly
failed batch.
"""

from __future__ import annotations

import dagster as dg

from geo_platform.defs.bronze.jobs import BRONZE_JOBS, PIPELINE_JOBS, STAGE_ASSETS
from geo_platform.defs.raster.jobs import raster_catalog_job, raster_cog_job
from geo_platform.defs.vector.jobs import vector_catalog_job, vector_table_job
from geo_platform.lib.types import DataKind

_STAGE_JOBS: dict[DataKind, list[str]] = {
    "raster": [raster_cog_job.name, raster_catalog_job.name],
    "vector": [vector_table_job.name, vector_catalog_job.name],
}
PIPELINE_STAGES: dict[DataKind, tuple[str, list[tuple[str, str]]]] = {
    kind: (
        PIPELINE_JOBS[kind].name,
        list(zip(STAGE_ASSETS[kind], [BRONZE_JOBS[kind].name, *stage_jobs], strict=True)),
    )
    for kind, stage_jobs in _STAGE_JOBS.items()
}

automation_sensor = dg.AutomationConditionSensorDefinition(
    "silver_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    emit_backfills=True,
    description="Materializes silver and catalog partitions when their bronze file changes.",
)

defs = dg.Definitions(sensors=[automation_sensor])
