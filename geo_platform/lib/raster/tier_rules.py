"""Per-source storage rules for the COG tiers: no tier stores more than the source holds.

Output tiers of an already compressed source used to be several times the source: a lossless tier
of a JPEG source stores the JPEG's noise losslessly (a 298 KB JPEG COG gave 2.1 MB per lossless
tier), and re-encoding a DEFLATE COG gains nothing over the file itself. The rules, per source:

1. **The source is the archive tier when it already is one**: a valid COG (rio-cogeo), read from
   one file (no sidecar such as ``.aux.xml``, ``.ovr``, a world file), carrying its own CRS,
   compressed (any codec but none), and not reprojected. The archive tier is then a byte copy of
   the source: every pixel, tag and metadata domain kept exactly, nothing re-encoded. This holds
   for lossless sources (DEFLATE, LZW, ZSTD...: already the archival form) and for lossy ones
   (JPEG...: nothing more exists to keep than what was delivered).
2. **A lossy source that is such a COG is the analysis tier too** (with the default analysis
   codec): a lossless tier of decoded JPEG pixels is about 7x the source (a 298 KB JPEG COG gave
   2.1 MB) and holds no information the source does not have, and re-encoding it lossily would
   add a second generation of loss. The byte copy decodes to exactly the source's pixels and
   mask, as the analysis tier promises; its overviews are the source's own.
3. Every other source: the tiers described in ``cog.py`` (lossless analysis and archive). A lossy
   source that is not a COG keeps a lossless analysis tier, larger than the source: a COG made
   from it must store either the decoded pixels or a second lossy generation, and the analysis
   tier promises the source's pixels.

Lossy codecs: JPEG, WEBP and JXL unless marked lossless, LERC with a non-zero error bound.
``TierPlan`` records which rule made each tier; the STAC item and the run metadata report every
tier's bytes against the source's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rasterio

from geo_platform.lib.errors import ValidationError
from geo_platform.lib.raster.inspect import RasterInfo
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.validate import validate_cog

LOSSY_CODECS = frozenset({"JPEG", "WEBP", "JXL", "LERC"})
"""GDAL codec names of lossy compression (LERC only with a non-zero error bound; WEBP and JXL
unless marked lossless)."""
RULE_SOURCE_ARCHIVE = "source copied as is: already a valid, compressed COG"
RULE_SOURCE_ANALYSIS = "lossy COG source copied as is: decodes to the source's pixels"


@dataclass(frozen=True)
class SourceLayout:
    """How the source file stores its pixels (from its TIFF tags and rio-cogeo)."""

    compression: str | None
    """GDAL codec name, upper case (``JPEG``, ``DEFLATE``...); None when uncompressed."""
    lossy: bool
    single_file: bool
    valid_cog: bool
    jpeg_quality: int | None = None


@dataclass(frozen=True)
class TierPlan:
    """The per-source choices for one build (see the module docstring)."""

    layout: SourceLayout
    archive_is_source: bool = False
    analysis_is_source: bool = False


def source_layout(info: RasterInfo) -> SourceLayout:
    """The layout of the source behind ``info`` (only a plain local GeoTIFF can be a COG)."""
    with rasterio.open(info.gdal_path) as ds:
        structure = {k.upper(): v for k, v in ds.tags(ns="IMAGE_STRUCTURE").items()}
        files = list(ds.files)
        driver = ds.driver
    compression = _codec(structure.get("COMPRESSION"))
    lossy = compression in LOSSY_CODECS and not _marked_lossless(compression, structure)
    single = len(files) == 1 and Path(info.gdal_path).is_file()
    valid = False
    if single and driver == "GTiff" and compression is not None:
        try:
            validate_cog(info.gdal_path)
            valid = True
        except ValidationError:
            valid = False
    quality = structure.get("JPEG_QUALITY")
    return SourceLayout(
        compression=compression,
        lossy=lossy,
        single_file=single,
        valid_cog=valid,
        jpeg_quality=int(quality) if quality and quality.isdigit() else None,
    )


def plan_tiers(info: RasterInfo, options: RasterOptions, layout: SourceLayout) -> TierPlan:
    """Which rule applies to each tier of this source (module docstring)."""
    usable = (
        not options.reprojects
        and layout.valid_cog
        and layout.compression is not None
        and info.crs_source == "dataset"
    )
    default_analysis = (options.analysis_compression.upper(), options.analysis_level) == (
        "DEFLATE",
        1,
    )
    return TierPlan(
        layout=layout,
        archive_is_source=usable and "archive" in options.tiers,
        analysis_is_source=usable and layout.lossy and default_analysis,
    )


def storage_report(
    source_bytes: int, tiers: dict[str, tuple[int, str | None, str | None]]
) -> dict[str, Any]:
    """Bytes of each tier against the source's (``tiers``: name -> (bytes, codec, rule)), for
    the STAC item and the run metadata."""
    source = max(source_bytes, 1)
    out: dict[str, Any] = {"source_bytes": source_bytes, "tiers": {}}
    for name, (size, codec, rule) in tiers.items():
        entry: dict[str, Any] = {"bytes": size, "ratio": round(size / source, 4), "codec": codec}
        if rule:
            entry["rule"] = rule
        out["tiers"][name] = entry
    out["total_ratio"] = round(sum(t[0] for t in tiers.values()) / source, 4)
    return out


def _codec(value: str | None) -> str | None:
    if not value:
        return None
    name = value.upper().replace("YCBCR ", "").strip()  # "YCbCr JPEG" -> JPEG
    return None if name in ("NONE", "") else name


def _marked_lossless(codec: str, structure: dict[str, str]) -> bool:
    if codec == "LERC":
        return structure.get("MAX_Z_ERROR", "0") in ("0", "0.0")
    if codec in ("WEBP", "JXL"):
        return structure.get(f"{codec}_LOSSLESS", "").upper() in ("TRUE", "YES")
    return False
