"""The blob containers the platform needs on the Azure backend, made by ``services up``.

Why: on Azure nothing creates the bronze container, and the bronze sensor failed every tick
with "The specified container does not exist" until someone made it by hand. ``services up``
now creates each missing container (bronze, silver and production's silver-prod, or their
GEO_PLATFORM_*_CONTAINER names) as a **private** container (no anonymous access), on Azurite or
on a real account. Where it cannot (an identity without the right to create containers, an
unreachable account), it fails naming every missing container, the reason, and how to create it.

Existing containers are only looked at, so an identity that may read and write blobs but not
create containers is fine once they exist. Never imports dagster (the CLI calls it first).
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError
from azure.storage.blob import BlobServiceClient

from geo_platform.lib.errors import ConfigError
from geo_platform.settings import Settings, azurite_connection_string

# Fail within seconds (the SDK's default retries back off for about a minute).
_CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 1, "connection_timeout": 5, "read_timeout": 20}


def wanted_containers(settings: Settings) -> list[str]:
    """bronze, silver and production's container (each once, in that order)."""
    names = [settings.bronze_container, settings.silver_container, settings.production_container]
    return list(dict.fromkeys(names))


def _service(settings: Settings) -> BlobServiceClient:
    if settings.azure_connection_string:
        return BlobServiceClient.from_connection_string(
            settings.azure_connection_string, **_CLIENT_OPTIONS
        )
    if settings.azure_account_url:
        from azure.identity import DefaultAzureCredential

        return BlobServiceClient(
            settings.azure_account_url, credential=DefaultAzureCredential(), **_CLIENT_OPTIONS
        )
    return BlobServiceClient.from_connection_string(
        azurite_connection_string(settings.azurite_port, settings.queue_emulator_port),
        **_CLIENT_OPTIONS,
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, HttpResponseError):
        code = getattr(exc, "error_code", None) or exc.reason or ""
        code = getattr(code, "value", code)  # StorageErrorCode.X -> its service name
        return f"HTTP {exc.status_code} {code}".strip()
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {first}"


def ensure_containers(settings: Settings) -> dict[str, str]:
    """Azure backend: make every wanted container exist; ``{name: "exists" | "created"}``.

    Other backends: ``{}`` (the local store makes its folders itself). Raises ``ConfigError``
    listing each container that is missing and could not be created, with the reason.
    """
    if settings.blob_backend != "azure":
        return {}
    service = _service(settings)
    done: dict[str, str] = {}
    problems: dict[str, str] = {}
    for name in wanted_containers(settings):
        client = service.get_container_client(name)
        try:
            if client.exists():
                done[name] = "exists"
                continue
            client.create_container()  # private: no public_access
            done[name] = "created"
        except ResourceExistsError:  # made by someone else meanwhile
            done[name] = "exists"
        except (AzureError, OSError) as exc:
            problems[name] = _reason(exc)
    if problems:
        raise ConfigError(_missing_message(settings, service, problems, done))
    return done


def _missing_message(
    settings: Settings, service: BlobServiceClient, problems: dict[str, str], done: dict[str, str]
) -> str:
    account = service.account_name or "<account>"
    listed = "; ".join(f"{name} ({why})" for name, why in problems.items())
    commands = "; ".join(
        f"az storage container create --account-name {account} --name {name} --auth-mode login"
        for name in problems
    )
    fine = f" (present: {', '.join(done)})" if done else ""
    return (
        f"blob containers missing on the Azure storage account {account}: {listed}{fine}. "
        f"The pipeline needs them (GEO_PLATFORM_BRONZE_CONTAINER, GEO_PLATFORM_SILVER_CONTAINER, "
        f"GEO_PLATFORM_PRODUCTION_CONTAINER). Create them as private containers: {commands}; or "
        f"give this identity 'Storage Blob Data Contributor' on the account and run "
        f"`geo-platform services up` again."
    )
