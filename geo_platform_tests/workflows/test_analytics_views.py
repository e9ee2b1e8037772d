"""Published dataset discovery for DuckDB, including the Azure download cache."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from geo_platform.resources.blob_store import AzureBlobStore
from geo_platform.settings import Settings
from geo_platform.workflows.analytics_views import published_blobs, published_views, view_name


def test_view_names() -> None:
    assert view_name("parks/ynp-gpkg/parks_ynp__roads.parquet") == "parks_ynp__roads"
    assert (
        view_name("parks/ynp-gpkg/h3/parks_ynp__roads_res8.parquet") == "parks_ynp__roads_h3_res8"
    )
    assert view_name("parks/ynp-gpkg/stac/parks_ynp__roads.json") is None
    assert view_name("_staging/abc/t.parquet") is None
    assert view_name("parks/ynp-gpkg/h3/odd.parquet") is None


@pytest.mark.azurite
def test_azure_blobs_are_cached_by_etag_and_pruned(
    azurite_connection_string: str, settings: Settings, tmp_path: Path
) -> None:
    store = AzureBlobStore(connection_string=azurite_connection_string)
    container = f"t-{uuid.uuid4().hex[:20]}"
    store.ensure_container(container)
    local = dataclasses.replace(settings, state_dir=tmp_path / "state").analytics_dir
    try:
        store.upload_bytes(container, "a/b/t1.parquet", b"PAR1 one")
        store.upload_bytes(container, "a/b/h3/t1_res8.parquet", b"PAR1 two")
        store.upload_bytes(container, "a/b/stac/t1.json", b"{}")
        assert set(published_blobs(store, container)) == {"t1", "t1_h3_res8"}
        views = published_views(store, container, local)
        assert views["t1"].read_bytes() == b"PAR1 one"
        assert str(views["t1"]).startswith(str(tmp_path / "state" / "analytics" / "cache"))
        mtime = views["t1"].stat().st_mtime_ns
        assert published_views(store, container, local)["t1"].stat().st_mtime_ns == mtime
        store.upload_bytes(container, "a/b/t1.parquet", b"PAR1 new")  # new etag: refreshed
        assert published_views(store, container, local)["t1"].read_bytes() == b"PAR1 new"
        store.delete(container, "a/b/h3/t1_res8.parquet")  # unpublished: removed from cache
        again = published_views(store, container, local)
        assert set(again) == {"t1"} and not views["t1_h3_res8"].exists()
    finally:
        BlobServiceClient.from_connection_string(azurite_connection_string).delete_container(
            container
        )
