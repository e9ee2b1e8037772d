"""`geo-platform backfill --partitions`: a file of the other kind is named as such (a raster
given to a vector asset), not reported as missing from bronze."""

from __future__ import annotations

import dagster as dg
import pytest

from geo_platform.app.backfill import select_partitions
from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.lib.errors import ConfigError


def test_a_raster_file_given_to_a_vector_backfill_is_named_as_a_raster() -> None:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PARTITIONS["raster"].name, ["p/rgb.tif"])
        instance.add_dynamic_partitions(PARTITIONS["vector"].name, ["p/roads.gpkg"])
        vector = PARTITIONS["vector"]
        keys = [dg.AssetKey("vector_table")]
        assert select_partitions(instance, vector, keys, partitions=["p/roads.gpkg"]) == [
            "p/roads.gpkg"
        ]
        with pytest.raises(ConfigError) as err:
            select_partitions(instance, vector, keys, partitions=["p/rgb.tif", "p/gone.gpkg"])
    message = str(err.value)
    assert "p/rgb.tif is a raster file: select the raster assets" in message
    assert "p/gone.gpkg is not in bronze" in message
