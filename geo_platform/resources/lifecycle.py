"""Lifecycle settings as a resource: what bronze removals trigger, where notifications go, and
whether the daily janitor applies what it finds."""

from __future__ import annotations

import os
from typing import Literal

import dagster as dg

from geo_platform.lib.errors import ConfigError
from geo_platform.settings import Settings

WEBHOOK_ENV = "GEO_PLATFORM_WEBHOOK_URL"


class LifecycleResource(dg.ConfigurableResource):
    """Unpublish-on-removal mode, the notification webhook and the janitor's default mode."""

    unpublish_on_removal: Literal["off", "dry_run", "on"] = "off"
    """What a blob removed from bronze triggers: nothing (default), a dry-run unpublish of its
    items (a report of what would go), or the real unpublish."""
    webhook_url: str = ""
    """Run notifications are POSTed here as JSON; empty = no notifications."""
    notify_success: bool = True
    """Also send a summary when a run succeeds (failures are always sent)."""
    ui_base_url: str = "http://127.0.0.1:3000"
    """Dagster UI base for the run links in notifications."""
    webhook_timeout_s: float = 10.0
    webhook_retries: int = 3
    janitor_apply: bool = False
    """The daily janitor schedule removes what it finds (default: it only reports)."""


def lifecycle_resource_from_settings(settings: Settings) -> LifecycleResource:
    """Built by ``build_resources``. The webhook URL goes in as an ``EnvVar`` when it comes from
    the environment, so the UI's resource page shows the variable name, not the URL (chat
    webhooks carry their token in the URL)."""
    mode = settings.unpublish_on_removal if settings.unpublish_on_removal else "off"
    if mode not in ("off", "dry_run", "on"):
        raise ConfigError(
            f"GEO_PLATFORM_UNPUBLISH_ON_REMOVAL must be off, dry_run or on, not {mode!r}"
        )
    webhook: str | dg.EnvVar = settings.webhook_url
    if settings.webhook_url and os.environ.get(WEBHOOK_ENV) == settings.webhook_url:
        webhook = dg.EnvVar(WEBHOOK_ENV)
    return LifecycleResource(
        unpublish_on_removal=mode,  # type: ignore[arg-type]
        webhook_url=webhook,
        notify_success=settings.notify_success,
        ui_base_url=f"http://127.0.0.1:{settings.dagster_ui_port}",
        janitor_apply=settings.janitor_apply,
    )
