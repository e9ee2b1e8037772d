"""Lifecycle: unpublish jobs, the janitor, unpublish-on-removal and run notifications.

``defs`` is this domain's contribution to the code location: the jobs ``unpublish_raster``,
``unpublish_vector`` and ``janitor``, the schedule ``janitor_daily`` and the sensors in
``LIFECYCLE_SENSORS``. They use the resources ``lifecycle`` (``LifecycleResource``),
``promotion`` (the production check of an unpublish), ``blob_store``, ``postgis`` and
``platform``, all built by ``geo_platform.resources.build_resources``.
"""

import dagster as dg

from geo_platform.defs.lifecycle.jobs import (
    UNPUBLISH_JOBS,
    janitor,
    janitor_daily,
    janitor_run_config,
    unpublish_raster,
    unpublish_run_config,
    unpublish_vector,
)
from geo_platform.defs.lifecycle.sensors import LIFECYCLE_SENSORS

LIFECYCLE_JOBS = [unpublish_raster, unpublish_vector, janitor]
LIFECYCLE_SCHEDULES = [janitor_daily]

defs = dg.Definitions(jobs=LIFECYCLE_JOBS, schedules=LIFECYCLE_SCHEDULES, sensors=LIFECYCLE_SENSORS)

__all__ = [
    "LIFECYCLE_JOBS",
    "LIFECYCLE_SCHEDULES",
    "LIFECYCLE_SENSORS",
    "UNPUBLISH_JOBS",
    "defs",
    "janitor_run_config",
    "unpublish_run_config",
]
