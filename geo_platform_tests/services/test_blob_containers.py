"""`services up` on the Azure backend makes the platform's containers, private, or says exactly
which are missing and why (against Azurite, real HTTP)."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from geo_platform import services as svc
from geo_platform.lib.errors import ConfigError
from geo_platform.services.blob_containers import ensure_containers, wanted_containers
from geo_platform.settings import Settings


def _names(tag: str) -> dict[str, str]:
    return {
        "bronze_container": f"up-bronze-{tag}",
        "silver_container": f"up-silver-{tag}",
        "production_container": f"up-prod-{tag}",
    }


def _anonymous_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_up_creates_private_containers_once(
    services: dict[str, Any],
    azurite_connection_string: str,
    tmp_settings: Callable[..., Settings],
) -> None:
    names = _names(uuid.uuid4().hex[:8])
    settings = tmp_settings(
        blob_backend="azure", azure_connection_string=azurite_connection_string, **names
    )
    client = BlobServiceClient.from_connection_string(azurite_connection_string)
    try:
        state = svc.up(settings)
        assert state["blob_store"]["containers"] == dict.fromkeys(names.values(), "created")
        assert ensure_containers(settings) == dict.fromkeys(names.values(), "exists")
        for name in names.values():
            container = client.get_container_client(name)
            assert container.get_container_properties().public_access is None  # private
            container.upload_blob("probe.txt", b"secret")
            url = f"{container.url}/probe.txt"
            assert _anonymous_status(url) in (403, 404)  # no anonymous read
            assert _anonymous_status(f"{container.url}?restype=container&comp=list") in (403, 404)
    finally:
        for name in names.values():
            client.delete_container(name)


def test_missing_containers_are_named_with_the_reason_and_the_fix(
    azurite_connection_string: str, tmp_settings: Callable[..., Settings]
) -> None:
    names = _names(uuid.uuid4().hex[:8])
    key = azurite_connection_string.split("AccountKey=")[1].split(";")[0]
    wrong = azurite_connection_string.replace(key, "d3Jvbmcga2V5IG9mIGEgcmVhZGVy" * 3)
    settings = tmp_settings(blob_backend="azure", azure_connection_string=wrong, **names)
    with pytest.raises(ConfigError) as info:
        ensure_containers(settings)
    message = info.value.message
    for name in names.values():
        assert f"{name} (HTTP 403" in message
        assert f"az storage container create --account-name devstoreaccount1 --name {name}" in (
            message
        )
    assert "Storage Blob Data Contributor" in message
    assert "d3Jvbmcga2V5" not in message and key not in message  # no key in the message
    client = BlobServiceClient.from_connection_string(azurite_connection_string)
    assert not any(client.get_container_client(n).exists() for n in names.values())


def test_local_backend_needs_no_containers(tmp_settings: Callable[..., Settings]) -> None:
    settings = tmp_settings(
        blob_backend="local", bronze_container="in", silver_container="out",
        production_container="out",
    )  # fmt: skip
    assert ensure_containers(settings) == {}
    assert wanted_containers(settings) == ["in", "out"]  # each once
