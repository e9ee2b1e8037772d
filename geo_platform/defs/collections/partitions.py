"""Raster collections: one dynamic partition per collection folder prefix (not per file).

Key = the prefix without its trailing slash, escaped like bronze keys
(``lib.raster.collection.partition_key``); the asset fans out over the folder's files inside
the run, so a collection of thousands of tiles is one partition.
"""

from __future__ import annotations

import dagster as dg

PARTITIONS_NAME = "raster_collections"
raster_collection_partitions = dg.DynamicPartitionsDefinition(name=PARTITIONS_NAME)
