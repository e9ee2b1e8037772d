"""Publish a large single raster as tiles + MosaicJSON + one STAC item per tile, not one COG.

``workflows.publish_raster.publish_raster`` calls ``publish_tiled`` when the inspected raster is
above the tiling threshold. Silver layout in the blob's folder ``naming.silver_prefix(blob)``:
``tiles/<tile_id>.tif``, ``tiles.json`` (manifest: window, size, checksum per tile),
``mosaic.json`` and ``stac/<tile_id>.json`` (picked up by ``raster_stac_item`` as usual), plus
the visualization tier when requested and possible (``visual/<tile_id>.tif`` 8-bit JPEG COGs
with one stretch for the whole raster, ``visual.json``, ``mosaic-visual.json``) and
``thumbnail.png`` of the whole raster (see ``lib/raster/tiling/visual.py``).
Published with ``replace_outputs`` (staged, then moved; stale single-COG outputs removed).

Tiles are built in a per-blob work folder under ``work_root`` that survives a failed run
(``GEO_PLATFORM_TILING_WORK_DIR``; empty: the system temp dir): the re-run rebuilds only
missing or damaged tiles.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from geo_platform.lib import naming, stac_ext
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
from geo_platform.lib.types import BlobInfo, Provenance
from geo_platform.store.blobs.base import BlobStore
from geo_platform.store.silver import STAC_FOLDER, replace_outputs

MOSAIC_FILE = "mosaic.json"
VISUAL_MOSAIC_FILE = "mosaic-visual.json"
_LOG = logging.getLogger(__name__)

Href = Callable[[str], str]


@dataclass(frozen=True)
class TiledPublished:
    """A large raster published as tiles: its tile items, mosaics (asset name -> href: ``mosaic``
    and, with visual tiles, ``mosaic-visual``), the hrefs of the silver blobs written (tiles,
    visual tiles, manifests, mosaics, items, thumbnail), run metadata (JSON-able values;
    ``*_href`` keys are hrefs; ``geo_platform/blobs`` lists ``blobs``, as for a single COG), check
    verdicts by check name, and the bronze file whose content this one repeats
    (``duplicates="publish"``: built in full, items flagged)."""

    blob: str
    collection_id: str
    item_ids: tuple[str, ...]
    mosaics: dict[str, str]
    published_blobs: int
    metadata: dict[str, Any]
    checks: dict[str, tuple[bool, str]]
    duplicate_of: str | None = None
    blobs: tuple[str, ...] = ()


def publish_tiled(
    store: BlobStore,
    *,
    silver_container: str,
    blob: str,
    bronze: BlobInfo,
    local: Path,
    info: RasterInfo,
    provenance: Provenance,
    options: TilingOptions,
    raster: RasterOptions | None = None,
    work_root: str = "",
    duplicate_of: str | None = None,
    log: logging.Logger | None = None,
) -> TiledPublished:
    """Tile ``local`` (bronze ``blob``), build the visual tiles, thumbnail, mosaics and per-tile
    items, publish to silver. ``raster`` (the blob's raster options; defaults when None) decides
    whether the visualization tier is built (``tiers``) and how it looks, and the CRS of the
    tiles (``target_crs``; ``web_optimized``: EPSG:3857 on the web-map zoom grid).
    ``duplicate_of``: the bronze file whose content this one repeats, flagged on every item."""
    log = log or _LOG
    prefix = naming.silver_prefix(blob)
    work = local_work_dir(work_root, f"tiles:{blob}")
    result, visual = _build(local, work, blob, bronze, info, options, raster, log)

    def href(rel: str) -> str:
        return store.href(silver_container, f"{prefix}/{rel}")

    files = _local_files(result, visual)
    mosaic, mosaics = _write_mosaics(work, files, result, visual, href, blob)
    items = _write_items(
        work,
        files,
        result,
        visual,
        mosaics,
        href,
        collection_id=naming.collection_id(blob),
        provenance=provenance,
        when=info.datetime or bronze.last_modified or datetime.now(UTC),
        duplicate_of=duplicate_of,
    )
    published = replace_outputs(store, silver_container, blob, files)
    shutil.rmtree(work, ignore_errors=True)  # published: the next version starts afresh
    blobs = tuple(href(rel) for rel in published)
    meta = _metadata(result, visual, info, mosaic, mosaics, len(published))
    meta["geo_platform/blobs"] = list(blobs)  # what ingest reports, as for a single COG
    return TiledPublished(
        blob=blob,
        collection_id=naming.collection_id(blob),
        item_ids=tuple(items),
        mosaics=mosaics,
        published_blobs=len(published),
        metadata=meta,
        checks=_checks(result, visual),
        duplicate_of=duplicate_of,
        blobs=blobs,
    )


def _build(
    local: Path,
    work: Path,
    blob: str,
    bronze: BlobInfo,
    info: RasterInfo,
    options: TilingOptions,
    raster: RasterOptions | None,
    log: logging.Logger,
) -> tuple[TilingResult, VisualResult]:
    """The lossless tiles (reusing intact ones from an earlier run) and the visual tiles."""
    result = tile_raster(
        local,
        work,
        naming.item_id(blob),
        options,
        info=info,
        source_fingerprint=bronze.etag,
        on_tile=lambda t: log.debug(f"tile {t.spec.tile_id} done"),
        reprojection=Reprojection.from_options(raster, info),
    )
    if result.skipped:
        log.info(f"{len(result.skipped)} tiles outside the warped data skipped")
    visual = build_visual_tier(
        result,
        raster,
        options,
        name=blob,
        on_tile=lambda t: log.debug(f"visual tile {t.spec.tile_id} done"),
        palette_source=info.gdal_path,
    )
    if visual.skipped_reason:
        log.info(f"visualization tier skipped: {visual.skipped_reason}")
    return result, visual


def _local_files(result: TilingResult, visual: VisualResult) -> dict[str, Path]:
    """Silver name -> local file of the tiles, visual tiles, manifests and thumbnail."""
    files: dict[str, Path] = {t.spec.filename: t.path for t in result.tiles}
    files[MANIFEST_NAME] = result.manifest
    files.update({visual_filename(t.spec.tile_id): t.path for t in visual.tiles})
    files[VISUAL_MANIFEST] = visual.manifest
    if visual.thumbnail is not None:
        files[THUMBNAIL_NAME] = visual.thumbnail
    return files


def _write_mosaics(
    work: Path,
    files: dict[str, Path],
    result: TilingResult,
    visual: VisualResult,
    href: Href,
    blob: str,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Write the MosaicJSON of the tiles (and of the visual tiles, if any) into ``work``, add them
    to ``files``; return the tiles' mosaic and the mosaic hrefs by asset name."""
    mosaic = _write_mosaic(work / MOSAIC_FILE, result, lambda t: href(t.spec.filename), blob)
    files[MOSAIC_FILE] = work / MOSAIC_FILE
    mosaics = {"mosaic": href(MOSAIC_FILE)}
    if visual.tiles:
        visual_href = {t.spec.tile_id: href(visual_filename(t.spec.tile_id)) for t in visual.tiles}
        path = work / VISUAL_MOSAIC_FILE
        _write_mosaic(path, result, lambda t: visual_href[t.spec.tile_id], f"{blob} (visual)")
        files[VISUAL_MOSAIC_FILE] = path
        mosaics["mosaic-visual"] = href(VISUAL_MOSAIC_FILE)
    return mosaic, mosaics


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


def _write_items(
    work: Path,
    files: dict[str, Path],
    result: TilingResult,
    visual: VisualResult,
    mosaics: dict[str, str],
    href: Href,
    *,
    collection_id: str,
    provenance: Provenance,
    when: datetime,
    duplicate_of: str | None,
) -> list[str]:
    """Write one STAC item per tile into ``work/stac`` and add them to ``files``; return the ids.
    Every item links the ``mosaics`` (asset name -> href)."""
    visual_tiles = {t.spec.tile_id: t for t in visual.tiles}
    (work / STAC_FOLDER).mkdir(exist_ok=True)
    ids = []
    for tile in result.tiles:
        item = build_tile_item(
            tile,
            result,
            collection_id=collection_id,
            href=href(tile.spec.filename),
            provenance=provenance,
            when=when,
            nodata=result.nodata,
            extras=_tile_assets(visual_tiles.get(tile.spec.tile_id), visual, href, mosaics),
        )
        if duplicate_of is not None:
            item["properties"][stac_ext.DUPLICATE_OF_SOURCE] = duplicate_of
        rel = f"{STAC_FOLDER}/{tile.spec.tile_id}.json"
        files[rel] = work / rel
        files[rel].write_text(json.dumps(item))
        ids.append(item["id"])
    return ids


def _tile_assets(
    tile: TileOutput | None,
    visual: VisualResult,
    href: Href,
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


def _metadata(
    result: TilingResult,
    visual: VisualResult,
    info: RasterInfo,
    mosaic: dict[str, Any],
    mosaics: dict[str, str],
    published: int,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "tiled": True,
        "tiles": len(result.tiles),
        "tiles_built": len(result.built),
        "tiles_reused": len(result.reused),
        "tile_step": result.tile_step,
        "width": info.width,
        "height": info.height,
        "crs": result.target_crs or info.crs_code or "custom WKT",
        "tiles_skipped_empty": len(result.skipped),
        "mosaic_href": mosaics["mosaic"],
        "mosaic_quadkeys": len(mosaic["tiles"]),
        "tiles_bytes": sum(t.size_bytes for t in result.tiles),
        "visualization": visual.skipped_reason or visual.rule or "",
        "visual_tiles_built": len(visual.built),
        "visual_tiles_reused": len(visual.reused),
        "visual_tiles_bytes": sum(t.size_bytes for t in visual.tiles),
        "thumbnail": visual.thumbnail is not None,
        "timings_s": {**result.timings, **visual.timings},
        "published_blobs": published,
    }
    if "mosaic-visual" in mosaics:
        meta["visual_mosaic_href"] = mosaics["mosaic-visual"]
    return meta


def _checks(result: TilingResult, visual: VisualResult) -> dict[str, tuple[bool, str]]:
    """``tile_raster`` and ``build_visual_tier`` validate every tile (``validate_cog``) and
    ``build_tile_item`` every item (offline schemas) before anything is published."""
    cogs = len(result.tiles) + len(visual.tiles)
    return {
        "cog_valid": (True, f"cog_validate passed for {cogs} tiles (lossless and visual)"),
        "stac_item_valid": (True, f"{len(result.tiles)} tile items valid (offline schemas)"),
    }
