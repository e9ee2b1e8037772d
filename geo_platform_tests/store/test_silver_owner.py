"""A bronze file's silver folder is its own, on both blob store backends (local and Azurite):
``replace_outputs`` refuses another file whose name maps to the same folder."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from geo_platform.lib import naming
from geo_platform.lib.errors import NameClashError
from geo_platform.lib.stac_ext import SOURCE_BLOB
from geo_platform.resources.blob_store import AzureBlobStore, BlobStore, LocalBlobStore
from geo_platform.store.silver import replace_outputs


@pytest.fixture(params=["local", pytest.param("azure", marks=pytest.mark.azurite)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[BlobStore, str]]:
    container = f"t-{uuid.uuid4().hex[:20]}"
    if request.param == "local":
        yield LocalBlobStore(root=str(tmp_path / "blobs")), container
        return
    conn = request.getfixturevalue("azurite_connection_string")
    yield AzureBlobStore(connection_string=conn, page_size=3), container
    BlobServiceClient.from_connection_string(conn).delete_container(container)


def _outputs(tmp_path: Path, blob: str, payload: str) -> dict[str, Path]:
    item_id = naming.item_id(blob)
    folder = tmp_path / uuid.uuid4().hex
    folder.mkdir()
    (folder / "analysis.tif").write_text(payload)
    (folder / "item.json").write_text(
        json.dumps({"id": item_id, "properties": {SOURCE_BLOB: blob}})
    )
    return {"analysis.tif": folder / "analysis.tif", f"stac/{item_id}.json": folder / "item.json"}


def test_a_second_file_mapping_to_the_same_folder_is_refused(store, tmp_path) -> None:
    blobs, container = store
    first, second = "f/Scene.tif", "f/scene.tif"
    replace_outputs(blobs, container, first, _outputs(tmp_path, first, "first"))
    prefix = naming.silver_prefix(first)
    before = {b.path: b.etag for b in blobs.list_blobs(container, prefix=prefix + "/")}
    with pytest.raises(NameClashError, match=r"'f/Scene\.tif'"):
        replace_outputs(blobs, container, second, _outputs(tmp_path, second, "second"))
    assert {b.path: b.etag for b in blobs.list_blobs(container, prefix=prefix + "/")} == before
    assert not list(blobs.list_blobs(container, prefix="_staging/"))  # nothing staged left
    replace_outputs(blobs, container, first, _outputs(tmp_path, first, "first, again"))
    with blobs.local_copy(container, f"{prefix}/analysis.tif") as local:
        assert local.read_text() == "first, again"  # its owner replaces it freely
