"""Bronze partitions: one dynamic partition per bronze file, keyed by its blob path.

Keys are blob paths, escaped reversibly where Dagster forbids characters
(see ``naming.partition_key_for_blob``).
"""

from __future__ import annotations

import dagster as dg

from geo_platform.lib.types import DataKind

bronze_raster_partitions = dg.DynamicPartitionsDefinition(name="bronze_raster_files")
bronze_vector_partitions = dg.DynamicPartitionsDefinition(name="bronze_vector_files")

PARTITIONS: dict[DataKind, dg.DynamicPartitionsDefinition] = {
    "raster": bronze_raster_partitions,
    "vector": bronze_vector_partitions,
}
