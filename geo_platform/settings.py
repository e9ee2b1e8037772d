"""All configuration, read from environment variables in this one place.

Every variable is documented in the README with its default. Nothing else in the package reads
``os.environ`` for platform settings. ``Settings`` groups its fields by concern (storage,
services, pipeline, tiling, lifecycle, promotion, access), one loader per group. Dagster code
(``geo_platform.defs``) never reads settings itself: ``geo_platform.resources.build_resources``
turns them into resources, and the definitions get those.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".state"
ANALYTICS_FOLDER = "analytics"
DEFAULT_TILING_THRESHOLD_PIXELS = 16384 * 16384
DEFAULT_TILING_TILE_SIZE = 4096
DEFAULT_PG_PORT = 55432
DEFAULT_REDIS_PORT = 56379


def _env(name: str, default: str = "") -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


def _env_bool(name: str, default: bool) -> bool:
    return _env(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


def redact_url(url: str) -> str:
    """A connection URL without its password (safe for logs, metadata and CLI output)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def redact_connection_string(conn: str) -> str:
    """An Azure connection string with its AccountKey / SharedAccessSignature blanked."""
    out = []
    for part in conn.split(";"):
        key, _, _value = part.partition("=")
        if key.strip().lower() in {"accountkey", "sharedaccesssignature"}:
            out.append(f"{key}=***")
        else:
            out.append(part)
    return ";".join(out)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting, in one frozen record whose fields are grouped by concern (storage,
    services, pipeline, tiling, lifecycle, promotion and access); ``load_settings`` reads each
    group from the environment. Resources get their values from here through
    ``geo_platform.resources.build_resources`` only."""

    # --- storage: local state, blob store and containers, the platform database ----------------
    state_dir: Path
    blob_backend: str
    blob_root: Path
    azure_connection_string: str
    azure_account_url: str
    bronze_container: str
    silver_container: str
    database_url: str
    geo_schema: str
    dagster_home: Path
    # --- services: local PostgreSQL/PgBouncer/Azurite, the Dagster UI and serving ports ---------
    pg_port: int
    pgbouncer_port: int
    azurite_port: int
    dagster_ui_port: int
    # Redis, the Celery broker and result backend (GEO_PLATFORM_EXECUTOR=celery): the loopback
    # port of our own redis-server, or the URL of an external Redis ("" = ours; `services up`
    # leaves an external one alone). Runs and workers use ``broker_url``.
    redis_port: int = DEFAULT_REDIS_PORT
    redis_url: str = field(default="", repr=False)
    # Azurite's queue service (blob events in development and CI); 0: the blob port + 1
    # (``queue_emulator_port``), so a Settings with another blob port moves both.
    azurite_queue_port: int = 0
    # Serving (geo_platform.app.serve): loopback ports of the STAC API, the tiler and OGC Features.
    stac_port: int = 8081
    tiler_port: int = 8082
    features_port: int = 8083
    # The silver containers over HTTP (geo-platform serve, local backend), and the public base URL
    # of every blob href in STAC items: href = <base>/<container>/<path>. Empty: the files server
    # on loopback (local backend) or the storage account's URL (Azure).
    files_port: int = 8084
    public_base_url: str = ""
    # --verbose on the CLI: Dagster's beta warnings and run logs in the terminal too.
    verbose: bool = False
    # Where `geo-platform demo` finds real sample files (default ../shared/testdata).
    sample_data_dir: Path = REPO_ROOT.parent / "shared" / "testdata"
    # --- pipeline: execution, sensor batching, per-file rules, duplicates, prices ---------------
    executor: str
    # Celery (executor "celery"): seconds a step message may stay unacknowledged before Redis
    # hands it to another worker; must exceed the longest step (see deploy/README.md).
    celery_visibility_timeout: int = 7200
    event_batch_size: int
    sensor_batch_size: int
    sensor_max_adds_per_tick: int
    sensor_interval_seconds: int
    vector_assume_crs: str
    # Event-driven ingestion (geo_platform.defs.bronze.event_sensor): the Storage Queue Event
    # Grid writes bronze blob events to ("" = off: the listing sensor alone, every
    # sensor_interval_seconds), how often the event sensor reads it, and how often the listing
    # sensor then runs as a reconciler (catching the events that were lost).
    event_queue: str = ""
    event_sensor_interval_seconds: int = 10
    reconcile_interval_seconds: int = 900
    raster_rules: str
    vector_rules: str
    # Quality and accounting: duplicate handling and the storage price table.
    duplicates: str = "link"
    prices: str = ""
    # --- tiling: large rasters and raster collections (geo_platform.workflows.publish_tiled) ----
    # Folder prefixes that are collections (comma-separated; a `_collection.json` marker also
    # declares one), the tiling threshold (pixels), tile size, and where tiles are staged between
    # runs (kept after a failure so a re-run builds only the missing tiles).
    raster_collections: str = ""
    tiling_threshold_pixels: int = DEFAULT_TILING_THRESHOLD_PIXELS
    tiling_tile_size: int = DEFAULT_TILING_TILE_SIZE
    tiling_work_dir: str = ""
    # --- lifecycle (geo_platform.defs.lifecycle): what a bronze removal does (off | dry_run |
    # on), the webhook for run notifications ("" = none), success summaries, and whether the
    # daily janitor removes what it finds (default: report only).
    unpublish_on_removal: str = "off"
    webhook_url: str = field(default="", repr=False)
    notify_success: bool = True
    janitor_apply: bool = False
    # --- promotion (geo_platform.workflows.promote): staging = database_url + silver_container
    # (where pipelines publish); production = its own database (geo schema + pgstac) and container.
    production_database_url: str = ""
    production_container: str = "silver-prod"
    auto_promote: str = ""
    # --- access: least-privilege roles created by the setup scripts (geo_platform.services.access).
    writer_role: str = "geo_writer"
    promoter_role: str = "geo_promoter"
    reader_role: str = "geo_reader"
    admin_role: str = "geo_admin"
    # Role passwords: from the environment only; repr=False keeps them out of any printed Settings.
    role_passwords: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def queue_emulator_port(self) -> int:
        """The port of Azurite's queue service (GEO_PLATFORM_AZURITE_QUEUE_PORT, else the blob
        port + 1)."""
        return self.azurite_queue_port or self.azurite_port + 1

    @property
    def listing_interval_seconds(self) -> int:
        """Seconds between two ticks of the listing sensor: GEO_PLATFORM_SENSOR_INTERVAL, or
        GEO_PLATFORM_RECONCILE_INTERVAL when events drive ingestion (GEO_PLATFORM_EVENT_QUEUE)."""
        return self.reconcile_interval_seconds if self.event_queue else self.sensor_interval_seconds

    @property
    def external_redis(self) -> bool:
        """True when GEO_PLATFORM_REDIS_URL names a Redis (not our own loopback one)."""
        return bool(self.redis_url)

    @property
    def broker_url(self) -> str:
        """The Redis of Celery steps: GEO_PLATFORM_REDIS_URL, else ours on redis_port."""
        return self.redis_url or local_redis_url(self.redis_port)

    @property
    def public_blob_base(self) -> str:
        """The base URL of blob hrefs (``<base>/<container>/<path>``): GEO_PLATFORM_PUBLIC_BASE_URL,
        else the files server of ``geo-platform serve`` (local backend) or "" (Azure: the
        account URL)."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return "" if self.blob_backend == "azure" else f"http://127.0.0.1:{self.files_port}"

    @property
    def analytics_dir(self) -> Path:
        """Folder of the DuckDB catalog and of its download cache."""
        return self.state_dir / ANALYTICS_FOLDER

    @property
    def pg_fast(self) -> bool:
        """GEO_PLATFORM_PG_FAST=1: start the local cluster with fsync, synchronous_commit and
        full_page_writes off (throwaway test/CI data only; read when the server starts)."""
        return _env_bool("GEO_PLATFORM_PG_FAST", False)

    @property
    def local_database(self) -> bool:
        """True when the platform manages its own PostgreSQL cluster (no external URL given)."""
        return not _env("GEO_PLATFORM_DATABASE_URL")

    def role_password(self, kind: str) -> str:
        """The password of role ``kind`` (writer, promoter, reader, admin): from
        GEO_PLATFORM_<KIND>_PASSWORD, else, for the project's own trust-auth cluster only, a
        development default (``<role>-dev-only``). Empty means: no password in the URL."""
        value = self.role_passwords.get(kind, "")
        if value:
            return value
        return f"{self.role_name(kind)}-dev-only" if self.local_database else ""

    def role_name(self, kind: str) -> str:
        names = {
            "writer": self.writer_role,
            "promoter": self.promoter_role,
            "reader": self.reader_role,
            "admin": self.admin_role,
        }
        if kind not in names:
            raise ValueError(f"unknown role kind {kind!r} (use {sorted(names)})")
        return names[kind]

    def role_url(self, kind: str, target: str = "staging") -> str:
        """The staging or production database URL, connecting as role ``kind``.

        Contains the role's password (if any): never log it; use ``redact_url`` for display.
        """
        base = self.production_database_url if target == "production" else self.database_url
        if target not in ("staging", "production"):
            raise ValueError(f"unknown target {target!r} (use 'staging' or 'production')")
        return url_with_user(base, self.role_name(kind), self.role_password(kind))

    @property
    def dagster_pg(self) -> dict[str, str]:
        """Connection fields for Dagster's own storage (dagster.yaml reads these env vars)."""
        parts = urlsplit(self.database_url)
        return {
            "DAGSTER_PG_HOST": _env("DAGSTER_PG_HOST", parts.hostname or "127.0.0.1"),
            "DAGSTER_PG_PORT": _env("DAGSTER_PG_PORT", str(parts.port or 5432)),
            "DAGSTER_PG_USER": _env("DAGSTER_PG_USER", parts.username or "postgres"),
            "DAGSTER_PG_PASSWORD": _env("DAGSTER_PG_PASSWORD", parts.password or ""),
            "DAGSTER_PG_DB": _env("DAGSTER_PG_DB", "dagster"),
        }


def url_with_user(url: str, user: str, password: str = "") -> str:
    """``url`` with its user (and password) replaced; host, port, database and query kept."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    cred = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    return urlunsplit(parts._replace(netloc=f"{cred}@{host}"))


def url_with_database(url: str, database: str) -> str:
    """``url`` pointing at another database on the same server (credentials kept)."""
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(database, safe="")))


ROLE_KINDS = ("writer", "promoter", "reader", "admin")


def load_settings() -> Settings:
    """Read the environment now (call again after changing it; nothing is cached)."""
    storage = _storage_settings()
    return Settings(
        **storage,
        **_service_settings(),
        **_pipeline_settings(),
        **_tiling_settings(),
        **_lifecycle_settings(),
        **_promotion_settings(storage["database_url"]),
    )


def _storage_settings() -> dict[str, Any]:
    """Local state, the blob store and its containers, the platform database."""
    state = Path(_env("GEO_PLATFORM_STATE_DIR", str(DEFAULT_STATE_DIR)))
    pg_port = _env_int("GEO_PLATFORM_PG_PORT", DEFAULT_PG_PORT)
    default_db = f"postgresql://geo_platform@127.0.0.1:{pg_port}/geo_platform"
    return {
        "state_dir": state,
        "blob_backend": _env("GEO_PLATFORM_BLOB_BACKEND", "local").lower(),
        "blob_root": Path(_env("GEO_PLATFORM_BLOB_ROOT", str(state / "blobs"))),
        "azure_connection_string": _env("AZURE_STORAGE_CONNECTION_STRING"),
        "azure_account_url": _env("AZURE_STORAGE_ACCOUNT_URL"),
        "bronze_container": _env("GEO_PLATFORM_BRONZE_CONTAINER", "bronze"),
        "silver_container": _env("GEO_PLATFORM_SILVER_CONTAINER", "silver"),
        "database_url": _env("GEO_PLATFORM_DATABASE_URL", default_db),
        "geo_schema": _env("GEO_PLATFORM_GEO_SCHEMA", "geo"),
        "dagster_home": Path(_env("DAGSTER_HOME", str(state / "dagster_home"))),
    }


def _service_settings() -> dict[str, Any]:
    """Ports of the local services, the Dagster UI and the serving stack."""
    pg_port = _env_int("GEO_PLATFORM_PG_PORT", DEFAULT_PG_PORT)
    redis_port = _env_int("GEO_PLATFORM_REDIS_PORT", DEFAULT_REDIS_PORT)
    return {
        "pg_port": pg_port,
        "pgbouncer_port": _env_int("GEO_PLATFORM_PGBOUNCER_PORT", pg_port + 1000),
        "azurite_port": _env_int("GEO_PLATFORM_AZURITE_PORT", 10000),
        "azurite_queue_port": _env_int("GEO_PLATFORM_AZURITE_QUEUE_PORT", 0),
        "dagster_ui_port": _env_int("GEO_PLATFORM_UI_PORT", 3000),
        "redis_port": redis_port,
        "redis_url": _env("GEO_PLATFORM_REDIS_URL"),
        "stac_port": _env_int("GEO_PLATFORM_STAC_PORT", 8081),
        "tiler_port": _env_int("GEO_PLATFORM_TILER_PORT", 8082),
        "features_port": _env_int("GEO_PLATFORM_FEATURES_PORT", 8083),
        "files_port": _env_int("GEO_PLATFORM_FILES_PORT", 8084),
        "public_base_url": _env("GEO_PLATFORM_PUBLIC_BASE_URL"),
        "verbose": _env_bool("GEO_PLATFORM_VERBOSE", False),
        "sample_data_dir": Path(
            _env("GEO_PLATFORM_SAMPLE_DATA", str(REPO_ROOT.parent / "shared" / "testdata"))
        ),
    }


def _pipeline_settings() -> dict[str, Any]:
    """Execution, sensor batching, per-file rules, duplicates and the price table."""
    return {
        "executor": _env("GEO_PLATFORM_EXECUTOR", "multiprocess").lower(),
        "celery_visibility_timeout": _env_int("GEO_PLATFORM_CELERY_VISIBILITY_TIMEOUT", 7200),
        # Dagster's own switch: a step's per-partition materializations and observations are
        # written to the event log in one INSERT instead of one per event (dagster-postgres still
        # writes a run's planned events one by one).
        "event_batch_size": _env_int("DAGSTER_EVENT_BATCH_SIZE", 500),
        "sensor_batch_size": _env_int("GEO_PLATFORM_SENSOR_BATCH_SIZE", 100),
        "sensor_max_adds_per_tick": _env_int("GEO_PLATFORM_SENSOR_MAX_ADDS", 25_000),
        "sensor_interval_seconds": _env_int("GEO_PLATFORM_SENSOR_INTERVAL", 30),
        "event_queue": _env("GEO_PLATFORM_EVENT_QUEUE"),
        "event_sensor_interval_seconds": _env_int("GEO_PLATFORM_EVENT_SENSOR_INTERVAL", 10),
        "reconcile_interval_seconds": _env_int("GEO_PLATFORM_RECONCILE_INTERVAL", 900),
        "vector_assume_crs": _env("GEO_PLATFORM_VECTOR_ASSUME_CRS"),
        "raster_rules": _env("GEO_PLATFORM_RASTER_RULES"),
        "vector_rules": _env("GEO_PLATFORM_VECTOR_RULES"),
        "duplicates": _env("GEO_PLATFORM_DUPLICATES", "link").lower(),
        "prices": _env("GEO_PLATFORM_PRICES"),
    }


def _tiling_settings() -> dict[str, Any]:
    """Large-raster tiling and raster collections (see Settings fields)."""
    return {
        "raster_collections": _env("GEO_PLATFORM_RASTER_COLLECTIONS"),
        "tiling_threshold_pixels": _env_int(
            "GEO_PLATFORM_TILING_THRESHOLD_PIXELS", DEFAULT_TILING_THRESHOLD_PIXELS
        ),
        "tiling_tile_size": _env_int("GEO_PLATFORM_TILING_TILE_SIZE", DEFAULT_TILING_TILE_SIZE),
        "tiling_work_dir": _env("GEO_PLATFORM_TILING_WORK_DIR"),
    }


def _lifecycle_settings() -> dict[str, Any]:
    """Unpublish on bronze removal, webhook notifications, the janitor (see Settings fields)."""
    return {
        "unpublish_on_removal": _env("GEO_PLATFORM_UNPUBLISH_ON_REMOVAL", "off").strip().lower(),
        "webhook_url": _env("GEO_PLATFORM_WEBHOOK_URL"),
        "notify_success": _env_bool("GEO_PLATFORM_NOTIFY_SUCCESS", True),
        "janitor_apply": _env_bool("GEO_PLATFORM_JANITOR_APPLY", False),
    }


def _promotion_settings(database_url: str) -> dict[str, Any]:
    """Production target, auto-promotion, and the access roles (see Settings fields)."""
    return {
        "production_database_url": _env(
            "GEO_PLATFORM_PRODUCTION_DATABASE_URL",
            url_with_database(database_url, "geo_platform_prod"),
        ),
        "production_container": _env("GEO_PLATFORM_PRODUCTION_CONTAINER", "silver-prod"),
        "auto_promote": _env("GEO_PLATFORM_AUTO_PROMOTE"),
        "writer_role": _env("GEO_PLATFORM_WRITER_ROLE", "geo_writer"),
        "promoter_role": _env("GEO_PLATFORM_PROMOTER_ROLE", "geo_promoter"),
        "reader_role": _env("GEO_PLATFORM_READER_ROLE", "geo_reader"),
        "admin_role": _env("GEO_PLATFORM_ADMIN_ROLE", "geo_admin"),
        "role_passwords": {k: _env(f"GEO_PLATFORM_{k.upper()}_PASSWORD") for k in ROLE_KINDS},
    }


def local_redis_url(port: int) -> str:
    """URL of our own loopback redis-server (geo_platform.services.redis), database 0."""
    return f"redis://127.0.0.1:{port}/0"


def azurite_connection_string(port: int, queue_port: int = 0) -> str:
    """Connection string of a local Azurite (its well-known development account, public key):
    the blob service on ``port``, the queue service on ``queue_port`` (0: ``port + 1``)."""
    key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    queue = queue_port or port + 1
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={key};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        f"QueueEndpoint=http://127.0.0.1:{queue}/devstoreaccount1;"
    )
