"""The visualization tier and the thumbnail of a tiled raster (companion of ``build.py``).

Why: a tiled large raster is one dataset, so its picture must be one picture. Rendering each
tile with its own stretch would make seams at every tile edge; instead there is ONE render plan
(``render.py`` rules: palette expanded, 8-bit RGB/grey passed through, anything else stretched
2nd-98th percentile) for the whole raster, and every tile applies it.

- **Global sample**: a VRT mosaic of the finished lossless tiles (``write_mosaic_vrt``: no pixel
  copied) read decimated by ``sample_raster``. Each tile serves its part of the ~1024-pixel
  sample from its own internal overviews, so the sample costs a few small reads per tile.
- **Visual tiles**: ``visual/<tile_id>.tif`` (same ids and windows as the lossless tiles), an
  8-bit JPEG COG (quality and blocksize as the single-COG visualization tier, validity as an
  internal mask) built by GDAL's COG driver from the lossless tile through the render VRT, which
  reuses the lossless overviews. Built in the same bounded process pool as the lossless tiles
  (``build.run_tile_jobs``) and validated with ``validate_cog``.
- **Skipped** with a reason when the visualization is not requested or the plan has no natural
  picture (e.g. many bands without RGB interpretation); the reason is recorded in the manifest.
- **Thumbnail**: ``thumbnail.png`` of the whole raster, read through the render VRT over the
  mosaic VRT (hence from the tiles' overviews); when there is no natural picture it previews band
  1 stretched, as for single COGs.
- **Resume**: ``visual.json`` lists finished visual tiles with the checksum of the lossless tile
  each was made from, keyed to a fingerprint of the render plan and JPEG settings. A re-run
  reuses a visual tile when its lossless tile, the plan and its own file (size, checksum) still
  agree; a changed plan (e.g. new source data) rebuilds all of them, keeping the seams right.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import rasterio
from affine import Affine
from rasterio.dtypes import dtype_rev, typename_fwd

from geo_platform.lib.raster.cog_steps import gdal_env, multihash_sha256, translate
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.render import Layout, RenderPlan, plan_render, write_render_vrt
from geo_platform.lib.raster.stats import RasterSample, sample_raster
from geo_platform.lib.raster.thumbnail import write_thumbnail
from geo_platform.lib.raster.tiling.build import TilingResult, run_tile_jobs
from geo_platform.lib.raster.tiling.manifest import JsonManifest, tile_intact
from geo_platform.lib.raster.tiling.plan import TileOutput, TileSpec, TilingError, TilingOptions
from geo_platform.lib.raster.validate import validate_cog

VISUAL_FOLDER = "visual"
VISUAL_MANIFEST = "visual.json"
THUMBNAIL_NAME = "thumbnail.png"
VISUAL_MANIFEST_VERSION = 1


def visual_filename(tile_id: str) -> str:
    """Path of a tile's visual COG relative to the tiling folder (and the silver folder)."""
    return f"{VISUAL_FOLDER}/{tile_id}.tif"


@dataclass(frozen=True)
class VisualResult:
    """The visual tiles (same order as the lossless tiles; empty when skipped) and thumbnail."""

    tiles: tuple[TileOutput, ...]
    plan: RenderPlan | None
    rule: str | None
    skipped_reason: str | None
    band_names: tuple[str, ...]
    thumbnail: Path | None
    manifest: Path
    timings: dict[str, float]

    @property
    def skipped(self) -> bool:
        return self.skipped_reason is not None

    @property
    def built(self) -> list[str]:
        return [t.spec.tile_id for t in self.tiles if not t.reused]

    @property
    def reused(self) -> list[str]:
        return [t.spec.tile_id for t in self.tiles if t.reused]


def build_visual_tier(
    result: TilingResult,
    raster: RasterOptions | None = None,
    tiling: TilingOptions | None = None,
    *,
    name: str = "",
    on_tile: Callable[[TileOutput], None] | None = None,
    palette_source: str | None = None,
) -> VisualResult:
    """Build the visual tiles and the thumbnail of ``result`` next to its lossless tiles.
    ``palette_source``: the raster the tiles were cut from, whose palette's transparent
    entries the tiles (GeoTIFFs, whose colour tables have no alpha) lost (``render.Layout``).

    ``raster`` supplies ``tiers`` (visualization only when listed), ``stretch_percentiles``,
    ``visual_bands``, ``jpeg_quality`` and ``thumbnail_size``; ``tiling`` the pool size, block
    size, cache and validation. Raises ``TilingError`` listing failed tiles after the others
    finished (a re-run builds only those)."""
    raster = raster or RasterOptions()
    tiling = tiling or TilingOptions()
    out_dir = result.manifest.parent
    timings: dict[str, float] = {}
    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=".visual-work-", dir=out_dir))
    try:
        mosaic_vrt = write_mosaic_vrt(result, work / "mosaic.vrt")
        sample = sample_raster(str(mosaic_vrt), raster.stretch_percentiles)
        with rasterio.open(result.tiles[0].path) as ds:
            layout = Layout.of(ds, palette_source=palette_source)
        plan = plan_render(layout, sample, raster.visual_bands)
        timings["visual_plan"] = round(time.perf_counter() - start, 3)
        if "visualization" not in raster.tiers:
            reason: str | None = "not requested"
        else:
            reason = plan if isinstance(plan, str) else None
        start = time.perf_counter()
        picture = None if isinstance(plan, str) or reason else plan
        tiles, manifest = _visual_tiles(result, picture, reason, raster, tiling, name, on_tile)
        timings["visual_tiles"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        thumbnail = out_dir / THUMBNAIL_NAME
        thumbnail.unlink(missing_ok=True)
        if thumb := _thumbnail(mosaic_vrt, layout, sample, plan, work, raster.thumbnail_size):
            os.replace(thumb, thumbnail)
        timings["thumbnail"] = round(time.perf_counter() - start, 3)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return VisualResult(
        tiles=tiles,
        plan=picture,
        rule=None if isinstance(plan, str) else plan.rule,
        skipped_reason=reason,
        band_names=() if picture is None else tuple(b.colorinterp.lower() for b in picture.bands),
        thumbnail=thumbnail if thumbnail.is_file() else None,
        manifest=manifest,
        timings=timings,
    )


def write_mosaic_vrt(result: TilingResult, path: Path) -> Path:
    """A VRT of the whole raster over its lossless tiles (no pixel copied).

    Bands keep the tiles' data type, colour interpretation, nodata and colour table; an internal
    mask becomes the VRT's mask band. A decimated read is served by each tile's overviews."""
    with rasterio.open(result.tiles[0].path) as ds:
        layout = Layout.of(ds)
        wkt = ds.crs.to_wkt() if ds.crs else ""
        block_rows, block_cols = ds.block_shapes[0]
        colormap = ds.colormap(1) if layout.has_palette else None
    gdal_type = typename_fwd[dtype_rev[layout.dtype]]
    height, width = result.source_shape
    gt = Affine(*result.transform).to_gdal()

    def sources(band: str, dtype: str) -> str:
        out = []
        for tile in result.tiles:
            s = tile.spec
            out.append(
                f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(str(tile.path))}'
                f"</SourceFilename><SourceBand>{band}</SourceBand>"
                f'<SourceProperties RasterXSize="{s.width}" RasterYSize="{s.height}" '
                f'DataType="{dtype}" BlockXSize="{block_cols}" BlockYSize="{block_rows}"/>'
                f'<SrcRect xOff="0" yOff="0" xSize="{s.width}" ySize="{s.height}"/>'
                f'<DstRect xOff="{s.col_off}" yOff="{s.row_off}" xSize="{s.width}" '
                f'ySize="{s.height}"/></SimpleSource>'
            )
        return "".join(out)

    parts = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">']
    if wkt:
        parts.append(f"<SRS>{escape(wkt)}</SRS>")
    parts.append(f"<GeoTransform>{', '.join(repr(v) for v in gt)}</GeoTransform>")
    for band in range(1, layout.count + 1):
        parts.append(f'<VRTRasterBand dataType="{gdal_type}" band="{band}">')
        if layout.nodata is not None:
            nodata = "nan" if layout.nodata != layout.nodata else repr(layout.nodata)
            parts.append(f"<NoDataValue>{nodata}</NoDataValue>")
        parts.append(f"<ColorInterp>{layout.colorinterp[band - 1].capitalize()}</ColorInterp>")
        if colormap and band == 1:
            entries = "".join(
                f'<Entry c1="{r}" c2="{g}" c3="{b}" c4="{a}"/>'
                for _, (r, g, b, a) in sorted(colormap.items())
            )
            parts.append(f"<ColorTable>{entries}</ColorTable>")
        parts.append(f"{sources(str(band), gdal_type)}</VRTRasterBand>")
    if layout.per_dataset_mask and layout.nodata is None and layout.alpha_band is None:
        parts.append(
            '<MaskBand><VRTRasterBand dataType="Byte">'
            f"{sources('mask,1', 'Byte')}</VRTRasterBand></MaskBand>"
        )
    parts.append("</VRTDataset>")
    path.write_text("".join(parts))
    return path


def _visual_tiles(
    result: TilingResult,
    plan: RenderPlan | None,
    reason: str | None,
    raster: RasterOptions,
    tiling: TilingOptions,
    name: str,
    on_tile: Callable[[TileOutput], None] | None,
) -> tuple[tuple[TileOutput, ...], Path]:
    """Reuse or build one visual tile per lossless tile (none when ``plan`` is None)."""
    out_dir = result.manifest.parent
    (out_dir / VISUAL_FOLDER).mkdir(exist_ok=True)
    job = _job(result, plan, raster, tiling, name)
    manifest = _VisualManifest.load(out_dir, result.item_id, job["key"], plan, reason)
    if plan is None:
        manifest.tiles = {}
        manifest.save()
        _remove_strays(out_dir / VISUAL_FOLDER, set())
        return (), manifest.path
    sources = {t.spec.tile_id: t.checksum for t in result.tiles}
    done = {t.spec.tile_id: v for t in result.tiles if (v := _reusable(manifest, t, tiling))}
    todo = [t.spec for t in result.tiles if t.spec.tile_id not in done]
    failed: dict[str, str] = {}
    for out in run_tile_jobs(
        todo, out_dir, job, tiling.worker_count, failed, build=build_visual_tile
    ):
        done[out.spec.tile_id] = out
        manifest.record(out, sources[out.spec.tile_id])
        if on_tile:
            on_tile(out)
    manifest.save()
    _remove_strays(out_dir / VISUAL_FOLDER, set(sources))
    if failed:
        detail = "; ".join(f"{k}: {v}" for k, v in sorted(failed.items()))
        raise TilingError(
            f"{len(failed)} of {len(sources)} visual tiles failed ({detail}); finished tiles "
            "are kept and a re-run builds only the missing ones",
            path=name or result.item_id,
            failed=failed,
        )
    return tuple(done[t.spec.tile_id] for t in result.tiles), manifest.path


def _job(
    result: TilingResult,
    plan: RenderPlan | None,
    raster: RasterOptions,
    tiling: TilingOptions,
    name: str,
) -> dict[str, Any]:
    """Everything a worker needs (picklable) and ``key``: the fingerprint of the output bytes."""
    creation = {
        "compress": "JPEG",
        "quality": raster.jpeg_quality,
        "blocksize": tiling.blocksize,
        "overviews": "FORCE_USE_EXISTING",
        "overview_resampling": raster.resampling
        or tiling.resampling
        or ("nearest" if result.categorical else "cubic"),
        "bigtiff": "IF_SAFER",
    }
    fingerprint = {"plan": dataclasses.asdict(plan) if plan else None, "creation": creation}
    key = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "key": key,
        "plan": plan,
        "name": name or result.item_id,
        "creation": {**creation, "num_threads": "1" if tiling.worker_count > 1 else "ALL_CPUS"},
        "env": gdal_env(tiling.cache_bytes, tiling.tile_size**2 * (len(plan.bands) if plan else 3)),
        "validate": tiling.validate,
    }


def build_visual_tile(spec: TileSpec, out_dir: Path, job: dict[str, Any]) -> TileOutput:
    """Build one visual tile (runs in a worker): render VRT over the lossless tile -> JPEG COG
    -> validate -> checksum -> rename. Scratch files live in a dot folder removed afterwards."""
    final = out_dir / visual_filename(spec.tile_id)
    work = Path(tempfile.mkdtemp(prefix=f".{spec.tile_id}.", dir=final.parent))
    partial = work / "visual.tif"
    try:
        vrt = write_render_vrt(out_dir / spec.filename, job["plan"], work, "render")
        with rasterio.Env(**job["env"]):
            translate(str(vrt), partial, job["creation"], job["name"], reads_source=False)
        if job["validate"]:
            validate_cog(partial)
        checksum = multihash_sha256(partial)
        os.replace(partial, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return TileOutput(spec, final, final.stat().st_size, checksum, reused=False)


def _reusable(
    manifest: _VisualManifest, tile: TileOutput, options: TilingOptions
) -> TileOutput | None:
    """The visual tile of an earlier run, if made from this lossless tile and still intact."""
    entry = manifest.tiles.get(tile.spec.tile_id)
    path = manifest.path.parent / visual_filename(tile.spec.tile_id)
    if not entry or entry["from"] != tile.checksum or not tile_intact(path, entry, options):
        return None
    return TileOutput(tile.spec, path, entry["size"], entry["checksum"], reused=True)


def _remove_strays(folder: Path, keep: set[str]) -> None:
    """Delete visual tiles of another grid and the scratch folders of crashed workers."""
    for path in folder.iterdir():
        if path.is_dir() and path.name.startswith("."):
            shutil.rmtree(path, ignore_errors=True)
        elif path.suffix == ".tif" and path.stem not in keep:
            path.unlink(missing_ok=True)


def _thumbnail(
    mosaic_vrt: Path,
    layout: Layout,
    sample: RasterSample,
    plan: RenderPlan | str,
    work: Path,
    size: int,
) -> Path | None:
    """A PNG of the whole raster in ``work`` (band 1 preview when there is no picture)."""
    if isinstance(plan, str):
        plan = plan_render(layout, sample, None, for_thumbnail=True)
    if isinstance(plan, str):
        return None
    vrt = write_render_vrt(mosaic_vrt, plan, work, "thumb")
    return write_thumbnail(vrt, work / THUMBNAIL_NAME, size)


class _VisualManifest(JsonManifest):
    """``visual.json``: the render rule (or skip reason) and the finished visual tiles."""

    @classmethod
    def load(
        cls, out_dir: Path, item_id: str, key: str, plan: RenderPlan | None, reason: str | None
    ) -> _VisualManifest:
        path = out_dir / VISUAL_MANIFEST
        header = {"version": VISUAL_MANIFEST_VERSION, "item_id": item_id, "settings": key}
        tiles = cls.read_tiles(path, header)
        header.update(rule=plan.rule if plan else None, skipped=reason)
        return cls(path, header, tiles)

    def record(self, tile: TileOutput, source_checksum: str) -> None:
        self.tiles[tile.spec.tile_id] = {
            "file": visual_filename(tile.spec.tile_id),
            "from": source_checksum,
            "size": tile.size_bytes,
            "checksum": tile.checksum,
        }
        self.save()
