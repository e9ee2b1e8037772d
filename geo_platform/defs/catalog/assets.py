"""Catalog assets: the STAC items of each bronze file, published into pgstac."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.defs.common import BATCH_POLICY, TRANSIENT_RETRY, each_partition
from geo_platform.defs.silver import stac_items
from geo_platform.lib.errors import NotFoundError
from geo_platform.lib.stac.catalog import publish_source_items
from geo_platform.lib.types import DataKind
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource

CATALOG_GROUP = "catalog"
SILVER_ASSET = {"raster": "raster_cog", "vector": "vector_table"}


def _publish(
    store: BlobStore, pgstac: PgSTACResource, platform: PlatformResource, kind: DataKind, blob: str
) -> dict[str, Any]:
    items = stac_items(store, platform.silver_container, blob)
    if not items:
        raise NotFoundError("no silver STAC items found: publish the silver stage first", path=blob)
    with pgstac.connect() as conn:
        result = publish_source_items(conn, items, blob, kind)
    links = {
        f"{i['collection']}/{i['id']}": pgstac.item_href(
            i["collection"], i["id"], platform.stac_api_url
        )
        for i in result.items
    }
    return {
        "geo_platform/stac_items": dg.MetadataValue.json(result.items),
        "items": len(result.items),
        "collections": sorted({i["collection"] for i in result.items}),
        "removed_stale_items": dg.MetadataValue.json(result.removed),
        "item_links": dg.MetadataValue.json(links),
    }


def _catalog_asset(kind: DataKind) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"{kind}_stac_item",
        group_name=CATALOG_GROUP,
        partitions_def=PARTITIONS[kind],
        deps=[SILVER_ASSET[kind]],
        backfill_policy=BATCH_POLICY,
        retry_policy=TRANSIENT_RETRY,
        output_required=False,
        automation_condition=dg.AutomationCondition.eager(),
        kinds={"stac", "postgres"},
        pool="postgis",
        description=(
            f"The STAC item(s) describing a published bronze {kind} file, in pgstac: validated "
            "offline against the official schemas, in a collection per dataset whose extents "
            "are kept up to date, with provenance back to the bronze blob and the run."
        ),
    )
    def stac_item(
        context: dg.AssetExecutionContext,
        blob_store: BlobStore,
        pgstac: PgSTACResource,
        platform: PlatformResource,
    ) -> Iterator[dg.AssetMaterialization]:
        yield from each_partition(
            context, lambda _k, blob: _publish(blob_store, pgstac, platform, kind, blob)
        )

    return stac_item


raster_stac_item = _catalog_asset("raster")
vector_stac_item = _catalog_asset("vector")
