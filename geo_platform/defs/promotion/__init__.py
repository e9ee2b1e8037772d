"""Promotion: staging -> production (promote_job, demote_job, auto-promotion assets).

``build_defs(settings)`` is this domain's contribution to the code location: the jobs
``promote_job`` and ``demote_job`` and the assets ``raster_production_item`` and
``vector_production_item``. It takes the settings because whether those assets carry an
automation condition is decided when the definitions are built (GEO_PLATFORM_AUTO_PROMOTE).
The ops and assets use the ``promotion`` resource (``geo_platform.resources.promotion``).
"""

import dagster as dg

from geo_platform.defs.promotion.assets import promotion_assets
from geo_platform.defs.promotion.jobs import PROMOTION_JOBS, demote_job, promote_job, run_config
from geo_platform.resources.promotion import PromotionResource, promotion_resource
from geo_platform.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    """The promotion jobs, and the auto-promotion assets (eager only when auto-promote is set)."""
    return dg.Definitions(assets=promotion_assets(settings), jobs=PROMOTION_JOBS)


__all__ = [
    "PROMOTION_JOBS",
    "PromotionResource",
    "build_defs",
    "demote_job",
    "promote_job",
    "promotion_assets",
    "promotion_resource",
    "run_config",
]
