"""`geo-platform rebase-hrefs`: published hrefs follow a changed public base URL, in one step.

The work is ``workflows.rebase_hrefs`` over both targets: staging (``GEO_PLATFORM_DATABASE_URL``,
container ``silver``) and production (``GEO_PLATFORM_PRODUCTION_DATABASE_URL``, ``silver-prod``),
connecting with those (administrator) URLs, never as the reader. A dry run unless ``apply``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from geo_platform.app.serve import TARGETS, target_container
from geo_platform.resources.blob_store import blob_store_from_settings
from geo_platform.settings import Settings
from geo_platform.store import db
from geo_platform.workflows.rebase_hrefs import rebase_catalog


def rebase_hrefs(
    settings: Settings, *, apply: bool = False, targets: tuple[str, ...] = TARGETS
) -> dict[str, dict[str, Any]]:
    """Per target: what ``rebase_catalog`` changed (or would change)."""
    store = blob_store_from_settings(settings)
    out: dict[str, dict[str, Any]] = {}
    for target in targets:
        container = target_container(settings, target)
        url = settings.production_database_url if target == "production" else settings.database_url
        with db.connect(url) as conn:
            out[target] = asdict(rebase_catalog(conn, store, container, apply=apply))
    return out
