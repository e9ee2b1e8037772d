"""The platform's Dagster instance: the environment a Dagster process needs, and the instance.

Why one place: the CLI commands that run jobs in process (``ingest --wait``, ``backfill``,
``unpublish``, ``promote``...), ``health`` and the scripts that start ``dagster dev`` must all
point Dagster at the same DAGSTER_HOME and PostgreSQL storage. ``dagster_env`` says what that
environment is; ``use_platform_instance`` applies it to this process (values already set in
the environment win) and ``dagster_instance`` opens the instance.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from geo_platform.services import ensure_dagster_home
from geo_platform.services.pgbouncer import pgbouncer_status
from geo_platform.settings import Settings

if TYPE_CHECKING:
    import dagster as dg


def dagster_env(settings: Settings) -> dict[str, str]:
    """Environment a Dagster process needs (DAGSTER_HOME, the DAGSTER_PG_* fields and
    DAGSTER_EVENT_BATCH_SIZE, which batches event-log writes).

    With the local cluster, Dagster's storage goes through PgBouncer when it runs (see
    services/pgbouncer.py), unless DAGSTER_PG_PORT was set explicitly."""
    env = {
        "DAGSTER_HOME": str(settings.dagster_home),
        **settings.dagster_pg,
        "DAGSTER_EVENT_BATCH_SIZE": str(settings.event_batch_size),
    }
    if "DAGSTER_PG_PORT" not in os.environ and pgbouncer_status(settings).get("running"):
        env["DAGSTER_PG_PORT"] = str(settings.pgbouncer_port)
    return env


def use_platform_instance(settings: Settings) -> None:
    """Point this process's Dagster at the platform's instance (DAGSTER_HOME with its
    ``dagster.yaml``, and the PostgreSQL storage); variables already set are kept."""
    ensure_dagster_home(settings)
    for key, value in dagster_env(settings).items():
        os.environ.setdefault(key, value)


def dagster_instance(settings: Settings) -> dg.DagsterInstance:
    """The platform's Dagster instance (the environment prepared by ``use_platform_instance``)."""
    import dagster as dg

    use_platform_instance(settings)
    return dg.DagsterInstance.get()
