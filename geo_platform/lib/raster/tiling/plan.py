"""The grid of tiles: when to tile (``TilingOptions``, ``needs_tiling``), the block-aligned tile
step and the regular grid of ``TileSpec`` windows, and what a finished tile is (``TileOutput``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geo_platform.lib.errors import ConfigError, GeoPlatformError
from geo_platform.lib.raster.inspect import RasterInfo

TILE_FOLDER = "tiles"


class TilingError(GeoPlatformError):
    """Some tiles failed; the others are finished and recorded in the manifest (re-run resumes)."""

    def __init__(self, message: str, path: str | None = None, failed: Mapping[str, str] = {}):
        super().__init__(message, path=path)
        self.failed = dict(failed)


@dataclass(frozen=True)
class TilingOptions:
    """When and how to tile (defaults in brackets).

    - ``threshold_pixels`` [16384 x 16384] / ``threshold_bytes`` [2 GiB uncompressed]: a raster
      above either is tiled instead of becoming one COG.
    - ``tile_size`` [4096]: tile width/height in pixels before block alignment.
    - ``blocksize`` [512]: internal COG block size of each tile.
    - ``compression`` [DEFLATE] / ``level`` [1]: lossless codec (predictor chosen per data type).
    - ``resampling`` [auto]: overview resampling; ``nearest`` for categorical data, else ``cubic``.
    - ``workers`` [CPU count]: processes; 1 builds inline (no pool).
    - ``cache_bytes`` [128 MiB]: GDAL block cache per worker (bounds memory).
    - ``validate`` [True]: ``validate_cog`` on every tile. ``verify_checksums`` [True]: re-hash
      tiles found on disk before reusing them (else size only).
    """

    threshold_pixels: int = 16384 * 16384
    threshold_bytes: int = 2 * 2**30
    tile_size: int = 4096
    blocksize: int = 512
    compression: str = "DEFLATE"
    level: int = 1
    resampling: str | None = None
    workers: int | None = None
    cache_bytes: int = 128 * 2**20
    validate: bool = True
    verify_checksums: bool = True

    def __post_init__(self) -> None:
        if self.tile_size < self.blocksize or self.tile_size % self.blocksize:
            raise ConfigError(
                f"tile_size ({self.tile_size}) must be a multiple of blocksize ({self.blocksize}): "
                "set GEO_PLATFORM_TILING_TILE_SIZE to one"
            )
        if self.blocksize % 16 or self.blocksize < 64:
            raise ConfigError(f"blocksize must be a multiple of 16 and >= 64: {self.blocksize}")
        if self.compression.upper() not in ("DEFLATE", "ZSTD", "LZW"):
            raise ConfigError(f"tile compression must be DEFLATE, ZSTD or LZW: {self.compression}")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers must be >= 1: {self.workers}")

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any] | None) -> TilingOptions:
        """Options from config; unknown keys raise ``ConfigError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config or {}) - names)
        if unknown:
            raise ConfigError(f"unknown tiling options {unknown}; known: {sorted(names)}")
        return cls(**dict(config or {}))

    @property
    def worker_count(self) -> int:
        return self.workers or len(os.sched_getaffinity(0)) or 1

    def key(self) -> str:
        """Fingerprint of what changes the tiles' bytes (not workers/cache/verification)."""
        fields = ("tile_size", "blocksize", "compression", "level", "resampling")
        text = json.dumps({f: getattr(self, f) for f in fields}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def needs_tiling(info: RasterInfo, options: TilingOptions) -> bool:
    """Whether ``info`` is above the tiling threshold (pixels or uncompressed bytes)."""
    pixels = info.width * info.height
    return pixels > options.threshold_pixels or info.uncompressed_bytes > options.threshold_bytes


@dataclass(frozen=True)
class TileSpec:
    """One cell of the grid: its id, grid position and source window (pixels)."""

    tile_id: str
    row: int
    col: int
    col_off: int
    row_off: int
    width: int
    height: int

    @property
    def window(self) -> tuple[int, int, int, int]:
        """(col_off, row_off, width, height), as GDAL's srcwin."""
        return (self.col_off, self.row_off, self.width, self.height)

    @property
    def filename(self) -> str:
        return f"{TILE_FOLDER}/{self.tile_id}.tif"


@dataclass(frozen=True)
class TileOutput:
    """A finished tile (built in this run, or reused from an earlier one)."""

    spec: TileSpec
    path: Path
    size_bytes: int
    checksum: str
    reused: bool
    empty: bool = False
    """Reprojected tile without any valid pixel: no file, not published."""


def tile_step(block_shape: tuple[int, int], width: int, options: TilingOptions) -> int:
    """Tile edge in pixels: ``tile_size`` rounded up to whole source and output blocks.

    Striped sources (block as wide as the raster) only constrain rows; absurd block sizes (over
    ``tile_size``) are ignored rather than making giant tiles.
    """
    rows, cols = block_shape
    step = options.tile_size
    for block in (rows, cols if cols < width else 1):
        if 1 < block <= options.tile_size:
            step = math.lcm(step, block)
    return step if step <= 4 * options.tile_size else options.tile_size


def plan_tiles(width: int, height: int, step: int, item_id: str) -> list[TileSpec]:
    """The regular grid over a ``width`` x ``height`` raster; edge tiles are clipped."""
    specs = []
    for row in range(math.ceil(height / step)):
        for col in range(math.ceil(width / step)):
            x, y = col * step, row * step
            specs.append(
                TileSpec(
                    tile_id=f"{item_id}_r{row:03d}_c{col:03d}",
                    row=row,
                    col=col,
                    col_off=x,
                    row_off=y,
                    width=min(step, width - x),
                    height=min(step, height - y),
                )
            )
    return specs
