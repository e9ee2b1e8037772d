"""Large single rasters: tiles + MosaicJSON + one STAC item per tile, instead of one COG.

Called by ``raster_cog`` (defs/raster/assets.py ``_publish_raster``) when the inspected raster is
above the tiling threshold. Silver layout in the blob's folder ``naming.silver_prefix(blob)``:
``tiles/<tile_id>.tif``, ``tiles.json`` (manifest: window, size, checksum per tile),
``mosaic.json`` and ``stac/<tile_id>.json`` (picked up by ``raster_stac_item`` as usual), plus
the visualization tier when requested and possible (``visual/<tile_id>.tif`` 8-bit JPEG COGs
with one stretch for the whole raster, ``visual.json``, ``mosaic-visual.json``) and
``thumbnail.png`` of the whole raster (see ``lib/raster/tiling/visual.py``).
Published with ``replace_outputs`` (staged, then moved; stale single-COG outputs removed).

Tiles are built in a per-blob work folder that survives a failed run (see
``GEO_PLATFORM_TILING_WORK_DIR``): the re-run rebuilds only missing or damaged tiles.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from geo_platform.defs.common import Outcome
from geo_platform.lib import naming
from geo_platform.lib.raster.collection import local_work_dir
from geo_platform.lib.raster.inspect import RasterInfo
from geo_platform.lib.raster.mosaic import build_mosaic, sources_from_tiling
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.tiling import (
    MANIFEST_NAME,
    Reprojection,
    TileOutput,
    TilingOptions,
    TilingResult,
    tile_raster,
)
from geo_platform.lib.raster.tiling.visual import (
    THUMBNAIL_NAME,
    VISUAL_MANIFEST,
    VisualResult,
    build_visual_tier,
    visual_filename,
)
from geo_platform.lib.stac.tile_item import TileAssets, build_tile_item
from geo_platform.lib.types import BlobInfo
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PlatformResource
from geo_platform.settings import load_settings
from geo_platform.store.silver import STAC_FOLDER, provenance_for, replace_outputs

MOSAIC_FILE = "mosaic.json"
VISUAL_MOSAIC_FILE = "mosaic-visual.json"


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
    raster: RasterOptions | None = None,
) -> Outcome:
    """Tile ``local`` (bronze ``blob``), build the visual tiles, thumbnail, mosaics and per-tile
    items, publish to silver. ``raster`` (the blob's raster options; defaults when None) decides
    whether the visualization tier is built (``tiers``) and how it looks, and the CRS of the
    tiles (``target_crs``; ``web_optimized``: EPSG:3857 on the web-map zoom grid)."""
    options = options or tiling_options()
    prefix = naming.silver_prefix(blob)
    work = local_work_dir(load_settings().tiling_work_dir, f"tiles:{blob}")
    result = tile_raster(
        local,
        work,
        naming.item_id(blob),
        options,
        info=info,
        source_fingerprint=bronze.etag,
        on_tile=lambda t: context.log.debug(f"tile {t.spec.tile_id} done"),
        reprojection=Reprojection.from_options(raster, info),
    )
    if result.skipped:
        context.log.info(f"{len(result.skipped)} tiles outside the warped data skipped")
    visual = build_visual_tier(
        result,
        raster,
        options,
        name=blob,
        on_tile=lambda t: context.log.debug(f"visual tile {t.spec.tile_id} done"),
    )
    if visual.skipped_reason:
        context.log.info(f"visualization tier skipped: {visual.skipped_reason}")

    def href(rel: str) -> str:
        return store.href(platform.silver_container, f"{prefix}/{rel}")

    files = _local_files(result, visual)
    mosaic = _write_mosaic(work / MOSAIC_FILE, result, lambda t: href(t.spec.filename), blob)
    files[MOSAIC_FILE] = work / MOSAIC_FILE
    mosaics = {"mosaic": href(MOSAIC_FILE)}
    if visual.tiles:
        visual_href = {t.spec.tile_id: href(visual_filename(t.spec.tile_id)) for t in visual.tiles}
        path = work / VISUAL_MOSAIC_FILE
        _write_mosaic(path, result, lambda t: visual_href[t.spec.tile_id], f"{blob} (visual)")
        files[VISUAL_MOSAIC_FILE] = path
        mosaics["mosaic-visual"] = href(VISUAL_MOSAIC_FILE)
    provenance = provenance_for(context, store, platform, blob, bronze, local)
    when = info.datetime or bronze.last_modified or datetime.now(UTC)
    visual_tiles = {t.spec.tile_id: t for t in visual.tiles}
    for tile in result.tiles:
        item = build_tile_item(
            tile,
            result,
            collection_id=naming.collection_id(blob),
            href=href(tile.spec.filename),
            provenance=provenance,
            when=when,
            nodata=result.nodata,
            extras=_tile_assets(visual_tiles.get(tile.spec.tile_id), visual, href, mosaics),
        )
        rel = f"{STAC_FOLDER}/{tile.spec.tile_id}.json"
        files[rel] = work / rel
        files[rel].parent.mkdir(exist_ok=True)
        files[rel].write_text(json.dumps(item))
    published = replace_outputs(store, platform.silver_container, blob, files)
    shutil.rmtree(work, ignore_errors=True)  # published: the next version starts afresh
    return _outcome(result, visual, info, mosaic, mosaics, len(published))


def _local_files(result: TilingResult, visual: VisualResult) -> dict[str, Path]:
    """Silver name -> local file of the tiles, visual tiles, manifests and thumbnail."""
    files: dict[str, Path] = {t.spec.filename: t.path for t in result.tiles}
    files[MANIFEST_NAME] = result.manifest
    files.update({visual_filename(t.spec.tile_id): t.path for t in visual.tiles})
    files[VISUAL_MANIFEST] = visual.manifest
    if visual.thumbnail is not None:
        files[THUMBNAIL_NAME] = visual.thumbnail
    return files


def _tile_assets(
    tile: TileOutput | None,
    visual: VisualResult,
    href: Callable[[str], str],
    mosaics: dict[str, str],
) -> TileAssets:
    """The visualization (``tile``: this tile's visual COG, if any), thumbnail and mosaic
    assets of one tile item."""
    return TileAssets(
        visual=tile,
        visual_href=href(visual_filename(tile.spec.tile_id)) if tile else None,
        visual_bands=visual.band_names,
        visual_rule=visual.rule if tile else None,
        thumbnail_href=href(THUMBNAIL_NAME) if visual.thumbnail else None,
        mosaics=mosaics,
    )


def _write_mosaic(
    path: Path, result: TilingResult, href_for: Callable[[TileOutput], str], title: str
) -> dict[str, Any]:
    """Write the MosaicJSON of ``result``'s grid with each tile's href from ``href_for``."""
    mosaic = build_mosaic(
        sources_from_tiling(result, href_for),
        name=result.item_id,
        description=f"Tiles of {title}",
    )
    path.write_text(json.dumps(mosaic))
    return mosaic


def _outcome(
    result: TilingResult,
    visual: VisualResult,
    info: RasterInfo,
    mosaic: dict[str, Any],
    mosaics: dict[str, str],
    published: int,
) -> Outcome:
    meta = {
        "tiled": True,
        "tiles": len(result.tiles),
        "tiles_built": len(result.built),
        "tiles_reused": len(result.reused),
        "tile_step": result.tile_step,
        "width": info.width,
        "height": info.height,
        "crs": result.target_crs or info.crs_code or "custom WKT",
        "tiles_skipped_empty": len(result.skipped),
        "mosaic_href": dg.MetadataValue.path(mosaics["mosaic"]),
        "mosaic_quadkeys": len(mosaic["tiles"]),
        "tiles_bytes": sum(t.size_bytes for t in result.tiles),
        "visualization": visual.skipped_reason or visual.rule or "",
        "visual_tiles_built": len(visual.built),
        "visual_tiles_reused": len(visual.reused),
        "visual_tiles_bytes": sum(t.size_bytes for t in visual.tiles),
        "thumbnail": visual.thumbnail is not None,
        "timings_s": dg.MetadataValue.json({**result.timings, **visual.timings}),
        "published_blobs": published,
    }
    if "mosaic-visual" in mosaics:
        meta["visual_mosaic_href"] = dg.MetadataValue.path(mosaics["mosaic-visual"])
    cogs = len(result.tiles) + len(visual.tiles)
    checks = {
        "cog_valid": (True, f"cog_validate passed for {cogs} tiles (lossless and visual)"),
        "stac_item_valid": (True, f"{len(result.tiles)} tile items valid (offline schemas)"),
    }
    return Outcome(meta, checks)
