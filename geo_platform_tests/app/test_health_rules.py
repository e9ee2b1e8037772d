"""Which sensors health expects, and how old their last tick may be."""

from __future__ import annotations

import dataclasses

from geo_platform.app.health import (
    TICK_STALE_SECONDS,
    _sensor_defaults,
    sensors_for,
    stale_after,
)
from geo_platform.settings import Settings


def test_the_event_sensor_is_expected_only_with_a_queue(settings: Settings) -> None:
    without = dataclasses.replace(settings, event_queue="")
    with_queue = dataclasses.replace(settings, event_queue="bronze-events")
    assert "bronze_event_sensor" not in sensors_for(without)
    assert sensors_for(with_queue) == ("bronze_sensor", "silver_automation", "bronze_event_sensor")


def test_a_slow_reconciler_is_not_called_stale() -> None:
    assert stale_after(30) == TICK_STALE_SECONDS
    assert stale_after(900) == 2700  # the listing sensor as a 15-minute reconciler


def test_defaults_come_from_the_code_location() -> None:
    defaults = _sensor_defaults(["bronze_sensor", "silver_automation"])
    assert defaults["bronze_sensor"][0] is True and defaults["bronze_sensor"][1] > 0
    assert defaults["silver_automation"] == (True, 15)
