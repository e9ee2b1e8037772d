"""Silver rasters: every bronze raster as Cloud-Optimized GeoTIFF tiers plus its STAC item JSON."""

import base64
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg

from geo_platform.defs.bronze.assets import bronze_local_copy, bronze_raster
from geo_platform.defs.bronze.partitions import bronze_raster_partitions
from geo_platform.defs.common import BATCH_POLICY, TRANSIENT_RETRY, Outcome, each_partition
from geo_platform.lib import naming
from geo_platform.lib.errors import NotFoundError, ValidationError
from geo_platform.lib.quality.checks import raster_checks, raster_quality
from geo_platform.lib.raster.cog import build_cog_tiers
from geo_platform.lib.raster.inspect import inspect_raster
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.tiling import needs_tiling
from geo_platform.lib.rules import options_for, parse_rules
from geo_platform.lib.stac.collection import with_collection_link
from geo_platform.lib.stac.completeness import (
    COMPLETENESS_PROPERTY,
    MISSING_PROPERTY,
    with_completeness,
)
from geo_platform.lib.stac.raster_item import build_raster_item
from geo_platform.lib.stac.render import RENDERS_PROPERTY, apply_renders
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource
from geo_platform.store.quality import collection_consistency
from geo_platform.store.silver import STAC_FOLDER, provenance_for, replace_outputs
from geo_platform.workflows.dedupe import link_duplicate, raster_item_ids
from geo_platform.workflows.publish_tiled import publish_large_raster, tiling_options

SILVER_GROUP = "silver"


class RasterRunConfig(dg.Config):
    """Run-time overrides of the per-prefix raster rules (GEO_PLATFORM_RASTER_RULES)."""

    tiers: list[str] | None = None
    target_crs: str | None = None
    web_optimized: bool | None = None
    resampling: str | None = None


def raster_options(platform: PlatformResource, blob: str, config: RasterRunConfig) -> RasterOptions:
    merged = options_for(
        blob, parse_rules(platform.raster_rules, "GEO_PLATFORM_RASTER_RULES"), config.model_dump()
    )
    if "tiers" in merged:
        merged["tiers"] = tuple(merged["tiers"])
    return RasterOptions.from_mapping(merged)


def _thumbnail_markdown(path: Path | None) -> str:
    if path is None or not path.is_file() or path.stat().st_size > 200_000:
        return "(no preview)"
    data = base64.b64encode(path.read_bytes()).decode()
    return f"![preview](data:image/png;base64,{data})"


def _publish_raster(
    context: dg.AssetExecutionContext,
    store: BlobStore,
    pgstac: PgSTACResource,
    platform: PlatformResource,
    config: RasterRunConfig,
    blob: str,
) -> Outcome:
    info = store.stat(platform.bronze_container, blob)
    if info is None:
        raise NotFoundError("the bronze blob no longer exists", path=blob)
    options = raster_options(platform, blob, config)
    prefix = naming.silver_prefix(blob)
    item_id = naming.item_id(blob)
    collection = naming.collection_id(blob)
    with (
        tempfile.TemporaryDirectory(prefix="cog-") as tmp,
        bronze_local_copy(store, platform.bronze_container, blob) as local,
    ):
        provenance = provenance_for(context, store, platform, blob, info, local)
        with pgstac.lookups() as conn:
            duplicate = link_duplicate(
                store,
                conn,
                silver_container=platform.silver_container,
                mode=platform.duplicates,
                provenance=provenance,
                collection_id=collection,
                item_id_for=raster_item_ids(blob),
            )
        if duplicate is not None:
            note = f"duplicate of {duplicate['duplicate_of']}: nothing built, pointer item"
            return Outcome(duplicate, {"cog_valid": (True, note), "stac_item_valid": (True, note)})
        raster_info = inspect_raster(
            local,
            blob,
            max_bytes=options.max_bytes,
            max_pixels=options.max_pixels,
            assume_crs=options.assume_crs,
        )
        tiling = tiling_options()
        if needs_tiling(raster_info, tiling):
            # Very large rasters: a grid of COG tiles, a MosaicJSON and an item per tile.
            return publish_large_raster(
                context, store, platform, blob, info, local, raster_info, tiling, options
            )
        result = build_cog_tiers(local, Path(tmp), options, name=blob, info=raster_info)
        files: dict[str, Path] = {
            f"{t.tier}.tif": t.path
            for t in result.tiers.values()
            if t.skipped_reason is None and t.path is not None
        }
        if result.thumbnail is not None:
            files["thumbnail.png"] = result.thumbnail
        hrefs = {
            rel.rsplit(".", 1)[0]: store.href(platform.silver_container, f"{prefix}/{rel}")
            for rel in files
        }
        item = build_raster_item(
            result,
            item_id=item_id,
            collection_id=collection,
            hrefs=hrefs,
            provenance=provenance,
            source_size=info.size,
            source_last_modified=info.last_modified,
            validate=False,  # validated once, below, as the stac_item_valid check
        )
        item_dict = with_completeness(apply_renders(with_collection_link(item.to_dict())))
        checks = _checks(result, item_dict)
        item_path = Path(tmp) / "item.json"
        item_path.write_text(json.dumps(item_dict, indent=1))
        files[f"{STAC_FOLDER}/{item_id}.json"] = item_path
        if not all(ok for ok, _ in checks.values()):
            raise ValidationError(
                "outputs failed validation: " + "; ".join(w for ok, w in checks.values() if not ok),
                path=blob,
            )
        quality = raster_quality(result.info, result.grid, result.band_stats)
        with pgstac.lookups() as conn:
            consistency = collection_consistency(
                conn,
                collection,
                proj_code=result.grid.crs_code,
                wkt2=result.grid.crs_wkt2,
                resolution=result.grid.resolution,
                exclude_item=item_id,
            )
        checks.update(raster_checks(quality, consistency))
        preview = _thumbnail_markdown(result.thumbnail)
        published = replace_outputs(store, platform.silver_container, blob, files)
    meta = _raster_metadata(result, published, hrefs, collection, item_id, preview, store, platform)
    props = item_dict["properties"]
    meta.update(quality.metadata())
    meta.update(consistency.metadata())
    meta["quality/completeness"] = props[COMPLETENESS_PROPERTY]
    meta["completeness_missing"] = dg.MetadataValue.json(props[MISSING_PROPERTY])
    if props.get(RENDERS_PROPERTY):
        meta["renders"] = dg.MetadataValue.json(props[RENDERS_PROPERTY])
    return Outcome(meta, checks)


def _checks(result: Any, item: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    """Verdicts recorded as asset checks. ``build_cog_tiers`` runs rio-cogeo's cog_validate on
    every tier and raises before anything is published, so a tier that exists here is valid."""
    tiers = [t.tier for t in result.tiers.values() if t.path is not None and not t.skipped_reason]
    try:
        validate_stac(item)
        stac = (True, "valid against the official schemas (offline)")
    except ValidationError as exc:
        stac = (False, exc.message)
    cog = (bool(tiers), f"cog_validate passed for {', '.join(tiers)}")
    return {"cog_valid": cog, "stac_item_valid": stac}


def _raster_metadata(
    result: Any,
    published: dict[str, Any],
    hrefs: dict[str, str],
    collection: str,
    item_id: str,
    preview: str,
    store: BlobStore,
    platform: PlatformResource,
) -> dict[str, Any]:
    ri = result.info
    meta: dict[str, Any] = {
        "preview": dg.MetadataValue.md(preview),
        "crs": ri.crs_code or "custom WKT",
        "width": ri.width,
        "height": ri.height,
        "bands": ri.count,
        "dtype": ri.dtypes[0],
        "bbox_4326": dg.MetadataValue.json(list(result.footprint.bbox)),
        "stac_item": f"{collection}/{item_id}",
        "geo_platform/blobs": dg.MetadataValue.json(
            [store.href(platform.silver_container, b.path) for b in published.values()]
        ),
    }
    source_size = max(ri.file_size, 1)
    for t in result.tiers.values():
        if t.skipped_reason is not None or t.tier not in hrefs:
            meta[f"{t.tier}_skipped"] = t.skipped_reason
            continue
        meta[f"{t.tier}_bytes"] = t.size_bytes
        meta[f"{t.tier}_compression"] = t.compression
        meta[f"{t.tier}_ratio_vs_source"] = round(t.size_bytes / source_size, 4)
        meta[f"{t.tier}_href"] = dg.MetadataValue.path(hrefs[t.tier])
    return meta


@dg.asset(
    group_name=SILVER_GROUP,
    partitions_def=bronze_raster_partitions,
    deps=[bronze_raster],
    backfill_policy=BATCH_POLICY,
    retry_policy=TRANSIENT_RETRY,
    output_required=False,
    automation_condition=dg.AutomationCondition.eager(),
    kinds={"cog", "blob"},
    check_specs=[
        dg.AssetCheckSpec(
            "cog_valid",
            asset="raster_cog",
            blocking=True,
            description="Every published tier passes rio-cogeo's cog_validate.",
        ),
        dg.AssetCheckSpec(
            "stac_item_valid",
            asset="raster_cog",
            blocking=True,
            description="The STAC item validates against the official schemas.",
        ),
        dg.AssetCheckSpec(
            "raster_plausible",
            asset="raster_cog",
            description="Valid pixels present, statistics plausible (not all zero, no NaN in "
            "integer data), CRS and pixel size present.",
        ),
        dg.AssetCheckSpec(
            "collection_consistent",
            asset="raster_cog",
            description="Same CRS and resolution as the other rasters of its collection.",
        ),
    ],
    description=(
        "Cloud-Optimized GeoTIFFs made from one bronze raster, in tiers: 'analysis' (lossless, "
        "original data type, nodata and masks kept), 'visualization' (8-bit JPEG for web maps) "
        "and 'archive' (lossless, every tag kept), plus a thumbnail and the STAC item JSON. Each "
        "COG is validated before it is moved into place; a failed file publishes nothing."
    ),
)
def raster_cog(
    context: dg.AssetExecutionContext,
    config: RasterRunConfig,
    blob_store: dg.ResourceParam[BlobStore],
    pgstac: PgSTACResource,
    platform: PlatformResource,
) -> Iterator[dg.AssetMaterialization]:
    with pgstac.lookup_session():  # one connection for every file's catalog lookups
        yield from each_partition(
            context,
            lambda _k, blob: _publish_raster(context, blob_store, pgstac, platform, config, blob),
        )
