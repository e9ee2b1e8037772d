"""`ingest --wait` runs its files in the sensor's batches: up to ``sensor_batch_size`` files and
``BATCH_MAX_BYTES`` a run (a large file alone), not a fixed 25."""

from __future__ import annotations

import dagster as dg

from geo_platform.app.ingest import Batching, _ranges
from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.defs.bronze.sensors import BATCH_MAX_BYTES
from geo_platform.lib.naming import partition_key_for_blob


def test_ingest_batches_files_as_the_sensor_does() -> None:
    keys = [partition_key_for_blob(f"drop/scene_{i:03d}.tif") for i in range(120)]
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(PARTITIONS["raster"].name, keys)
        sizes = dict.fromkeys(keys, 200_000)
        sizes[keys[10]] = BATCH_MAX_BYTES + 1  # larger than a batch: a run of its own
        groups = _ranges(instance, "raster", keys, Batching(100, sizes))
        assert [len(g) for g in groups] == [10, 1, 100, 9]
        assert groups[1] == [keys[10]]
        assert [k for g in groups for k in g] == keys  # every file once, in order
        # without sizes (a caller that knows none): the size cap alone
        assert [len(g) for g in _ranges(instance, "raster", keys, Batching(50))] == [50, 50, 20]
