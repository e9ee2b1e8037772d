"""Bronze raster -> silver Cloud-Optimized GeoTIFF tiers, statistics and a thumbnail.

Tiers (see ``RasterOptions`` for the knobs):

- **analysis**: lossless DEFLATE (level 1) with predictor 2 (integers) or 3 (floats); every band,
  the original data type, nodata, alpha, internal masks and palettes kept. Overviews are always
  recomputed (``nearest`` for categorical/palette data, ``cubic`` otherwise). Reprojected when
  ``target_crs``/``web_optimized`` is set (same resampling rule). Built first, straight from the
  source by GDAL's COG driver, which streams block by block: memory stays bounded by the GDAL
  cache, and every source block is decoded, so a corrupt block raises ``UnreadableFileError``
  naming the band and block (``opening.block_read_error``; so does the all-nodata check of
  ``inspect_raster``, which may read the blocks first).
- **visualization**: 8-bit JPEG, quality 85, YCbCr, pixel interleaved, validity as an internal
  mask. Rendered by a VRT over the analysis COG (rules in ``render.py``) that reuses the analysis
  overviews, or skipped with a reason when there is no natural picture.
- **archive**: lossless LZW with predictor on the native grid, every metadata item kept: GDAL
  copies the default domain and band metadata, and all other domains (EXIF, XMP, RPC, ICC...)
  are stored as JSON under the ``GEO_PLATFORM_SOURCE_METADATA`` tag. Copied from the analysis COG
  (identical pixels, overviews reused) unless the analysis tier was reprojected.

Per source, the storage rules of ``tier_rules.py`` apply first: a source that already is a valid,
compressed COG is copied as the archive tier (not re-encoded), and a lossy one (JPEG...) as the
analysis tier too, so that no tier stores several times what the source holds.

Computing the overviews once and reusing them is what keeps all three tiers within about twice the
time of a single ``gdal_translate -of COG``; the visualization tier is built in a thread beside the
archive (each alone leaves part of a second core idle; outputs are the same bytes either way).
Statistics, the valid-data footprint, the stretch and the thumbnail all come from one decimated
read of the analysis overviews.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import rasterio

from geo_platform.lib.errors import EmptyDatasetError
from geo_platform.lib.raster import antimeridian_grid
from geo_platform.lib.raster.cog_result import (
    COG_MEDIA_TYPE,
    PNG_MEDIA_TYPE,
    CogBuildResult,
    TierOutput,
)
from geo_platform.lib.raster.cog_steps import (
    MIN_OVERVIEW_SIDE,
    SMALL_RASTER_PIXELS,
    build_env,
    data_footprint,
    fill_nodata,
    lossless_options,
    metadata_vrt,
    multihash_sha256,
    software_versions,
    source_vrt,
    threads,
    tier_profile,
    translate,
    with_checksum,
)
from geo_platform.lib.raster.grid import GridInfo
from geo_platform.lib.raster.inspect import RasterInfo, has_valid_pixels, inspect_raster
from geo_platform.lib.raster.opening import decoding_blocks
from geo_platform.lib.raster.options import TIERS, RasterOptions
from geo_platform.lib.raster.render import Layout, RenderPlan, plan_render, write_render_vrt
from geo_platform.lib.raster.stats import RasterSample, sample_raster
from geo_platform.lib.raster.thumbnail import write_thumbnail
from geo_platform.lib.raster.tier_rules import (
    RULE_SOURCE_ANALYSIS,
    RULE_SOURCE_ARCHIVE,
    plan_tiers,
    source_layout,
)
from geo_platform.lib.raster.validate import validate_cog

__all__ = [
    "COG_MEDIA_TYPE",
    "MIN_OVERVIEW_SIDE",
    "PNG_MEDIA_TYPE",
    "SMALL_RASTER_PIXELS",
    "TIERS",
    "CogBuildResult",
    "RasterOptions",
    "TierOutput",
    "build_cog_tiers",
    "multihash_sha256",
    "validate_cog",
]


def build_cog_tiers(
    src: Path | str,
    out_dir: Path,
    options: RasterOptions,
    name: str,
    info: RasterInfo | None = None,
) -> CogBuildResult:
    """Build the requested tiers of ``src`` into ``out_dir`` (``analysis.tif``,
    ``visualization.tif``, ``archive.tif``, ``thumbnail.png``) and describe them.

    Raises the input errors of ``inspect_raster``, ``UnreadableFileError`` when a data block
    cannot be read, ``EmptyDatasetError`` when every pixel is nodata, and ``ValidationError`` when
    an output is not a valid COG. On any failure the files it created are removed.
    """
    if info is None:
        info = inspect_raster(
            src,
            name,
            max_bytes=options.max_bytes,
            max_pixels=options.max_pixels,
            assume_crs=options.assume_crs,
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".cog-work-", dir=out_dir))
    created: list[Path] = []
    try:
        env = build_env(options, info)
        with rasterio.Env(**env), ThreadPoolExecutor(max_workers=1) as hasher:
            return _Builder(info, out_dir, work, options, created, hasher, env).run()
    except BaseException:
        for path in created:
            path.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _Builder:
    """One build; keeps the state shared by the steps (paths, timings, pending checksums)."""

    def __init__(
        self,
        info: RasterInfo,
        out_dir: Path,
        work: Path,
        options: RasterOptions,
        created: list[Path],
        hasher: ThreadPoolExecutor,
        env: dict[str, Any],
    ) -> None:
        self.info, self.out_dir, self.work, self.options = info, out_dir, work, options
        self.created, self.hasher, self.env = created, hasher, env
        self.timings: dict[str, float] = {}
        self.checksums: dict[str, Future[str]] = {}
        self.plan = plan_tiers(info, options, source_layout(info))
        categorical = (
            options.categorical if options.categorical is not None else info.is_categorical
        )
        # GDAL resamples complex data only with nearest/average/rms.
        continuous = "average" if info.dtype.startswith("complex") else "cubic"
        self.resampling = options.resampling or ("nearest" if categorical else continuous)

    def _target(self, tier: str, suffix: str = ".tif") -> Path:
        if tier in self.options.tiers or tier == "thumbnail":
            path = self.out_dir / f"{tier}{suffix}"
            self.created.append(path)
            return path
        return self.work / f"{tier}{suffix}"

    def _timed(self, key: str, start: float) -> None:
        self.timings[key] = round(time.perf_counter() - start, 3)

    def _finish_tier(
        self, tier: str, path: Path, compression: str, rule: str | None = None
    ) -> TierOutput:
        if self.options.validate:
            validate_cog(path)
        if tier in self.options.tiers:
            self.checksums[tier] = self.hasher.submit(multihash_sha256, path)
        return TierOutput(
            tier=tier,
            path=path if tier in self.options.tiers else None,
            size_bytes=path.stat().st_size,
            compression=compression,
            profile=tier_profile(path),
            rule=rule,
            skipped_reason=None if tier in self.options.tiers else "not requested",
        )

    def run(self) -> CogBuildResult:
        source = self._source_path()
        tiers: dict[str, TierOutput] = {}
        analysis = self._target("analysis")
        tiers["analysis"] = self._analysis(source, analysis)
        with rasterio.open(analysis) as ds:
            grid, layout = GridInfo.of(ds), Layout.of(ds, palette_source=self.info.gdal_path)
        start = time.perf_counter()
        with self._decoding_source(analysis):
            sample = sample_raster(str(analysis), self.options.stretch_percentiles)
            self._check_not_empty(sample, analysis)
        footprint = data_footprint(sample, grid, self.info)
        self._timed("statistics", start)
        plan = plan_render(layout, sample, self.options.visual_bands)
        # Both read the analysis tier; neither keeps two cores busy on its own (JPEG encoding
        # ~1.7, LZW ~1.9 of 2), so the visualization is built beside the archive.
        with ThreadPoolExecutor(max_workers=1) as beside:
            visual = beside.submit(self._in_env, self._visualization, analysis, plan)
            archive = self._archive(source, analysis, grid)
            tiers["visualization"] = visual.result()
        tiers["archive"] = archive
        thumb = self._thumbnail(analysis, layout, sample, plan)
        done = {k: f.result() for k, f in self.checksums.items()}
        final = {k: with_checksum(v, done.get(k)) for k, v in tiers.items()}
        archive = final["archive"]
        archive_grid = None
        if archive.path is not None and self.options.reprojects:
            with rasterio.open(archive.path) as ds:
                archive_grid = GridInfo.of(ds)
        return CogBuildResult(
            info=self.info,
            tiers={k: final[k] for k in TIERS},
            thumbnail=thumb,
            thumbnail_checksum=multihash_sha256(thumb) if thumb else None,
            thumbnail_size=self.options.thumbnail_size,
            band_stats=sample.stats,
            stats_approximate=sample.approximate,
            footprint=footprint,
            grid=grid,
            archive_grid=archive_grid,
            options=self.options,
            software=software_versions(),
            timings=self.timings,
            plan=self.plan,
        )

    def _in_env(self, step: Callable[..., TierOutput], *args: Any) -> TierOutput:
        """Run ``step`` with this build's GDAL configuration (rasterio's is per thread)."""
        with rasterio.Env(**self.env):
            return step(*args)

    def _decoding_source(self, analysis: Path) -> AbstractContextManager[None]:
        """Reads of ``analysis`` when it is the source's bytes (``analysis_is_source``): a block
        that cannot be decoded is the bronze file's (``UnreadableFileError``). A built analysis
        tier was decoded from the source already."""
        if self.plan.analysis_is_source:
            return decoding_blocks(self.info.name, analysis, self.info.gdal_path)
        return nullcontext()

    def _source_path(self) -> str:
        """The GDAL path to read (a VRT when the CRS or a nodata value must be added)."""
        fill = fill_nodata(self.info) if self.options.reprojects else None
        if self.info.crs_source == "dataset" and fill is None:
            return self.info.gdal_path
        return source_vrt(self.info, self.work / "source.vrt", fill)

    def _analysis(self, source: str, path: Path) -> TierOutput:
        start = time.perf_counter()
        if self.plan.analysis_is_source:  # tier_rules, rule 2: a lossy COG as delivered
            shutil.copyfile(self.info.gdal_path, path)
            self._timed("analysis", start)
            codec = self.plan.layout.compression or "NONE"
            return self._finish_tier("analysis", path, codec, rule=RULE_SOURCE_ANALYSIS)
        codec = self.options.analysis_compression
        opts = lossless_options(self.options, self.info, codec, self.options.analysis_level)
        # A raster a few pixels across gets no overviews: halving its short side would reach
        # zero pixels, and GDAL's overviews then have a decimation rio-cogeo rejects.
        thin = min(self.info.width, self.info.height) < MIN_OVERVIEW_SIDE
        opts.update(
            overviews="NONE" if thin else "IGNORE_EXISTING", overview_resampling=self.resampling
        )
        grid = (self.info.crs_wkt2, self.info.transform, self.info.width, self.info.height)
        if self.options.web_optimized:
            antimeridian_grid.refuse_web_optimized(*grid, self.info.name)
            opts.update(tiling_scheme="GoogleMapsCompatible", warp_resampling=self.resampling)
        elif self.options.target_crs:
            opts.update(target_srs=self.options.target_crs, warp_resampling=self.resampling)
            opts.update(antimeridian_grid.cog_warp_options(*grid, self.options.target_crs))
        translate(source, path, opts, self.info.name, reads_source=True)
        self._timed("analysis", start)
        return self._finish_tier("analysis", path, codec)

    def _check_not_empty(self, sample: RasterSample, analysis: Path) -> None:
        if sample.any_valid:
            return
        with rasterio.open(analysis) as ds:
            if has_valid_pixels(ds):
                return
        raise EmptyDatasetError("every pixel is nodata or masked", path=self.info.name)

    def _visualization(self, analysis: Path, plan: RenderPlan | str) -> TierOutput:
        if "visualization" not in self.options.tiers:
            return TierOutput("visualization", None, skipped_reason="not requested")
        if isinstance(plan, str):
            return TierOutput("visualization", None, skipped_reason=plan)
        start = time.perf_counter()
        vrt = write_render_vrt(analysis, plan, self.work, "visual")
        path = self._target("visualization")
        opts = {
            "compress": "JPEG",
            "quality": self.options.jpeg_quality,
            "blocksize": self.options.blocksize,
            "num_threads": threads(self.options, self.info),
            "overviews": "FORCE_USE_EXISTING",
            "overview_resampling": self.resampling,
            "bigtiff": "IF_SAFER",
        }
        reads_source = self.plan.analysis_is_source  # full resolution of the source's bytes
        translate(str(vrt), path, opts, self.info.name, reads_source=reads_source)
        self._timed("visualization", start)
        return self._finish_tier("visualization", path, "JPEG", rule=plan.rule)

    def _archive(self, source: str, analysis: Path, grid: GridInfo) -> TierOutput:
        if "archive" not in self.options.tiers:
            return TierOutput("archive", None, skipped_reason="not requested")
        start = time.perf_counter()
        path = self._target("archive")
        if self.plan.archive_is_source:  # tier_rules, rule 1: the bytes as delivered
            shutil.copyfile(self.info.gdal_path, path)
            self._timed("archive", start)
            codec = self.plan.layout.compression or "NONE"
            return self._finish_tier("archive", path, codec, rule=RULE_SOURCE_ARCHIVE)
        from_analysis = not self.options.reprojects
        base = str(analysis) if from_analysis else source
        if self.info.extra_metadata:
            base = metadata_vrt(base, self.work / "archive-source.vrt", self.info.extra_metadata)
        opts = lossless_options(self.options, self.info, self.options.archive_compression, None)
        opts["overviews"] = "FORCE_USE_EXISTING" if from_analysis else "IGNORE_EXISTING"
        opts["overview_resampling"] = self.resampling
        translate(base, path, opts, self.info.name, reads_source=not from_analysis)
        self._timed("archive", start)
        return self._finish_tier("archive", path, self.options.archive_compression)

    def _thumbnail(
        self, analysis: Path, layout: Layout, sample: RasterSample, plan: RenderPlan | str
    ) -> Path | None:
        start = time.perf_counter()
        if isinstance(plan, str):
            plan = plan_render(layout, sample, None, for_thumbnail=True)
        if isinstance(plan, str):
            return None
        vrt = write_render_vrt(analysis, plan, self.work, "thumb")
        target = self._target("thumbnail", ".png")
        with self._decoding_source(analysis):
            path = write_thumbnail(vrt, target, self.options.thumbnail_size)
        self._timed("thumbnail", start)
        return path
