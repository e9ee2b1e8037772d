"""Run metadata of a published raster: what the ``raster_cog`` asset shows per partition.

JSON-able values (``*_href`` keys are hrefs, ``preview`` is Markdown); the asset turns them into
Dagster metadata as they are. Split from ``publish_raster`` so that module stays the use case.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from geo_platform.lib import stac_ext
from geo_platform.lib.quality.checks import Consistency, RasterQuality
from geo_platform.lib.raster.cog import CogBuildResult
from geo_platform.lib.stac.completeness import COMPLETENESS_PROPERTY, MISSING_PROPERTY
from geo_platform.lib.stac.render import RENDERS_PROPERTY

STORAGE_PROPERTY = stac_ext.prop("storage")
"""Item property: bytes of each tier against the source's, and the rule behind each encoding."""
_PREVIEW_MAX_BYTES = 200_000


def thumbnail_markdown(path: Path | None) -> str:
    """The thumbnail inlined as Markdown (small ones only: run metadata is stored per run)."""
    if path is None or not path.is_file() or path.stat().st_size > _PREVIEW_MAX_BYTES:
        return "(no preview)"
    data = base64.b64encode(path.read_bytes()).decode()
    return f"![preview](data:image/png;base64,{data})"


def run_metadata(
    result: CogBuildResult,
    item: dict[str, Any],
    hrefs: dict[str, str],
    blobs: list[str],
    preview: str,
    quality: RasterQuality,
    consistency: Consistency,
) -> dict[str, Any]:
    """Run metadata: the raster, each tier (size, codec, ratio to the source, href), the quality
    and consistency figures and the item's completeness."""
    ri = result.info
    meta: dict[str, Any] = {
        "preview": preview,
        "crs": ri.crs_code or "custom WKT",
        "width": ri.width,
        "height": ri.height,
        "bands": ri.count,
        "dtype": ri.dtypes[0],
        "bbox_4326": list(result.footprint.bbox),
        "stac_item": f"{item['collection']}/{item['id']}",
        "geo_platform/blobs": blobs,
    }
    source_size = max(ri.file_size, 1)
    for t in result.tiers.values():
        if t.skipped_reason is not None or t.tier not in hrefs:
            meta[f"{t.tier}_skipped"] = t.skipped_reason
            continue
        meta[f"{t.tier}_bytes"] = t.size_bytes
        meta[f"{t.tier}_compression"] = t.compression
        meta[f"{t.tier}_ratio_vs_source"] = round(t.size_bytes / source_size, 4)
        meta[f"{t.tier}_href"] = hrefs[t.tier]
        if t.rule:
            meta[f"{t.tier}_rule"] = t.rule
    meta["storage"] = item["properties"][STORAGE_PROPERTY]
    props = item["properties"]
    meta.update(quality.metadata())
    meta.update(consistency.metadata())
    meta["quality/completeness"] = props[COMPLETENESS_PROPERTY]
    meta["completeness_missing"] = props[MISSING_PROPERTY]
    if props.get(RENDERS_PROPERTY):
        meta["renders"] = props[RENDERS_PROPERTY]
    return meta
