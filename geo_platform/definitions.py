"""The Dagster code location: assets, checks, sensors and jobs from defs/, resources from settings.

No logic here: every piece is defined in ``geo_platform.defs``; resources are chosen from the
environment (``geo_platform.settings``) so the same code runs locally and in production.
"""

from __future__ import annotations

import os

import dagster as dg

from geo_platform.defs.analytics import assets as analytics_assets
from geo_platform.defs.analytics.jobs import duckdb_catalog_job, h3_aggregate_job
from geo_platform.defs.bronze import assets as bronze_assets
from geo_platform.defs.bronze.jobs import BRONZE_JOBS, PIPELINE_JOBS, STAGE_ASSETS
from geo_platform.defs.bronze.sensors import bronze_sensor
from geo_platform.defs.catalog import assets as catalog_assets
from geo_platform.defs.collections.assets import raster_collection
from geo_platform.defs.collections.jobs import raster_collection_job
from geo_platform.defs.collections.sensors import raster_collection_sensor
from geo_platform.defs.grids import assets as grid_assets
from geo_platform.defs.grids.jobs import h3_bbox_grid_job, h3_grids_job
from geo_platform.defs.lifecycle import (
    LIFECYCLE_JOBS,
    LIFECYCLE_SCHEDULES,
    LIFECYCLE_SENSORS,
    lifecycle_resource_from_settings,
)
from geo_platform.defs.promotion import PROMOTION_JOBS, promotion_assets, promotion_resource
from geo_platform.defs.quality import assets as quality_assets
from geo_platform.defs.quality.jobs import quality_job, quality_schedule
from geo_platform.defs.raster import assets as raster_assets
from geo_platform.defs.raster.jobs import raster_catalog_job, raster_cog_job
from geo_platform.defs.vector import assets as vector_assets
from geo_platform.defs.vector.jobs import vector_catalog_job, vector_table_job
from geo_platform.lib.errors import ConfigError
from geo_platform.lib.types import DataKind
from geo_platform.resources.blob_store import blob_store_from_settings
from geo_platform.resources.databases import PgSTACResource, PlatformResource, PostGISResource
from geo_platform.settings import Settings, load_settings

# Each kind's pipeline job, and its stages as (asset, job of that stage alone), in order: used by
# `geo-platform ingest --wait` to carry on the files that survived a partly failed batch.
PIPELINE_STAGES: dict[DataKind, tuple[str, list[tuple[str, str]]]] = {
    kind: (
        PIPELINE_JOBS[kind].name,
        list(zip(STAGE_ASSETS[kind], [BRONZE_JOBS[kind].name, *stage_jobs], strict=True)),
    )
    for kind, stage_jobs in {
        "raster": [raster_cog_job.name, raster_catalog_job.name],
        "vector": [vector_table_job.name, vector_catalog_job.name],
    }.items()
}

# Silver and catalog assets follow bronze by declarative automation (AutomationCondition.eager);
# a tick that requests several partitions of an asset emits a backfill, which honours the
# assets' backfill policy and so batches a burst of files into few runs.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "silver_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    emit_backfills=True,
    description="Materializes silver and catalog partitions when their bronze file changes.",
)


def build_resources(settings: Settings) -> dict[str, object]:
    return {
        "lifecycle": lifecycle_resource_from_settings(settings),
        "promotion": promotion_resource(settings),
        "blob_store": blob_store_from_settings(settings),
        "postgis": PostGISResource(
            database_url=settings.database_url, geo_schema=settings.geo_schema
        ),
        "pgstac": PgSTACResource(database_url=settings.database_url),
        "platform": PlatformResource(
            bronze_container=settings.bronze_container,
            silver_container=settings.silver_container,
            geo_schema=settings.geo_schema,
            sensor_batch_size=settings.sensor_batch_size,
            sensor_max_adds_per_tick=settings.sensor_max_adds_per_tick,
            vector_assume_crs=settings.vector_assume_crs,
            raster_rules=settings.raster_rules,
            raster_collections=settings.raster_collections,
            vector_rules=settings.vector_rules,
            duplicates=settings.duplicates,
            prices=settings.prices,
        ),
    }


def executor_for(settings: Settings) -> dg.ExecutorDefinition:
    """The step executor, a deployment choice (GEO_PLATFORM_EXECUTOR): `multiprocess` (default,
    steps share the run's process or pod), `in_process`, or `k8s` (one Kubernetes pod per step,
    needs the `deploy` extra)."""
    if settings.executor == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    if settings.executor == "in_process":
        return dg.in_process_executor
    if settings.executor == "multiprocess":
        return dg.multiprocess_executor
    raise ConfigError(
        f"GEO_PLATFORM_EXECUTOR must be multiprocess, in_process or k8s, not {settings.executor!r}"
    )


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or load_settings()
    # Read by Dagster in the processes that execute our runs (code server, run and step workers,
    # `geo-platform ingest`), which all load these definitions: a batch of files then costs one
    # event-log INSERT per asset instead of one per file and asset. Set it to 0 to turn it off.
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(settings.event_batch_size))
    modules = [
        bronze_assets,
        raster_assets,
        vector_assets,
        catalog_assets,
        grid_assets,
        analytics_assets,
        quality_assets,
    ]
    return dg.Definitions(
        executor=executor_for(settings),
        assets=[
            *dg.load_assets_from_modules(modules),
            raster_collection,
            *promotion_assets(settings),
        ],
        sensors=[bronze_sensor, automation_sensor, raster_collection_sensor, *LIFECYCLE_SENSORS],
        schedules=[*LIFECYCLE_SCHEDULES, quality_schedule],
        jobs=[
            *BRONZE_JOBS.values(),
            *PIPELINE_JOBS.values(),
            raster_cog_job,
            raster_catalog_job,
            vector_table_job,
            vector_catalog_job,
            h3_grids_job,
            h3_bbox_grid_job,
            h3_aggregate_job,
            duckdb_catalog_job,
            quality_job,
            *LIFECYCLE_JOBS,
            *PROMOTION_JOBS,
            raster_collection_job,
        ],
        resources=build_resources(settings),
    )


defs = build_definitions()
