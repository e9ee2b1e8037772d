"""Blob stores: the interface and its two backends, chosen from settings.

``BlobStore`` (interface, ``store.blobs.base``), ``LocalBlobStore`` (a folder) and
``AzureBlobStore`` (Azure Blob Storage or Azurite). Definitions get one per deployment from
``blob_store_from_settings``; assets and sensors only use the interface.
"""

from __future__ import annotations

from geo_platform.lib.errors import ConfigError
from geo_platform.settings import Settings, azurite_connection_string
from geo_platform.store.blobs.azure import AzureBlobStore
from geo_platform.store.blobs.base import BlobStore, check_container
from geo_platform.store.blobs.local import LocalBlobStore

__all__ = [
    "AzureBlobStore",
    "BlobStore",
    "LocalBlobStore",
    "blob_store_from_settings",
    "check_container",
]


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
