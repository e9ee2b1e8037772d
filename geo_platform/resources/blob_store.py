"""Blob stores: the interface and its two backends, chosen from settings.

``BlobStore`` (interface, ``store.blobs.base``), ``LocalBlobStore`` (a folder) and
``AzureBlobStore`` (Azure Blob Storage or Azurite). Definitions get one per deployment from
``blob_store_from_settings``; assets and sensors only use the interface.

The Azure backend (and the Azure SDK with it, a fifth of a second to import) is imported only
when it is configured or asked for by name (``from geo_platform.resources.blob_store import
AzureBlobStore``), so a local deployment, and every command that loads the definitions, never
pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from geo_platform.lib.errors import ConfigError
from geo_platform.settings import Settings, azurite_connection_string
from geo_platform.store.blobs.base import BlobStore, check_container
from geo_platform.store.blobs.local import LocalBlobStore

if TYPE_CHECKING:
    from geo_platform.store.blobs.azure import AzureBlobStore

__all__ = [
    "AzureBlobStore",
    "BlobStore",
    "LocalBlobStore",
    "blob_store_from_settings",
    "check_container",
]


def __getattr__(name: str) -> Any:
    """``AzureBlobStore``, imported on first use (PEP 562)."""
    if name == "AzureBlobStore":
        from geo_platform.store.blobs.azure import AzureBlobStore

        return AzureBlobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def blob_store_from_settings(settings: Settings) -> BlobStore:
    """The configured backend: ``local`` (default, ``GEO_PLATFORM_BLOB_ROOT``) or ``azure``.

    ``azure`` uses ``AZURE_STORAGE_CONNECTION_STRING``, else ``AZURE_STORAGE_ACCOUNT_URL`` with
    ``DefaultAzureCredential``, else the local Azurite emulator. Hrefs start with
    ``settings.public_blob_base`` (GEO_PLATFORM_PUBLIC_BASE_URL; locally by default the files
    server of ``geo-platform serve``; on Azure by default the account URL).
    """
    public = settings.public_blob_base or None
    if settings.blob_backend == "local":
        return LocalBlobStore(root=str(settings.blob_root), public_url=public)
    if settings.blob_backend == "azure":
        from geo_platform.store.blobs.azure import AzureBlobStore

        if settings.azure_connection_string:
            return AzureBlobStore(
                connection_string=settings.azure_connection_string, public_url=public
            )
        if settings.azure_account_url:
            return AzureBlobStore(account_url=settings.azure_account_url, public_url=public)
        return AzureBlobStore(
            connection_string=azurite_connection_string(settings.azurite_port), public_url=public
        )
    raise ConfigError(
        f"unknown GEO_PLATFORM_BLOB_BACKEND {settings.blob_backend!r} (use 'local' or 'azure')"
    )
