"""Promotion: staging -> production (promote_job, demote_job, auto-promotion assets).

What ``definitions.py`` registers: ``PROMOTION_JOBS``, ``promotion_assets(settings)`` and the
resource ``promotion`` (``promotion_resource(settings)``).
"""

from geo_platform.defs.promotion.assets import promotion_assets
from geo_platform.defs.promotion.jobs import (
    PROMOTION_JOBS,
    demote_job,
    promote_job,
    promotion_schedule,
    run_config,
)
from geo_platform.resources.promotion import PromotionResource, promotion_resource

__all__ = [
    "PROMOTION_JOBS",
    "PromotionResource",
    "demote_job",
    "promote_job",
    "promotion_assets",
    "promotion_resource",
    "promotion_schedule",
    "run_config",
]
