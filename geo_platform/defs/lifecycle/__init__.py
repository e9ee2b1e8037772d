"""Lifecycle: unpublish jobs, the janitor, unpublish-on-removal and run notifications.

What ``definitions.py`` registers (see the lists below): ``LIFECYCLE_JOBS``,
``LIFECYCLE_SCHEDULES``, ``LIFECYCLE_SENSORS`` and the resource ``lifecycle``
(``lifecycle_resource_from_settings(settings)``).
"""

from geo_platform.defs.lifecycle.jobs import (
    UNPUBLISH_JOBS,
    janitor,
    janitor_daily,
    janitor_run_config,
    unpublish_raster,
    unpublish_run_config,
    unpublish_vector,
)
from geo_platform.defs.lifecycle.resources import (
    LifecycleResource,
    lifecycle_resource_from_settings,
)
from geo_platform.defs.lifecycle.sensors import LIFECYCLE_SENSORS

LIFECYCLE_JOBS = [unpublish_raster, unpublish_vector, janitor]
LIFECYCLE_SCHEDULES = [janitor_daily]

__all__ = [
    "LIFECYCLE_JOBS",
    "LIFECYCLE_SCHEDULES",
    "LIFECYCLE_SENSORS",
    "UNPUBLISH_JOBS",
    "LifecycleResource",
    "janitor_run_config",
    "lifecycle_resource_from_settings",
    "unpublish_run_config",
]
