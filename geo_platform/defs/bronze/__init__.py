"""Bronze: one dynamic partition per bronze file, the bronze sensor, and the jobs it launches.

``defs``: the assets ``bronze_raster``, ``bronze_vector`` and ``bronze_inventory``, the sensor
``bronze_sensor``, the per-kind inventory jobs (``bronze_<kind>_job``) and the pipeline jobs
(``<kind>_pipeline_job``: bronze, silver and catalog stages of a batch in one run).
"""

import dagster as dg

from geo_platform.defs.bronze.assets import bronze_inventory, bronze_raster, bronze_vector
from geo_platform.defs.bronze.jobs import BRONZE_JOBS, PIPELINE_JOBS
from geo_platform.defs.bronze.sensors import bronze_sensor

defs = dg.Definitions(
    assets=[bronze_raster, bronze_vector, bronze_inventory],
    jobs=[*BRONZE_JOBS.values(), *PIPELINE_JOBS.values()],
    sensors=[bronze_sensor],
)
