"""Large single rasters: tiles + MosaicJSON + one STAC item per tile, instead of one COG.

Called by ``raster_cog`` (defs/raster/assets.py ``_publish_raster``) when the inspected raster is
above the tiling threshold. Silver layout in the blob's folder ``naming.silver_prefix(blob)``:
``tiles/<tile_id>.tif``, ``tiles.json`` (manifest: window, size, checksum per tile),
``mosaic.json`` and ``stac/<tile_id>.json`` (picked up by ``raster_stac_item`` as usual).
Published with ``replace_outputs`` (staged, then moved; stale single-COG outputs removed).

Tiles are built in a per-blob work folder that survives a failed run (see
``GEO_PLATFORM_TILING_WORK_DIR``): the re-run rebuilds only missing or damaged tiles.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from geo_platform.defs.common import Outcome
from geo_platform.defs.silver import STAC_FOLDER, provenance_for, replace_outputs
from geo_platform.lib import naming
from geo_platform.lib.raster.collection import local_work_dir
from geo_platform.lib.raster.inspect import RasterInfo
from geo_platform.lib.raster.mosaic import MOSAIC_MEDIA_TYPE, build_mosaic, sources_from_tiling
from geo_platform.lib.raster.tiling import MANIFEST_NAME, TilingOptions, tile_raster
from geo_platform.lib.stac.tile_item import build_tile_item
from geo_platform.lib.types import BlobInfo
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PlatformResource
from geo_platform.settings import load_settings

MOSAIC_FILE = "mosaic.json"


def tiling_options(overrides: dict[str, Any] | None = None) -> TilingOptions:
    """Tiling options from settings (GEO_PLATFORM_TILING_*) with run-config overrides."""
    s = load_settings()
    base = {"threshold_pixels": s.tiling_threshold_pixels, "tile_size": s.tiling_tile_size}
    return TilingOptions.from_mapping({**base, **(overrides or {})})


def publish_large_raster(
    context: dg.AssetExecutionContext,
    store: BlobStore,
    platform: PlatformResource,
    blob: str,
    bronze: BlobInfo,
    local: Path,
    info: RasterInfo,
    options: TilingOptions | None = None,
) -> Outcome:
    """Tile ``local`` (bronze ``blob``), build the mosaic and per-tile items, publish to silver."""
    options = options or tiling_options()
    prefix = naming.silver_prefix(blob)
    item_id = naming.item_id(blob)
    collection = naming.collection_id(blob)
    work = local_work_dir(load_settings().tiling_work_dir, f"tiles:{blob}")
    result = tile_raster(
        local,
        work,
        item_id,
        options,
        info=info,
        source_fingerprint=bronze.etag,
        on_tile=lambda t: context.log.debug(f"tile {t.spec.tile_id} done"),
    )
    href = {
        t.spec.tile_id: store.href(platform.silver_container, f"{prefix}/{t.spec.filename}")
        for t in result.tiles
    }
    mosaic_href = store.href(platform.silver_container, f"{prefix}/{MOSAIC_FILE}")
    mosaic = build_mosaic(
        sources_from_tiling(result, lambda t: href[t.spec.tile_id]),
        name=item_id,
        description=f"Tiles of {blob}",
    )
    provenance = provenance_for(context, store, platform, blob, bronze, local)
    when = info.datetime or bronze.last_modified or datetime.now(UTC)
    files: dict[str, Path] = {t.spec.filename: t.path for t in result.tiles}
    files[MANIFEST_NAME] = result.manifest
    (work / MOSAIC_FILE).write_text(json.dumps(mosaic))
    files[MOSAIC_FILE] = work / MOSAIC_FILE
    stac_dir = work / STAC_FOLDER
    stac_dir.mkdir(exist_ok=True)
    for tile in result.tiles:
        item = build_tile_item(
            tile,
            result,
            collection_id=collection,
            href=href[tile.spec.tile_id],
            provenance=provenance,
            when=when,
            nodata=info.nodata,
        )
        item["assets"]["mosaic"] = {
            "href": mosaic_href,
            "type": MOSAIC_MEDIA_TYPE,
            "roles": ["mosaic"],
            "title": "MosaicJSON of all tiles",
        }
        path = stac_dir / f"{tile.spec.tile_id}.json"
        path.write_text(json.dumps(item))
        files[f"{STAC_FOLDER}/{tile.spec.tile_id}.json"] = path
    published = replace_outputs(store, platform.silver_container, blob, files)
    shutil.rmtree(work, ignore_errors=True)  # published: the next version starts afresh
    meta = {
        "tiled": True,
        "tiles": len(result.tiles),
        "tiles_built": len(result.built),
        "tiles_reused": len(result.reused),
        "tile_step": result.tile_step,
        "width": info.width,
        "height": info.height,
        "crs": info.crs_code or "custom WKT",
        "mosaic_href": dg.MetadataValue.path(mosaic_href),
        "mosaic_quadkeys": len(mosaic["tiles"]),
        "tiles_bytes": sum(t.size_bytes for t in result.tiles),
        "timings_s": dg.MetadataValue.json(result.timings),
        "published_blobs": len(published),
    }
    checks = {
        "cog_valid": (True, f"cog_validate passed for {len(result.tiles)} tiles"),
        "stac_item_valid": (True, f"{len(result.tiles)} tile items valid (offline schemas)"),
    }
    return Outcome(meta, checks)
