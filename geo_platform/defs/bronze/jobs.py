"""Bronze jobs: what the bronze sensor launches and what `dagster job backfill` runs."""

from __future__ import annotations

import dagster as dg

from geo_platform.lib.types import DataKind

BRONZE_JOBS: dict[DataKind, dg.UnresolvedAssetJobDefinition] = {
    kind: dg.define_asset_job(
        name=f"bronze_{kind}_job",
        selection=dg.AssetSelection.assets(f"bronze_{kind}"),
        description=f"Inventory bronze {kind} files (one partition per file).",
    )
    for kind in ("raster", "vector")
}
