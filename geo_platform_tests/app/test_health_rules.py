"""Which sensors health expects, and how old their last tick may be."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from dagster._core.scheduler.instigation import TickStatus
from dagster._utils.error import SerializableErrorInfo

from geo_platform.app.health import (
    TICK_STALE_SECONDS,
    _sensor_defaults,
    judge_ticks,
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


@dataclasses.dataclass
class Tick:
    """The three fields of Dagster's InstigatorTick that health reads."""

    status: TickStatus
    timestamp: float
    error: Any = None


FAILED = SerializableErrorInfo(
    "StorageUnavailableError: Azure storage unreachable: connection refused\n", [], "X"
)


def test_a_tick_in_progress_is_judged_by_the_one_before_it() -> None:
    now = 1000.0
    running, failed = Tick(TickStatus.STARTED, now - 4), Tick(TickStatus.FAILURE, now - 40, FAILED)
    with pytest.raises(RuntimeError, match=r"last tick \(40s ago\) failed: StorageUnavail"):
        judge_ticks([running, failed], now, 90)
    with pytest.raises(RuntimeError, match=r"a new tick started 4s ago"):
        judge_ticks([failed, running], now, 90)  # order of the list does not matter
    ok = Tick(TickStatus.SKIPPED, now - 40)
    assert judge_ticks([running, ok], now, 90) == "running, a tick started 4s ago"
    assert judge_ticks([running], now, 90) == "running, a tick started 4s ago"


def test_a_tick_running_past_the_staleness_limit_is_hung() -> None:
    now = 1000.0
    with pytest.raises(RuntimeError, match=r"started 120s ago has not finished"):
        judge_ticks(
            [Tick(TickStatus.STARTED, now - 120), Tick(TickStatus.SUCCESS, now - 150)], now, 90
        )


def test_finished_ticks_failed_stale_or_fresh() -> None:
    now = 1000.0
    with pytest.raises(RuntimeError, match=r"last tick \(5s ago\) failed: StorageUnavailableError"):
        judge_ticks([Tick(TickStatus.FAILURE, now - 5, FAILED)], now, 90)
    with pytest.raises(RuntimeError, match=r"last tick was 200s ago"):
        judge_ticks([Tick(TickStatus.SUCCESS, now - 200)], now, 90)
    assert judge_ticks([Tick(TickStatus.SUCCESS, now - 5)], now, 90) == "running, last tick 5s ago"
    assert judge_ticks([], now, 90) == "running (no tick yet)"
