"""Run one bronze raster through the platform's raster pipeline, in process (test helper)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from geo_platform.lib import naming


def publish_raster(instance: dg.DagsterInstance, blob_root: Path, blob: str, source: Path) -> str:
    """Upload ``source`` as bronze ``blob`` under ``blob_root`` and materialize bronze_raster,
    raster_cog and raster_stac_item for it on ``instance``; return the partition key.

    Resources come from the settings with GEO_PLATFORM_BLOB_ROOT = ``blob_root`` (same database
    as the session); the caller deletes the pgstac collection ``naming.collection_id(blob)``.
    """
    from geo_platform.definitions import build_resources, defs
    from geo_platform.defs.bronze.partitions import bronze_raster_partitions
    from geo_platform.settings import load_settings

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GEO_PLATFORM_BLOB_ROOT", str(blob_root))
        resources = build_resources(load_settings())
    store = resources["blob_store"]
    store.ensure_container("bronze")  # type: ignore[attr-defined]
    store.upload_file("bronze", blob, source)  # type: ignore[attr-defined]
    key = naming.partition_key_for_blob(blob)
    instance.add_dynamic_partitions(str(bronze_raster_partitions.name), [key])
    result = defs.resolve_job_def("raster_pipeline_job").execute_in_process(
        instance=instance, partition_key=key, resources=resources
    )
    assert result.success
    return key
