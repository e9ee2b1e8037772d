"""What one raster build produced: each tier's file (or why it was skipped) and the description
of the whole build that ``build_raster_item`` turns into a STAC item."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geo_platform.lib.raster.footprint import Footprint
from geo_platform.lib.raster.grid import GridInfo
from geo_platform.lib.raster.inspect import RasterInfo
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.stats import BandStats
from geo_platform.lib.raster.tier_rules import TierPlan, storage_report

COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
PNG_MEDIA_TYPE = "image/png"


@dataclass(frozen=True)
class TierOutput:
    """One tier's file (or why it was not made)."""

    tier: str
    path: Path | None
    size_bytes: int = 0
    media_type: str = COG_MEDIA_TYPE
    compression: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)
    skipped_reason: str | None = None
    checksum: str | None = None
    rule: str | None = None

    @property
    def skipped(self) -> bool:
        return self.skipped_reason is not None


@dataclass(frozen=True)
class CogBuildResult:
    """Everything produced from one bronze raster; input to ``build_raster_item``."""

    info: RasterInfo
    tiers: dict[str, TierOutput]
    thumbnail: Path | None
    thumbnail_checksum: str | None
    thumbnail_size: int
    band_stats: tuple[BandStats, ...]
    stats_approximate: bool
    footprint: Footprint
    grid: GridInfo
    archive_grid: GridInfo | None
    options: RasterOptions
    software: dict[str, str]
    timings: dict[str, float]
    plan: TierPlan | None = None

    def published(self) -> dict[str, TierOutput]:
        """The tiers that have a file (not skipped)."""
        return {k: v for k, v in self.tiers.items() if not v.skipped}

    def storage(self) -> dict[str, Any]:
        """Bytes of each published tier against the source file's (and the rule that chose
        the tier's encoding, when a per-source rule did)."""
        tiers = {k: (t.size_bytes, t.compression, t.rule) for k, t in self.published().items()}
        return storage_report(self.info.file_size, tiers)

    def summary(self) -> dict[str, Any]:
        """JSON-able digest for run metadata: per tier size and compression ratio (uncompressed
        source bytes / tier bytes), CRS, dimensions, bbox, skipped tiers with their reasons."""
        tiers: dict[str, Any] = {}
        for name, tier in self.tiers.items():
            if tier.skipped:
                tiers[name] = {"skipped": tier.skipped_reason}
                continue
            tiers[name] = {
                "size_bytes": tier.size_bytes,
                "compression": tier.compression,
                "compression_ratio": round(
                    self.info.uncompressed_bytes / max(tier.size_bytes, 1), 2
                ),
                "crs": tier.profile.get("crs"),
                "dimensions": [tier.profile.get("width"), tier.profile.get("height")],
            }
        return {
            "source": self.info.summary(),
            "tiers": tiers,
            "bbox_4326": list(self.footprint.bbox),
            "crs": self.grid.crs_code or "WKT2",
            "dimensions": [self.grid.shape[1], self.grid.shape[0]],
            "timings_s": dict(self.timings),
        }
