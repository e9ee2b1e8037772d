"""Catalog assets: the STAC items of each bronze file, published into pgstac.

The work is ``workflows.catalog``: the items the silver stage wrote are upserted as they are.
``raster_stac_item`` and ``vector_stac_item`` are the last stage of their file pipeline
(``defs.pipeline``): the files of a run that reached this stage go into pgstac in one
transaction, whatever happened to the other files of the run (``defs.stages``); when pgstac
refuses it, each file is tried on its own, and only the files it refuses fail."""

from typing import Any

import dagster as dg

from geo_platform.defs.common import FOLLOW_UPSTREAM
from geo_platform.defs.stages import Stage, StageContext, batched
from geo_platform.lib.links import features_links, item_links, local_url
from geo_platform.lib.naming import blob_for_partition_key
from geo_platform.lib.stac.render import RENDERS_PROPERTY, render_links
from geo_platform.lib.types import DataKind
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource

CATALOG_GROUP = "catalog"
SILVER_ASSET = {"raster": "raster_cog", "vector": "vector_table"}


def _publish(
    store: BlobStore,
    pgstac: PgSTACResource,
    platform: PlatformResource,
    kind: DataKind,
    prepared: dict[str, list[dict[str, Any]]],
) -> dict[str, dict[str, Any] | Exception]:
    """One transaction for the whole run's files; the items go in as silver made them."""
    from geo_platform.workflows.catalog import publish_catalog

    by_source = {blob_for_partition_key(k): items for k, items in prepared.items()}
    with pgstac.connect() as conn:
        results = publish_catalog(
            conn, by_source, kind, store=store, silver_container=platform.silver_container
        )
    out: dict[str, dict[str, Any] | Exception] = {}
    for key in prepared:
        result = results[blob_for_partition_key(key)]
        if isinstance(result, Exception):  # refused alone: item names held, or pgstac said no
            out[key] = result
            continue
        meta: dict[str, Any] = {
            "geo_platform/stac_items": dg.MetadataValue.json(result.items),
            "items": len(result.items),
            "collections": sorted({i["collection"] for i in result.items}),
            "removed_stale_items": dg.MetadataValue.json(result.removed),
        }
        if result.dropped_tables:  # the tables of layers the file no longer has
            meta["dropped_stale_tables"] = dg.MetadataValue.json(result.dropped_tables)
        meta.update(_links(platform, kind, result.items))
        meta.update(_render_links(platform, result.published))
        if result.duplicate_of is not None:
            meta["duplicate_of"] = result.duplicate_of
        out[key] = meta
    return out


def _links(
    platform: PlatformResource, kind: DataKind, items: list[dict[str, str]]
) -> dict[str, Any]:
    """Where to look at the first item: the STAC API, tiles (rasters) or features (vectors).
    The URLs answer when `geo-platform serve` runs."""
    if not items:
        return {}
    first = items[0]
    stac, tiles = local_url(platform.stac_port), local_url(platform.tiler_port)
    if kind == "raster":
        links = item_links(stac, tiles, first["collection"], first["id"], asset="visualization")
    else:
        links = item_links(stac, tiles, first["collection"], first["id"])
        features = local_url(platform.features_port)
        links.update(features_links(features, platform.geo_schema, first["id"]))
    return {f"link_{name}": dg.MetadataValue.url(url) for name, url in links.items()}


def _render_links(platform: PlatformResource, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Map links of the first item's band combinations (multispectral rasters) in the tiler."""
    if not items:
        return {}
    item = items[0]
    renders = item.get("properties", {}).get(RENDERS_PROPERTY) or {}
    tiles = local_url(platform.tiler_port)
    links = render_links(tiles, str(item["collection"]), str(item["id"]), renders)
    return {f"link_render_{name}": dg.MetadataValue.url(url) for name, url in links.items()}


def _catalog_stage(kind: DataKind) -> Stage:
    def prepare(ctx: StageContext, _key: str, blob: str) -> list[dict[str, Any]]:
        from geo_platform.workflows.catalog import read_silver_items

        res = ctx.resources
        return read_silver_items(res.blob_store, res.platform.silver_container, blob)

    def commit(
        ctx: StageContext, prepared: dict[str, list[dict[str, Any]]]
    ) -> dict[str, dict[str, Any] | Exception]:
        res = ctx.resources
        return _publish(res.blob_store, res.pgstac, res.platform, kind, prepared)

    spec = dg.AssetSpec(
        f"{kind}_stac_item",
        deps=[SILVER_ASSET[kind]],
        group_name=CATALOG_GROUP,
        automation_condition=FOLLOW_UPSTREAM,
        kinds={"stac", "postgres"},
        description=(
            f"The STAC item(s) describing a published bronze {kind} file, in pgstac: validated "
            "offline against the official schemas, in a collection per dataset whose extents "
            "are kept up to date, with provenance back to the bronze blob and the run."
        ),
    )
    return Stage(
        spec, batched(prepare, commit), resources=frozenset({"blob_store", "pgstac", "platform"})
    )


raster_stac_item = _catalog_stage("raster")
vector_stac_item = _catalog_stage("vector")
