"""All configuration, read from environment variables in this one place.

Every variable is documented in the README with its default. Nothing else in the package reads
``os.environ`` for platform settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent


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


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    blob_backend: str
    blob_root: Path
    azure_connection_string: str
    azure_account_url: str
    bronze_container: str
    silver_container: str
    database_url: str
    dagster_home: Path
    pg_port: int
    azurite_port: int
    dagster_ui_port: int
    geo_schema: str
    sensor_batch_size: int
    sensor_max_adds_per_tick: int
    sensor_interval_seconds: int
    vector_assume_crs: str
    raster_rules: str
    vector_rules: str
    extra: dict[str, str] = field(default_factory=dict)
    # Serving (geo_platform.serve): loopback ports of the STAC API, the tiler and OGC Features.
    stac_port: int = 8081
    tiler_port: int = 8082
    features_port: int = 8083

    @property
    def pg_fast(self) -> bool:
        """GEO_PLATFORM_PG_FAST=1: start the local cluster with fsync, synchronous_commit and
        full_page_writes off (throwaway test/CI data only; read when the server starts)."""
        return _env_bool("GEO_PLATFORM_PG_FAST", False)

    @property
    def local_database(self) -> bool:
        """True when the platform manages its own PostgreSQL cluster (no external URL given)."""
        return not _env("GEO_PLATFORM_DATABASE_URL")

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


def load_settings() -> Settings:
    """Read the environment now (call again after changing it; nothing is cached)."""
    state = Path(_env("GEO_PLATFORM_STATE_DIR", str(REPO_ROOT / ".state")))
    pg_port = _env_int("GEO_PLATFORM_PG_PORT", 55432)
    default_db = f"postgresql://geo_platform@127.0.0.1:{pg_port}/geo_platform"
    return Settings(
        state_dir=state,
        blob_backend=_env("GEO_PLATFORM_BLOB_BACKEND", "local").lower(),
        blob_root=Path(_env("GEO_PLATFORM_BLOB_ROOT", str(state / "blobs"))),
        azure_connection_string=_env("AZURE_STORAGE_CONNECTION_STRING"),
        azure_account_url=_env("AZURE_STORAGE_ACCOUNT_URL"),
        bronze_container=_env("GEO_PLATFORM_BRONZE_CONTAINER", "bronze"),
        silver_container=_env("GEO_PLATFORM_SILVER_CONTAINER", "silver"),
        database_url=_env("GEO_PLATFORM_DATABASE_URL", default_db),
        dagster_home=Path(_env("DAGSTER_HOME", str(state / "dagster_home"))),
        pg_port=pg_port,
        azurite_port=_env_int("GEO_PLATFORM_AZURITE_PORT", 10000),
        dagster_ui_port=_env_int("GEO_PLATFORM_UI_PORT", 3000),
        geo_schema=_env("GEO_PLATFORM_GEO_SCHEMA", "geo"),
        sensor_batch_size=_env_int("GEO_PLATFORM_SENSOR_BATCH_SIZE", 25),
        sensor_max_adds_per_tick=_env_int("GEO_PLATFORM_SENSOR_MAX_ADDS", 25_000),
        sensor_interval_seconds=_env_int("GEO_PLATFORM_SENSOR_INTERVAL", 30),
        vector_assume_crs=_env("GEO_PLATFORM_VECTOR_ASSUME_CRS"),
        raster_rules=_env("GEO_PLATFORM_RASTER_RULES"),
        vector_rules=_env("GEO_PLATFORM_VECTOR_RULES"),
        stac_port=_env_int("GEO_PLATFORM_STAC_PORT", 8081),
        tiler_port=_env_int("GEO_PLATFORM_TILER_PORT", 8082),
        features_port=_env_int("GEO_PLATFORM_FEATURES_PORT", 8083),
    )


def azurite_connection_string(port: int) -> str:
    """Connection string of a local Azurite (its well-known development account, public key)."""
    key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={key};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
