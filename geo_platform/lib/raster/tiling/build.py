"""Build the tiles: each one with GDAL's COG driver over a windowed VRT of the source (or of
the warped VRT), validated and checksummed, in a bounded process pool; ``tile_raster`` runs
the whole grid and resumes from the manifest."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rasterio
from affine import Affine

from geo_platform.lib.raster.cog_steps import gdal_env, multihash_sha256, translate
from geo_platform.lib.raster.inspect import RasterInfo, has_valid_pixels, inspect_raster
from geo_platform.lib.raster.tiling.manifest import TileManifest, reusable_tile
from geo_platform.lib.raster.tiling.plan import (
    TILE_FOLDER,
    TileOutput,
    TileSpec,
    TilingError,
    TilingOptions,
    plan_tiles,
    tile_step,
)
from geo_platform.lib.raster.tiling.reproject import (
    WARPED_VRT,
    Reprojection,
    TargetGrid,
    may_hold_data,
    target_grid,
    write_warped_vrt,
)
from geo_platform.lib.raster.validate import validate_cog


@dataclass(frozen=True)
class TilingResult:
    """All tiles of one source, plus what the STAC items and the mosaic need."""

    item_id: str
    tiles: tuple[TileOutput, ...]
    manifest: Path
    source_shape: tuple[int, int]
    tile_step: int
    crs_wkt: str
    transform: tuple[float, float, float, float, float, float]
    dtype: str
    count: int
    categorical: bool
    timings: dict[str, float]
    target_crs: str | None = None
    """The CRS the tiles were warped to (None: the source grid)."""
    warp_resampling: str | None = None
    nodata: float | None = None
    skipped: tuple[str, ...] = ()
    """Ids of reprojected tiles outside the warped data (no file, no item)."""
    data_outline: str | None = None
    """WKT of the warped source outline in grid pixel coordinates (reprojected tiles only)."""

    @property
    def built(self) -> list[str]:
        return [t.spec.tile_id for t in self.tiles if not t.reused]

    @property
    def reused(self) -> list[str]:
        return [t.spec.tile_id for t in self.tiles if t.reused]


def tile_raster(
    src: Path | str,
    out_dir: Path,
    item_id: str,
    options: TilingOptions | None = None,
    *,
    info: RasterInfo | None = None,
    source_fingerprint: str = "",
    on_tile: Callable[[TileOutput], None] | None = None,
    reprojection: Reprojection | None = None,
) -> TilingResult:
    """Tile ``src`` into ``out_dir/tiles/*.tif`` and record them in ``out_dir/tiles.json``.

    ``source_fingerprint`` (e.g. the bronze etag or sha256) ties the manifest to one version of
    the source: tiles of another version are rebuilt. ``reprojection``: tile the warped grid
    (see the package doc). Raises ``TilingError`` (listing the failed tiles) after all other
    tiles finished, and the input errors of ``inspect_raster``.
    """
    options = options or TilingOptions()
    start = time.perf_counter()
    info = info or inspect_raster(src, str(src))
    (out_dir / TILE_FOLDER).mkdir(parents=True, exist_ok=True)
    job = _job(info, options)
    grid, step, nodata, count = _cut_grid(info, options, reprojection, out_dir, job)
    planned = plan_tiles(grid.width, grid.height, step, item_id)
    specs = [s for s in planned if may_hold_data(s, grid.outline)]
    outside = [s.tile_id for s in planned if s not in specs]
    manifest = TileManifest.load(
        out_dir, item_id, source_fingerprint, options.key(), grid.key(reprojection)
    )
    done = _build_missing(specs, out_dir, job, options, manifest, on_tile, info.name)
    empty = [s.tile_id for s in specs if done[s.tile_id].empty]
    return TilingResult(
        item_id=item_id,
        tiles=tuple(done[s.tile_id] for s in specs if not done[s.tile_id].empty),
        manifest=manifest.path,
        source_shape=(grid.height, grid.width),
        tile_step=step,
        crs_wkt=grid.crs_wkt if reprojection else info.crs_wkt2,
        transform=tuple(grid.transform)[:6],
        dtype=info.dtype,
        count=count,
        categorical=info.is_categorical,
        timings={"tiling": round(time.perf_counter() - start, 3)},
        target_crs=reprojection.crs if reprojection else None,
        warp_resampling=reprojection.resampling if reprojection else None,
        nodata=nodata,
        skipped=tuple(sorted(outside + empty)),
        data_outline=grid.outline.wkt if reprojection and grid.outline is not None else None,
    )


def _cut_grid(
    info: RasterInfo,
    options: TilingOptions,
    reprojection: Reprojection | None,
    out_dir: Path,
    job: dict[str, Any],
) -> tuple[TargetGrid, int, float | None, int]:
    """The grid the tiles are cut from, the tile step, and the nodata and band count of what is
    cut. Reprojected: the warped VRT's grid, written into ``out_dir`` (``job`` then reads it)."""
    if reprojection is None:
        with rasterio.open(info.gdal_path) as ds:
            block_shape = ds.block_shapes[0]
        grid = TargetGrid(info.crs_wkt2, Affine(*info.transform), info.width, info.height)
        return grid, tile_step(block_shape, info.width, options), info.nodata, info.count
    grid = target_grid(info, reprojection)
    vrt, nodata, count = write_warped_vrt(
        info, grid, reprojection, out_dir / WARPED_VRT, options.blocksize
    )
    job.update(gdal_path=str(vrt), extra="", skip_empty=True)
    return grid, options.tile_size, nodata, count


def _build_missing(
    specs: list[TileSpec],
    out_dir: Path,
    job: dict[str, Any],
    options: TilingOptions,
    manifest: TileManifest,
    on_tile: Callable[[TileOutput], None] | None,
    name: str,
) -> dict[str, TileOutput]:
    """Every tile of ``specs``: reused from an earlier run when intact, else built (recorded in
    the manifest as each finishes). ``TilingError`` when some failed, after the others."""
    done = {s.tile_id: t for s in specs if (t := reusable_tile(out_dir, manifest, s, options))}
    todo = [s for s in specs if s.tile_id not in done]
    failed: dict[str, str] = {}
    for out in run_tile_jobs(todo, out_dir, job, options.worker_count, failed):
        done[out.spec.tile_id] = out
        manifest.record(out)
        if on_tile and not out.empty:
            on_tile(out)
    manifest.save()
    _remove_strays(out_dir, {s.tile_id for s in specs})
    if failed:
        detail = "; ".join(f"{k}: {v}" for k, v in sorted(failed.items()))
        raise TilingError(
            f"{len(failed)} of {len(specs)} tiles failed ({detail}); finished tiles are kept "
            "and a re-run builds only the missing ones",
            path=name,
            failed=failed,
        )
    return done


def _job(info: RasterInfo, options: TilingOptions) -> dict[str, Any]:
    """Everything a worker needs to build one tile (picklable)."""
    dtype = info.dtype
    pixel_bytes = info.uncompressed_bytes // max(info.width * info.height, 1)  # all bands
    creation: dict[str, Any] = {
        "compress": options.compression.upper(),
        "blocksize": options.blocksize,
        "bigtiff": "IF_SAFER",
        "overviews": "IGNORE_EXISTING",
        "overview_resampling": options.resampling
        or ("nearest" if info.is_categorical else "cubic"),
        "num_threads": "1" if options.worker_count > 1 else "ALL_CPUS",
    }
    packed = info.nbits is not None and info.nbits not in (8, 16, 32, 64)  # no predictor then
    if not dtype.startswith("complex") and not packed:
        creation["predictor"] = 3 if dtype.startswith("float") else 2
    if options.compression.upper() in ("DEFLATE", "ZSTD"):
        creation["level"] = options.level
    extra = ""
    if info.crs_source != "dataset":  # CRS from a .prj sidecar or assume_crs
        extra = f"&a_srs={info.crs_code}" if info.crs_code else ""
    return {
        "gdal_path": info.gdal_path,
        "extra": extra,
        "name": info.name,
        "creation": creation,
        "env": gdal_env(options.cache_bytes, options.tile_size**2 * pixel_bytes),
        "validate": options.validate,
        "skip_empty": False,
    }


def build_tile(spec: TileSpec, out_dir: Path, job: dict[str, Any]) -> TileOutput:
    """Build one tile (runs in a worker): windowed VRT -> COG -> validate -> checksum -> rename."""
    final = out_dir / spec.filename
    partial = final.with_name(f".{final.stem}.partial.tif")
    x, y, w, h = spec.window
    source = f"vrt://{job['gdal_path']}?srcwin={x},{y},{w},{h}{job['extra']}"
    try:
        with rasterio.Env(**job["env"]):
            translate(source, partial, job["creation"], job["name"], reads_source=True)
            if job.get("skip_empty"):
                with rasterio.open(partial) as ds:
                    if not has_valid_pixels(ds):  # warped padding only
                        return TileOutput(spec, final, 0, "", reused=False, empty=True)
        if job["validate"]:
            validate_cog(partial)
        checksum = multihash_sha256(partial)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return TileOutput(spec, final, final.stat().st_size, checksum, reused=False)


def run_tile_jobs(
    todo: list[TileSpec],
    out_dir: Path,
    job: dict[str, Any],
    workers: int,
    failed: dict[str, str],
    build: Callable[[TileSpec, Path, dict[str, Any]], TileOutput] | None = None,
) -> Iterator[TileOutput]:
    """Yield finished tiles as they complete; failures go to ``failed`` (never stop the rest).

    ``build`` (a picklable module-level function, default ``build_tile``) makes one tile; the
    visualization tier (``visual.py``) runs its JPEG tiles through the same pool. At most
    ``2 * workers`` tiles are in flight, so pending futures stay few."""
    build = build or build_tile
    if workers == 1 or len(todo) <= 1:
        for spec in todo:
            try:
                yield build(spec, out_dir, job)
            except Exception as exc:  # recorded; raised as TilingError at the end
                failed[spec.tile_id] = _describe(exc)
        return
    queue = list(reversed(todo))
    with ProcessPoolExecutor(max_workers=min(workers, len(todo))) as pool:
        running: dict[Future[TileOutput], TileSpec] = {}
        while queue or running:
            while queue and len(running) < 2 * workers:
                spec = queue.pop()
                running[pool.submit(build, spec, out_dir, job)] = spec
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                spec = running.pop(future)
                try:
                    yield future.result()
                except Exception as exc:
                    failed[spec.tile_id] = _describe(exc)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"


def _remove_strays(out_dir: Path, keep: set[str]) -> None:
    """Delete tiles of an older grid (other tile size) and partial files of crashed workers."""
    for path in (out_dir / TILE_FOLDER).glob("*.tif"):
        if path.name.startswith(".") or path.stem not in keep:
            path.unlink(missing_ok=True)
