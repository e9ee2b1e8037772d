"""The Celery executor's configuration (GEO_PLATFORM_EXECUTOR=celery), built from Settings.

One configuration serves both sides, so that they agree on the broker and on delivery: the runs
that submit steps (``executor_for`` -> ``celery_executor.configured(celery_config(settings))``)
and the workers that execute them (``dagster-celery worker start -A dagster_celery.app -y
FILE``, FILE written by ``write_worker_config``; scripts/celery-worker.sh does both).

Delivery: a step's message is acknowledged when the step has finished (``task_acks_late``), so a
worker that dies mid-step (its pod or machine lost, SIGKILL) leaves the message unacknowledged
and Redis hands it to another worker once ``celery_visibility_timeout`` seconds have passed since
it was delivered. The same timeout is why it must exceed the longest step: a step still running
after it is handed out a second time (it is idempotent, but the work is done twice). Each worker
runs one step at a time and reserves no other (prefetch 1 with late acks), so idle workers take
the queued steps. Workers sweep for abandoned messages about every tenth of the timeout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from geo_platform.settings import Settings

REDIS_URL_ENV = "GEO_PLATFORM_REDIS_URL"

# dagster-celery's own broker transport defaults (dagster_celery.defaults), kept: the options
# below replace its dict as a whole.
_TRANSPORT_DEFAULTS = {"max_retries": 3, "interval_start": 0, "interval_step": 0.2,
                       "interval_max": 0.5}  # fmt: skip


def celery_config(settings: Settings) -> dict[str, Any]:
    """The ``celery_executor`` config: Redis as broker and result backend, late acks.

    An external Redis URL (it may hold a password) is passed as ``{"env": ...}``, read by each
    process when it starts, so it never lands in Dagster's run or job snapshots."""

    def url() -> str | dict[str, str]:
        return {"env": REDIS_URL_ENV} if settings.external_redis else settings.broker_url

    timeout = settings.celery_visibility_timeout
    transport = {
        **_TRANSPORT_DEFAULTS,
        "visibility_timeout": timeout,
        # kombu sweeps for messages past their visibility timeout every interval * throttle s.
        "unacked_restore_interval": max(1, min(60, timeout // 10)),
        "unacked_restore_throttle": 1,
    }
    return {
        "broker": url(),
        "backend": url(),
        "config_source": {
            "task_acks_late": True,
            "worker_prefetch_multiplier": 1,
            "broker_transport_options": transport,
            "broker_connection_retry_on_startup": True,
            "result_expires": 7 * 24 * 3600,
        },
    }


def write_worker_config(settings: Settings, path: Path) -> Path:
    """Write the YAML that ``dagster-celery worker start -y`` reads (``execution: config:``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"execution": {"config": celery_config(settings)}}))
    return path


# python -m geo_platform.resources.celery FILE: write the worker YAML (scripts/celery-worker.sh).
if __name__ == "__main__":
    import sys

    from geo_platform.settings import load_settings

    print(write_worker_config(load_settings(), Path(sys.argv[1])))
