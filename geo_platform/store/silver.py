"""Silver outputs: publish a bronze file's derived files atomically, and find them again.

Every bronze file owns one folder in the silver container (``naming.silver_prefix``). New
outputs are uploaded under a staging prefix first, then moved into place; files from a previous
version that the new one no longer has are deleted, so nothing accumulates. If anything fails,
the staged files are removed and the previous outputs stay as they were.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from geo_platform.lib.bronze import sha256_file
from geo_platform.lib.naming import silver_prefix
from geo_platform.lib.stac.collection import load_item_json
from geo_platform.lib.types import BlobInfo, Provenance
from geo_platform.store.blobs.base import BlobStore

STAGING_ROOT = "_staging"
STAC_FOLDER = "stac"
# Sub-folders that other assets own inside a bronze file's silver folder (the H3 aggregates).
OTHER_OWNERS = ("h3/",)


def replace_outputs(
    store: BlobStore, container: str, blob: str, files: Mapping[str, Path]
) -> dict[str, BlobInfo]:
    """Publish ``files`` (relative name -> local file) as the silver outputs of bronze ``blob``."""
    prefix = silver_prefix(blob)
    staging = f"{STAGING_ROOT}/{uuid.uuid4().hex}"
    store.ensure_container(container)
    published: dict[str, BlobInfo] = {}
    try:
        for rel, local in files.items():
            store.upload_file(container, f"{staging}/{rel}", local)
        for rel in files:
            published[rel] = store.move(container, f"{staging}/{rel}", f"{prefix}/{rel}")
    finally:
        store.delete_prefix(container, staging + "/")
    for old in list(store.list_blobs(container, prefix=prefix + "/")):
        rel = old.path[len(prefix) + 1 :]
        if rel not in files and not rel.startswith(OTHER_OWNERS):
            store.delete(container, old.path)
    return published


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))


def provenance_for(
    context: Any, store: BlobStore, platform: Any, blob: str, info: BlobInfo, local: Path
) -> Provenance:
    """``source_provenance`` with the run id of a Dagster ``context`` and a platform's settings."""
    return source_provenance(
        store,
        platform.bronze_container,
        blob,
        info,
        local,
        run_id=context.run.run_id,
        code_version=platform.code_version,
    )


def source_provenance(
    store: BlobStore,
    bronze_container: str,
    blob: str,
    info: BlobInfo,
    local: Path,
    *,
    run_id: str | None,
    code_version: str | None,
) -> Provenance:
    """Where a silver output comes from: the bronze blob (etag, sha256, href), run, code."""
    st = local.stat()
    return Provenance(
        source_blob=blob,
        source_etag=info.etag,
        source_sha256=_sha256(str(local), st.st_size, st.st_mtime_ns),
        source_href=store.href(bronze_container, blob),
        run_id=run_id,
        code_version=code_version,
    )


def stac_items(store: BlobStore, container: str, blob: str) -> list[dict]:
    """The STAC items the silver stage wrote for bronze ``blob``."""
    prefix = f"{silver_prefix(blob)}/{STAC_FOLDER}/"
    items = []
    for info in store.list_blobs(container, prefix=prefix):
        if info.path.endswith(".json"):
            with store.local_copy(container, info.path) as local:
                items.append(load_item_json(local.read_bytes(), info.path))
    return items
