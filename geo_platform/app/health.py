"""Platform health: is every moving part up, reachable and doing its job?

Why: "the map is empty" can mean a stopped database, a full or read-only blob store, a daemon
that died, or a sensor someone switched off. ``check_all`` answers each question with one
``Check`` (name, ok, detail) and nothing is hidden: a check that cannot run fails, a check the
caller chose to skip says so.

Checks (names usable with ``skip``):
- ``database``: the platform database answers;
- ``postgis`` / ``pgstac``: installed, with versions (pgstac must match the installed pypgstac);
- ``blob:<container>``: write, read back and delete a probe blob (a hidden name, which the bronze
  sensor ignores) in the bronze and silver containers;
- ``dagster_storage``: the Dagster instance (DAGSTER_HOME, PostgreSQL storage) answers a query;
- ``daemon``: every required daemon has a fresh heartbeat;
- ``sensor:<name>``: ``bronze_sensor``, ``silver_automation`` (and ``bronze_event_sensor`` when
  an event queue is configured) are turned on (stored state, or
  their default status when nothing is stored), a daemon is ticking them (a sensor is never
  called running while no daemon runs), their last finished tick did not fail (the error is
  shown; a tick still running is judged by the one before it, and is hung once older than the
  staleness limit), and once they have ticked, they ticked recently.

``exit_code`` tells the two kinds of trouble apart: 0 healthy; 1 a service is down or broken
(database, PostGIS/pgstac, blob store, Dagster storage); 2 the services are up but the
orchestration is not (no daemon, or a sensor stopped or failing).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from geo_platform.app.instance import dagster_env, dagster_instance
from geo_platform.settings import Settings, redact_url
from geo_platform.store import db

SENSORS = ("bronze_sensor", "silver_automation")
EVENT_SENSOR = "bronze_event_sensor"


def sensors_for(settings: Settings) -> tuple[str, ...]:
    """The sensors that must run: with an event queue, the event sensor too (the listing
    sensor is then the slower reconciler)."""
    return (*SENSORS, EVENT_SENSOR) if settings.event_queue else SENSORS


TICK_STALE_SECONDS = 600
CONNECT_TIMEOUT = 3


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    skipped: bool = False

    @property
    def status(self) -> str:
        return "skipped" if self.skipped else ("ok" if self.ok else "FAIL")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}


def healthy(checks: Iterable[Check]) -> bool:
    """True when no check failed (skipped checks do not count)."""
    return all(c.ok or c.skipped for c in checks)


EXIT_HEALTHY, EXIT_SERVICES_DOWN, EXIT_NOT_ORCHESTRATING = 0, 1, 2


def is_orchestration(name: str) -> bool:
    """The daemon and sensor checks: what runs the pipelines, as opposed to the services."""
    return name == "daemon" or name.startswith("sensor:")


def exit_code(checks: Iterable[Check]) -> int:
    """0 healthy; 1 a service is down (whatever else failed); 2 only the daemon or sensors."""
    failed = [c for c in checks if not (c.ok or c.skipped)]
    if not failed:
        return EXIT_HEALTHY
    if all(is_orchestration(c.name) for c in failed):
        return EXIT_NOT_ORCHESTRATING
    return EXIT_SERVICES_DOWN


def _guard(name: str, fn: Callable[[], str]) -> Check:
    """Run one check: its detail on success, the error (without secrets) on failure."""
    try:
        return Check(name, True, fn())
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Check(name, False, f"{type(exc).__name__}: {message[:300]}")


# --- database --------------------------------------------------------------------------------
def check_database(settings: Settings) -> list[Check]:
    """database, postgis and pgstac (one connection)."""
    where = redact_url(settings.database_url)
    try:
        conn = db.connect(settings.database_url, timeout=CONNECT_TIMEOUT, autocommit=True)
    except Exception as exc:
        cause = exc.__cause__ or exc  # the driver's own message, not our wrapper's
        why = str(cause).strip().splitlines()[0] if str(cause).strip() else type(exc).__name__
        fail = f"cannot connect to {where}: {why[:300]}"
        return [
            Check("database", False, fail),
            Check("postgis", False, "database unreachable"),
            Check("pgstac", False, "database unreachable"),
        ]
    with conn:
        row = conn.execute("SELECT version()").fetchone()
        out = [Check("database", True, f"{where}: {str(row[0] if row else '')[:40]}")]
        out.append(_guard("postgis", lambda: _one(conn, "SELECT postgis_full_version()")[:60]))
        out.append(_guard("pgstac", lambda: _pgstac_version(conn)))
    return out


def _one(conn: psycopg.Connection[Any], query: str) -> str:
    row = conn.execute(query).fetchone()
    if row is None or row[0] is None:
        raise RuntimeError(f"no answer to {query}")
    return str(row[0])


def _pgstac_version(conn: psycopg.Connection[Any]) -> str:
    from pypgstac import __version__ as wanted

    version = _one(conn, "SELECT pgstac.get_version()")
    if version != wanted:
        raise RuntimeError(f"pgstac {version} installed, pypgstac {wanted} expects {wanted}")
    return f"pgstac {version}"


# --- blob store ------------------------------------------------------------------------------
def check_blob_store(
    settings: Settings, store: Any | None = None, skip: Iterable[str] = ()
) -> list[Check]:
    """Write, read and delete a probe blob in the bronze and silver containers. A container
    named in ``skip`` (``blob:<container>``) is not probed at all: an unreachable store costs
    no retry time for a check the caller does not want."""
    containers = (settings.bronze_container, settings.silver_container)
    skip = set(skip)
    if all(f"blob:{c}" in skip for c in containers):
        return [Check(f"blob:{c}", False, "skipped on request", skipped=True) for c in containers]
    if store is None:
        from geo_platform.resources.blob_store import blob_store_from_settings

        try:
            store = blob_store_from_settings(settings)
        except Exception as exc:
            return [Check("blob_store", False, f"{type(exc).__name__}: {exc}")]
    return [
        Check(f"blob:{c}", False, "skipped on request", skipped=True)
        if f"blob:{c}" in skip
        else _guard(f"blob:{c}", lambda c=c: _probe(store, c))  # type: ignore[misc]
        for c in containers
    ]


def missing_container_message(container: str, variable: str = "") -> str:
    """How to fix a blob container that does not exist (``health`` and ``ingest`` say it)."""
    fix = f"fix {variable} if the name is wrong" if variable else ""
    return (
        f"the container {container!r} does not exist: create it (`geo-platform services up` "
        f"does locally; on Azure, `az storage container create -n {container}`), or "
        f"{fix or 'set the container names in the settings'}"
    )


def _probe(store: Any, container: str) -> str:
    path = f".geo-platform-health-{uuid.uuid4().hex}.probe"  # hidden: the sensor skips it
    payload = f"health probe {time.time()}".encode()
    start = time.monotonic()
    try:
        store.upload_bytes(container, path, payload, "text/plain")
    except Exception as exc:
        if "container does not exist" in str(exc).lower():
            raise RuntimeError(missing_container_message(container)) from exc
        raise
    try:
        with store.local_copy(container, path) as local:
            if local.read_bytes() != payload:
                raise RuntimeError("read back different bytes than written")
    finally:
        deleted = store.delete(container, path)
    if not deleted or store.exists(container, path):
        raise RuntimeError("the probe blob could not be deleted")
    ms = (time.monotonic() - start) * 1000
    return f"write/read/delete in {ms:.0f} ms ({store.describe().get('backend', '?')})"


# --- Dagster ---------------------------------------------------------------------------------
def check_dagster(
    settings: Settings, instance: Any | None = None, skip: Iterable[str] = ()
) -> list[Check]:
    """dagster_storage, daemon and sensor checks against one instance."""
    skip = set(skip)
    try:
        if instance is None:
            _dagster_database_answers(settings)  # fail fast: Dagster retries for ~15 s
            instance = dagster_instance(settings)
        instance.get_run_records(limit=1)
    except Exception as exc:
        fail = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
        names = ["dagster_storage", "daemon", *(f"sensor:{s}" for s in sensors_for(settings))]
        return [
            Check(n, False, fail if n == "dagster_storage" else "Dagster storage unreachable")
            for n in names
        ]
    out = [Check("dagster_storage", True, f"{type(instance.run_storage).__name__} answers")]
    if "daemon" in skip:
        daemon = Check("daemon", False, "skipped on request", skipped=True)
    else:
        daemon = _guard("daemon", lambda: _daemon(instance))
    out.append(daemon)
    defaults = _sensor_defaults(sensors_for(settings))
    for name in sensors_for(settings):
        check_name = f"sensor:{name}"
        if check_name in skip or "sensors" in skip:
            out.append(Check(check_name, False, "skipped on request", skipped=True))
            continue
        sensor = _guard(check_name, lambda n=name: _sensor(instance, n, defaults))  # type: ignore[misc]
        out.append(_without_daemon(sensor, daemon))
    return out


def _without_daemon(sensor: Check, daemon: Check) -> Check:
    """A sensor is only running when a daemon ticks it: say so when none does."""
    if not sensor.ok or daemon.ok:
        return sensor
    if daemon.skipped:
        return Check(sensor.name, True, f"{sensor.detail} (not verified: daemon check skipped)")
    return Check(
        sensor.name, False, f"turned on, but not ticking: no daemon is running ({sensor.detail})"
    )


def _dagster_database_answers(settings: Settings) -> None:
    """Connect to Dagster's storage database (dagster.yaml reads the DAGSTER_PG_* fields)."""
    env = dagster_env(settings)
    where = f"{env['DAGSTER_PG_HOST']}:{env['DAGSTER_PG_PORT']}/{env['DAGSTER_PG_DB']}"
    try:
        psycopg.connect(
            host=env["DAGSTER_PG_HOST"],
            port=int(env["DAGSTER_PG_PORT"]),
            user=env["DAGSTER_PG_USER"],
            password=env["DAGSTER_PG_PASSWORD"] or None,
            dbname=env["DAGSTER_PG_DB"],
            connect_timeout=CONNECT_TIMEOUT,
        ).close()
    except psycopg.OperationalError as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreachable"
        raise RuntimeError(f"Dagster storage database {where}: {why[:200]}") from exc


def _daemon(instance: Any) -> str:
    statuses = instance.get_daemon_statuses()
    if not statuses:
        raise RuntimeError("this instance requires no daemon (ephemeral?)")
    bad = sorted(t for t, s in statuses.items() if s.required and not s.healthy)
    if bad:
        beats = {t: statuses[t].last_heartbeat for t in bad}
        ages = {
            t: f"{time.time() - b.timestamp:.0f}s ago" if b else "never" for t, b in beats.items()
        }
        raise RuntimeError(f"no fresh heartbeat from {', '.join(f'{t} ({ages[t]})' for t in bad)}")
    return f"{len(statuses)} daemons healthy"


def _sensor_defaults(names: Iterable[str]) -> dict[str, tuple[bool, int]]:
    """Whether each sensor runs by default, and its interval (s), from the code location."""
    import dagster as dg

    from geo_platform.definitions import defs

    out = {}
    for name in names:
        sensor = defs.resolve_sensor_def(name)
        running = sensor.default_status == dg.DefaultSensorStatus.RUNNING
        out[name] = (running, int(sensor.minimum_interval_seconds or 30))
    return out


def stale_after(interval_seconds: int) -> int:
    """How old a last tick may be: ``TICK_STALE_SECONDS``, or three intervals of a slow sensor
    (the reconciler ticks every 15 minutes)."""
    return max(TICK_STALE_SECONDS, 3 * interval_seconds)


def _sensor(instance: Any, name: str, defaults: dict[str, tuple[bool, int]]) -> str:
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.scheduler.instigation import InstigatorStatus

    states = [
        s
        for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        if s.instigator_name == name
    ]
    running = {
        InstigatorStatus.RUNNING,
        InstigatorStatus.DECLARED_IN_CODE,
        InstigatorStatus.AUTOMATICALLY_RUNNING,
    }
    if not states:
        if defaults.get(name, (False, 0))[0]:
            return "running (default status; no tick recorded yet)"
        raise RuntimeError("stopped (default status STOPPED and never started)")
    active = [s for s in states if s.status in running]
    if not active:
        raise RuntimeError("stopped (turned off in the UI or CLI)")
    ticks = [
        t
        for s in active
        for t in instance.get_ticks(s.instigator_origin_id, s.selector_id, limit=2)
    ]
    return judge_ticks(ticks, time.time(), stale_after(defaults.get(name, (False, 30))[1]))


def judge_ticks(ticks: list[Any], now: float, stale: float) -> str:
    """A sensor's health from its latest ticks (any order; each has ``status``, ``timestamp``
    and ``error``): the detail when healthy, else RuntimeError with the reason.

    A tick still running says nothing yet, so it is judged by the one before it: a sensor
    whose every tick fails slowly (a store that times out after retries) is not called healthy
    while its next doomed tick runs. A tick running for longer than ``stale`` is hung."""
    ticks = sorted(ticks, key=lambda t: t.timestamp, reverse=True)
    if not ticks:
        return "running (no tick yet)"
    last = ticks[0]
    age = now - last.timestamp
    if _in_progress(last):
        if age > stale:
            raise RuntimeError(f"its tick started {age:.0f}s ago has not finished (hung?)")
        done = [t for t in ticks[1:] if not _in_progress(t)]
        if done and _failed(done[0]):
            ago = now - done[0].timestamp
            raise RuntimeError(
                f"its last tick ({ago:.0f}s ago) failed: {_tick_error(done[0])}"
                f" (a new tick started {age:.0f}s ago)"
            )
        return f"running, a tick started {age:.0f}s ago"
    if _failed(last):
        raise RuntimeError(f"its last tick ({age:.0f}s ago) failed: {_tick_error(last)}")
    if age > stale:
        raise RuntimeError(f"running but its last tick was {age:.0f}s ago (is the daemon up?)")
    return f"running, last tick {age:.0f}s ago"


def _in_progress(tick: Any) -> bool:
    from dagster._core.scheduler.instigation import TickStatus

    return bool(tick.status == TickStatus.STARTED)


def _failed(tick: Any) -> bool:
    from dagster._core.scheduler.instigation import TickStatus

    return bool(tick.status == TickStatus.FAILURE)


def _tick_error(tick: Any) -> str:
    """The failed tick's error, down to its root cause (Dagster wraps the sensor's own
    exception in a SensorExecutionError): first lines only, never the trace."""
    error, lines = tick.error, []
    while error is not None:
        message = (error.message or "").strip()
        if message and "Error occurred during the execution of" not in message:
            lines.append(message.splitlines()[0])
        error = error.cause
    return ("; caused by ".join(lines) if lines else "no error recorded")[:400]


# --- everything ------------------------------------------------------------------------------
def check_all(
    settings: Settings,
    *,
    skip: Iterable[str] = (),
    instance: Any | None = None,
    store: Any | None = None,
) -> list[Check]:
    """Every check, in a stable order. ``skip`` names checks (or "sensors") to skip."""
    skip = set(skip)
    checks = [*check_database(settings), *check_blob_store(settings, store, skip)]
    if "dagster" in skip:
        names = ["dagster_storage", "daemon", *(f"sensor:{s}" for s in sensors_for(settings))]
        checks += [Check(n, False, "skipped on request", skipped=True) for n in names]
    else:
        checks += check_dagster(settings, instance, skip)
    return [
        Check(c.name, False, "skipped on request", skipped=True) if c.name in skip else c
        for c in checks
    ]
