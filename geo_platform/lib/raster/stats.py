"""Band statistics, stretch percentiles and the valid-data mask from one small, cheap read.

All of them come from a single decimated read of the analysis COG: GDAL serves a request for a
~1024-pixel-wide image from the nearest internal overview, so a 10,000 x 10,000 raster costs a
few megabytes of reading instead of a full pass. Rasters no larger than the sample are read at
full resolution and their statistics are exact; otherwise ``approximate`` is True (like GDAL's
own "approximate statistics", values come from the overview, which was resampled).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import rasterio

SAMPLE_SIDE = 1024
"""Longest side of the decimated sample."""

SAMPLE_BUDGET_BYTES = 256 * 2**20
"""Upper bound on the float64 sample held in memory at once (many-band rasters get smaller)."""


@dataclass(frozen=True)
class BandStats:
    """Statistics of the valid pixels of one band (None when the band has no valid pixel)."""

    minimum: float | None
    maximum: float | None
    mean: float | None
    stddev: float | None
    valid_percent: float
    valid_count: int
    p_low: float | None
    p_high: float | None

    def as_stac(self) -> dict[str, float]:
        """The STAC 1.1 ``statistics`` object (only the fields that are known)."""
        out = {
            "minimum": self.minimum,
            "maximum": self.maximum,
            "mean": self.mean,
            "stddev": self.stddev,
            "valid_percent": round(self.valid_percent, 4),
        }
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class RasterSample:
    """Per-band statistics plus the dataset mask at sample resolution."""

    stats: tuple[BandStats, ...]
    mask: np.ndarray
    pixel_scale: tuple[float, float]
    approximate: bool
    percentiles: tuple[float, float]

    @property
    def any_valid(self) -> bool:
        return bool(self.mask.any())


def sample_shape(width: int, height: int, count: int) -> tuple[int, int]:
    """(rows, cols) of the decimated sample: at most SAMPLE_SIDE wide and within the budget."""
    side = min(SAMPLE_SIDE, int((SAMPLE_BUDGET_BYTES / (8 * max(count, 1))) ** 0.5))
    scale = max(width / side, height / side, 1.0)
    return max(1, round(height / scale)), max(1, round(width / scale))


def sample_raster(path: str, percentiles: tuple[float, float] = (2.0, 98.0)) -> RasterSample:
    """Read a decimated sample of ``path`` and compute statistics, percentiles and the mask."""
    with rasterio.open(path) as ds:
        rows, cols = sample_shape(ds.width, ds.height, ds.count)
        exact = (rows, cols) == (ds.height, ds.width)
        stats = tuple(
            _band_stats(ds.read(i, out_shape=(rows, cols), masked=True), percentiles)
            for i in range(1, ds.count + 1)
        )
        mask = ds.dataset_mask(out_shape=(rows, cols))
        scale = (ds.width / cols, ds.height / rows)
    return RasterSample(
        stats=stats,
        mask=mask,
        pixel_scale=scale,
        approximate=not exact,
        percentiles=percentiles,
    )


def _band_stats(band: np.ma.MaskedArray, percentiles: tuple[float, float]) -> BandStats:
    data = np.ma.masked_invalid(band) if band.dtype.kind in "fc" else band
    values = data.compressed()
    total = band.size
    if values.size == 0:
        return BandStats(None, None, None, None, 0.0, 0, None, None)
    if values.dtype.kind == "c":
        values = np.abs(values)
    as_float = values.astype("float64", copy=False)
    with np.errstate(over="ignore", invalid="ignore"):
        low, high = np.percentile(as_float, percentiles)
        mean, std = as_float.mean(), as_float.std()
    return BandStats(
        minimum=_num(as_float.min()),
        maximum=_num(as_float.max()),
        mean=_num(mean),
        stddev=_num(std),
        valid_percent=100.0 * values.size / total,
        valid_count=int(values.size),
        p_low=_num(low),
        p_high=_num(high),
    )


def _num(value: float) -> float | None:
    """Plain Python floats; integers stay integral-looking for JSON readers. None when not
    finite (a mean that overflows on values near the float64 limit): JSON has no infinity."""
    number = float(value)
    if not np.isfinite(number):
        return None
    return float(round(number, 10))
