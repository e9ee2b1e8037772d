"""Raster collections as one dataset: the ``raster_collection`` asset, partitioned by prefix.

Wiring only: each partition is one call of ``workflows.publish_collection.publish_collection``.
"""

from collections.abc import Iterator

import dagster as dg

from geo_platform.defs.collections.partitions import raster_collection_partitions
from geo_platform.defs.common import TRANSIENT_RETRY, partition_keys
from geo_platform.lib.raster.collection import prefix_for_partition_key
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource


class CollectionRunConfig(dg.Config):
    """Run-time overrides of a collection's marker options. ``target_crs`` reprojects every
    member (batch reprojection: launch it over all collection partitions as a backfill);
    ``full_rebuild`` ignores the manifest and rebuilds every member and the mosaic."""

    target_crs: str | None = None
    web_optimized: bool | None = None
    resampling: str | None = None
    full_rebuild: bool = False


@dg.asset(
    group_name="silver",
    partitions_def=raster_collection_partitions,
    retry_policy=TRANSIENT_RETRY,
    output_required=False,
    kinds={"cog", "stac", "mosaicjson"},
    description=(
        "A bronze folder declared a raster collection (GEO_PLATFORM_RASTER_COLLECTIONS or a "
        "_collection.json marker) published as one dataset: each file as a lossless COG "
        "(optionally reprojected to the collection's target CRS) with its STAC item, one "
        "MosaicJSON over all of them (updated incrementally: only new or changed files are "
        "processed), and a pgstac collection with a 'mosaic' asset and a registered mosaic search."
    ),
)
def raster_collection(
    context: dg.AssetExecutionContext,
    config: CollectionRunConfig,
    blob_store: dg.ResourceParam[BlobStore],
    pgstac: PgSTACResource,
    platform: PlatformResource,
) -> Iterator[dg.AssetMaterialization]:
    # rasterio, rio-tiler and cogeo-mosaic: loaded by the runs that use them, not with the defs
    from geo_platform.workflows.publish_collection import CollectionSettings, publish_collection

    overrides = {
        "target_crs": config.target_crs,
        "web_optimized": config.web_optimized,
        "resampling": config.resampling,
    }
    settings = CollectionSettings(
        bronze_container=platform.bronze_container,
        silver_container=platform.silver_container,
        code_version=platform.code_version,
    )
    for key in partition_keys(context):
        prefix = prefix_for_partition_key(key)
        published = publish_collection(
            blob_store,
            pgstac.connect,
            settings,
            prefix,
            run_id=context.run.run_id,
            overrides=overrides,
            full_rebuild=config.full_rebuild,
        )
        if published.failed:
            failed = published.failed
            context.log.warning(f"{prefix}: {len(failed)} file(s) failed: {failed}")
        yield dg.AssetMaterialization(
            asset_key=context.asset_key,
            partition=key,
            metadata={
                **published.metadata,
                "failed": dg.MetadataValue.json(published.failed),
                "mosaic_href": dg.MetadataValue.path(published.mosaic_href),
            },
        )
