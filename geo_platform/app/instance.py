"""The platform's Dagster instance: the environment a Dagster process needs, and the instance.

Why one place: the CLI commands that run jobs in process (``ingest --wait``, ``backfill``,
``unpublish``, ``promote``...), ``health`` and the scripts that start ``dagster dev`` must all
point Dagster at the same DAGSTER_HOME and PostgreSQL storage. ``dagster_env`` says what that
environment is; ``use_platform_instance`` applies it to this process (values already set in
the environment win) and ``dagster_instance`` opens the instance. ``write_dotenv`` writes the
same variables to the repository's ``.env``, which Dagster's own CLI (``dagster ...``, ``dg
...``) reads from its working directory, so those commands work in the checkout unprepared.

The terminal stays quiet unless asked (``--verbose``, GEO_PLATFORM_VERBOSE): ``quiet_warnings``
hides Dagster's beta/preview warnings and ``console_logs`` is the run config that keeps
in-process runs' DEBUG lines out of the terminal (they still go to the instance and the UI).
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geo_platform.services import ensure_dagster_home
from geo_platform.services.pgbouncer import pgbouncer_status
from geo_platform.settings import REPO_ROOT, Settings, load_settings

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
    """The platform's Dagster instance (the environment prepared by ``use_platform_instance``).

    Its PostgreSQL storages keep their connections open (a pool, as the webserver's), instead of
    dagster-postgres' default of one new connection per query: a one-file ``ingest --wait``
    opened 200 connections, it now opens 12. No statement timeout is added."""
    import dagster as dg

    use_platform_instance(settings)
    instance = dg.DagsterInstance.get()
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=20)
    return instance


# --- Dagster's own CLI: the repository's .env --------------------------------------------------
DOTENV = REPO_ROOT / ".env"
_UNSAFE = re.compile(r'[$}"\\\n]')


def dotenv_text(settings: Settings) -> str:
    """``.env`` lines for ``dagster_env``: ``KEY="${KEY:-value}"``, so a variable already set in
    the environment wins (Dagster's CLI overrides the environment with its ``.env``, and tests
    and scripts point Dagster at other instances). A value python-dotenv cannot carry safely
    (``$``, ``}``, quotes, backslashes: a password, typically) is left out with a comment."""
    lines = [
        "# Written by `geo-platform services up` (geo_platform.app.instance.write_dotenv): the",
        "# Dagster instance of this checkout, for `dagster ...` and `dg ...` run from here.",
        "# A variable set in the environment wins. Regenerated on every `services up`.",
    ]
    for key, value in dagster_env(settings).items():
        if _UNSAFE.search(value):
            lines.append(f"# {key} not written (characters .env cannot hold): export it")
            continue
        lines.append(f'{key}="${{{key}:-{value}}}"')
    return "\n".join(lines) + "\n"


def write_dotenv(settings: Settings, path: Path = DOTENV) -> Path:
    """Write ``dotenv_text`` to ``path`` (git-ignored, readable by its owner only)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dotenv_text(settings))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


# --- a quiet terminal --------------------------------------------------------------------------
QUIET_RUN_LOGS: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
_BETA = r".*is currently in (beta|preview)"
_LAYER_NOTES = r".*: layer .* (skipped: |is declared as .* planned from its features)"


def quiet_warnings() -> None:
    """Hide Dagster's BetaWarning/PreviewWarning in this process (unless GEO_PLATFORM_VERBOSE),
    and the vector loader's notes on layers (a GPX file's empty layers skipped, a layer planned
    again from its features: the report shows the tables, ``failed_layers`` what was left out).
    Matched by message, so that nothing imports Dagster or the loader to set the filter."""
    if not load_settings().verbose:
        warnings.filterwarnings("ignore", message=_BETA)
        warnings.filterwarnings("ignore", message=_LAYER_NOTES)


def console_logs() -> dict[str, Any]:
    """Run config for in-process runs: the console logger silenced unless verbose (the run's
    events still reach the instance, and the UI shows them)."""
    return {} if load_settings().verbose else QUIET_RUN_LOGS
