"""Jobs over bronze partitions: what the bronze sensor launches and what backfills target.

The sensor launches one *pipeline* run per batch of new files: bronze inventory, silver and
catalog stages in one run (no start-up cost per stage). When some files of a batch fail, the
good ones are recorded as materialized and declarative automation carries them on in later runs.
"""

from __future__ import annotations

import dagster as dg

from geo_platform.lib.types import DataKind

# The asset of each stage, in order, per kind of bronze file.
STAGE_ASSETS: dict[DataKind, list[str]] = {
    "raster": ["bronze_raster", "raster_cog", "raster_stac_item"],
    "vector": ["bronze_vector", "vector_table", "vector_stac_item"],
}

BRONZE_JOBS: dict[DataKind, dg.UnresolvedAssetJobDefinition] = {
    kind: dg.define_asset_job(
        name=f"bronze_{kind}_job",
        selection=dg.AssetSelection.assets(f"bronze_{kind}"),
        description=f"Inventory bronze {kind} files (one partition per file).",
    )
    for kind in ("raster", "vector")
}

PIPELINE_JOBS: dict[DataKind, dg.UnresolvedAssetJobDefinition] = {
    kind: dg.define_asset_job(
        name=f"{kind}_pipeline_job",
        selection=dg.AssetSelection.assets(*assets),
        description=f"Every stage of bronze {kind} files in one run: {' -> '.join(assets)}.",
    )
    for kind, assets in STAGE_ASSETS.items()
}
