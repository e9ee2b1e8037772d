"""Quality: the platform-wide quality report and storage accounting, daily.

``defs``: the assets ``quality_report`` and ``storage_accounting``, the job ``quality_job``
and the schedule ``quality_schedule``.
"""

import dagster as dg

from geo_platform.defs.quality.assets import quality_report, storage_accounting
from geo_platform.defs.quality.jobs import quality_job, quality_schedule

defs = dg.Definitions(
    assets=[quality_report, storage_accounting], jobs=[quality_job], schedules=[quality_schedule]
)
