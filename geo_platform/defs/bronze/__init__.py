"""Bronze: one dynamic partition per bronze file, the bronze sensor, and the jobs it launches.

``defs``: the asset ``bronze_inventory`` (``bronze_raster`` and ``bronze_vector``, the first
stage of each file, are assets of the file pipelines in ``geo_platform.defs.pipeline``), the
per-kind inventory jobs (``bronze_<kind>_job``) and the pipeline jobs (``<kind>_pipeline_job``:
bronze, silver and catalog stages of a batch in one run). ``build_defs(settings)`` adds the
sensors, whose intervals come from the settings: ``bronze_sensor`` lists the container
(GEO_PLATFORM_SENSOR_INTERVAL; when events drive ingestion it is the reconciler, every
GEO_PLATFORM_RECONCILE_INTERVAL) and ``bronze_event_sensor`` reads blob events from a Storage
Queue (GEO_PLATFORM_EVENT_QUEUE, every GEO_PLATFORM_EVENT_SENSOR_INTERVAL).
"""

import dagster as dg

from geo_platform.defs.bronze.assets import bronze_inventory
from geo_platform.defs.bronze.event_sensor import build_event_sensor
from geo_platform.defs.bronze.jobs import BRONZE_JOBS, PIPELINE_JOBS
from geo_platform.defs.bronze.sensors import build_bronze_sensor
from geo_platform.settings import Settings

defs = dg.Definitions(
    assets=[bronze_inventory],
    jobs=[*BRONZE_JOBS.values(), *PIPELINE_JOBS.values()],
)


def build_defs(settings: Settings) -> dg.Definitions:
    """``defs`` and the two bronze sensors, on the intervals the settings give."""
    events = bool(settings.event_queue)
    sensors = [
        build_bronze_sensor(settings.listing_interval_seconds, reconciler=events),
        build_event_sensor(settings.event_sensor_interval_seconds, enabled=events),
    ]
    return dg.Definitions.merge(defs, dg.Definitions(sensors=sensors))
