"""Wiring across the stages: each kind's file pipeline, automation, and the stage list of ingest.

``defs``: the multi-assets ``raster_files`` (``bronze_raster -> raster_cog -> raster_stac_item``)
and ``vector_files`` (``bronze_vector -> vector_table -> vector_stac_item``), whose stages are
defined by their domains and run file by file in one step (``defs.stages``: a bad file stops at
its stage, the good files of its batch reach pgstac in the same run); and the sensor
``silver_automation``. Silver and catalog assets follow bronze by declarative automation
(``common.FOLLOW_UPSTREAM``: eager, but never a partition whose latest run failed); a tick that
requests several partitions of an asset emits a backfill, which honours the assets' backfill
policy and so batches a burst of files into few runs.

``PIPELINE_STAGES``: each kind's pipeline job, and its stages as (asset, job of that stage alone)
in order. ``geo-platform ingest --wait`` uses it to carry on the files that survived a partly
failed batch.
"""

from __future__ import annotations

import dagster as dg

from geo_platform.defs.bronze.assets import bronze_raster, bronze_vector
from geo_platform.defs.bronze.jobs import BRONZE_JOBS, PIPELINE_JOBS, STAGE_ASSETS
from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.defs.catalog.assets import raster_stac_item, vector_stac_item
from geo_platform.defs.raster.assets import RasterRunConfig, raster_cog
from geo_platform.defs.raster.jobs import raster_catalog_job, raster_cog_job
from geo_platform.defs.stages import file_pipeline
from geo_platform.defs.vector.assets import VectorRunConfig, vector_table
from geo_platform.defs.vector.jobs import vector_catalog_job, vector_table_job
from geo_platform.lib.types import DataKind

raster_files = file_pipeline(
    "raster_files",
    [bronze_raster, raster_cog, raster_stac_item],
    PARTITIONS["raster"],
    RasterRunConfig,
    description="Each bronze raster of the run, inventoried, published as COGs and catalogued.",
)
# Every stage after bronze writes PostGIS: at most the pool's limit of these steps at a time.
# (Rasters take no pool: their COG stage would hold a database slot for minutes.)
vector_files = file_pipeline(
    "vector_files",
    [bronze_vector, vector_table, vector_stac_item],
    PARTITIONS["vector"],
    VectorRunConfig,
    pool="postgis",
    description="Each bronze vector file of the run, inventoried, loaded and catalogued.",
)

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

defs = dg.Definitions(assets=[raster_files, vector_files], sensors=[automation_sensor])
