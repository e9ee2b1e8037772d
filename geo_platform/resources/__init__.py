"""Dagster resources, all built from ``Settings`` in one function: ``build_resources``.

Assets, sensors and ops get every configured value through these resources (mostly
``PlatformResource``); nothing under ``geo_platform.defs`` reads settings or the environment.
The step executor, a deployment choice too, comes from ``executor_for``.

Resource keys: ``blob_store`` (``LocalBlobStore``/``AzureBlobStore``, from the storage
settings), ``postgis`` (``PostGISResource``) and ``pgstac`` (``PgSTACResource``), both on the
platform database, ``platform`` (``PlatformResource``: containers, pipeline rules, tiling,
analytics folder, serving ports), ``lifecycle`` (``LifecycleResource``), ``promotion``
(``PromotionResource``, as the promoter role) and ``event_queue`` (``EventQueue``: the queue of
bronze blob events, GEO_PLATFORM_EVENT_QUEUE).
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from geo_platform.lib.errors import ConfigError
from geo_platform.resources.blob_store import blob_store_from_settings
from geo_platform.resources.databases import PgSTACResource, PlatformResource, PostGISResource
from geo_platform.resources.lifecycle import lifecycle_resource_from_settings
from geo_platform.resources.promotion import promotion_resource
from geo_platform.settings import Settings, azurite_connection_string
from geo_platform.store.queue import EventQueue

__all__ = ["build_resources", "executor_for"]


def build_resources(settings: Settings) -> dict[str, Any]:
    """Every resource of the code location, by resource key."""
    return {
        "blob_store": blob_store_from_settings(settings),
        "postgis": PostGISResource(
            database_url=settings.database_url, geo_schema=settings.geo_schema
        ),
        "pgstac": PgSTACResource(database_url=settings.database_url),
        "platform": platform_resource(settings),
        "lifecycle": lifecycle_resource_from_settings(settings),
        "promotion": promotion_resource(settings),
        "event_queue": event_queue_from_settings(settings),
    }


def event_queue_from_settings(settings: Settings) -> EventQueue:
    """The queue Event Grid writes bronze blob events to, in the blob store's storage account:
    AZURE_STORAGE_CONNECTION_STRING, else AZURE_STORAGE_ACCOUNT_URL's queue endpoint (with
    DefaultAzureCredential), else the local Azurite. An empty name: events are off."""
    name = settings.event_queue
    if settings.azure_connection_string:
        return EventQueue(queue_name=name, connection_string=settings.azure_connection_string)
    if settings.azure_account_url:
        url = settings.azure_account_url.replace(".blob.", ".queue.", 1)
        return EventQueue(queue_name=name, account_url=url)
    conn = azurite_connection_string(settings.azurite_port, settings.queue_emulator_port)
    return EventQueue(queue_name=name, connection_string=conn)


def platform_resource(settings: Settings) -> PlatformResource:
    """The values assets, sensors and ops need, copied from settings (see PlatformResource)."""
    return PlatformResource(
        bronze_container=settings.bronze_container,
        silver_container=settings.silver_container,
        geo_schema=settings.geo_schema,
        sensor_batch_size=settings.sensor_batch_size,
        sensor_max_adds_per_tick=settings.sensor_max_adds_per_tick,
        vector_assume_crs=settings.vector_assume_crs,
        raster_rules=settings.raster_rules,
        vector_rules=settings.vector_rules,
        raster_collections=settings.raster_collections,
        duplicates=settings.duplicates,
        prices=settings.prices,
        tiling_threshold_pixels=settings.tiling_threshold_pixels,
        tiling_tile_size=settings.tiling_tile_size,
        tiling_work_dir=settings.tiling_work_dir,
        analytics_dir=str(settings.analytics_dir),
        stac_port=settings.stac_port,
        tiler_port=settings.tiler_port,
        features_port=settings.features_port,
    )


def executor_for(settings: Settings) -> dg.ExecutorDefinition:
    """The step executor, a deployment choice (GEO_PLATFORM_EXECUTOR): `multiprocess` (default,
    steps share the run's process or pod), `in_process`, `k8s` (one Kubernetes pod per step,
    needs the `deploy` extra), or `celery` (steps queued in Redis and run by Celery workers,
    ``dagster-celery worker start``; see ``geo_platform.resources.celery``)."""
    if settings.executor == "celery":
        from dagster_celery import celery_executor

        from geo_platform.resources.celery import celery_config

        return celery_executor.configured(celery_config(settings), name="celery")
    if settings.executor == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    if settings.executor == "in_process":
        return dg.in_process_executor
    if settings.executor == "multiprocess":
        return dg.multiprocess_executor
    raise ConfigError(
        "GEO_PLATFORM_EXECUTOR must be multiprocess, in_process, k8s or celery, "
        f"not {settings.executor!r}"
    )
