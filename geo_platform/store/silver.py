"""Silver outputs: publish a bronze file's derived files atomically, and find them again.

Every bronze file owns one folder in the silver container (``naming.silver_prefix``). New
outputs are uploaded under a staging prefix first, then moved into place; files from a previous
version that the new one no longer has are deleted, so nothing accumulates. If anything fails,
the staged files are removed and the previous outputs stay as they were.

Outputs built in ``output_folder`` skip the upload where the store keeps blobs as local files:
the folder then is the staging prefix itself, and publishing is a rename per file (no copy).
The items written last are remembered in this process, so the catalog stage of the same run
takes them from memory (``stac_items``) as long as the blobs are the ones written.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from geo_platform.lib.errors import NameClashError
from geo_platform.lib.inventory import file_sha256
from geo_platform.lib.naming import silver_prefix
from geo_platform.lib.stac.collection import load_item_json
from geo_platform.lib.stac_ext import SOURCE_BLOB
from geo_platform.lib.types import BlobInfo, Provenance
from geo_platform.store.blobs.base import BlobStore
from geo_platform.store.blobs.local import LocalBlobStore
from geo_platform.store.bronze import sidecars_sha256

STAGING_ROOT = "_staging"
STAC_FOLDER = "stac"
# Sub-folders that other assets own inside a bronze file's silver folder (the H3 aggregates).
OTHER_OWNERS = ("h3/",)


def _local_folder(store: BlobStore, container: str, path: str) -> Path | None:
    """The folder behind a blob prefix when the store keeps blobs as local files, else None."""
    if not isinstance(store, LocalBlobStore):
        return None
    file_path = getattr(store, "file_path", None)
    return Path(file_path(container, path) if file_path else store.href(container, path))


@contextmanager
def output_folder(store: BlobStore, container: str) -> Iterator[Path]:
    """A folder to build a bronze file's silver outputs in, removed afterwards. On a store that
    keeps blobs as local files it is a fresh staging prefix inside ``container``, so that
    ``replace_outputs`` publishes its files by renames; elsewhere a temporary folder."""
    store.ensure_container(container)
    folder = _local_folder(store, container, f"{STAGING_ROOT}/{uuid.uuid4().hex}")
    if folder is None:
        with tempfile.TemporaryDirectory(prefix="silver-", dir=store.tmp_dir) as tmp:
            yield Path(tmp)
        return
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _staged_blob(root: Path | None, local: Path) -> str | None:
    """The blob path of ``local`` when it already lies in the container's staging area
    (``root``: that area's folder, resolved; None where blobs are not local files)."""
    if root is None:
        return None
    try:
        rel = local.resolve().relative_to(root)
    except ValueError:
        return None
    return f"{STAGING_ROOT}/{rel.as_posix()}"


def replace_outputs(
    store: BlobStore, container: str, blob: str, files: Mapping[str, Path]
) -> dict[str, BlobInfo]:
    """Publish ``files`` (relative name -> local file) as the silver outputs of bronze ``blob``.

    Files built in ``output_folder`` of a local store are renamed into place; the others are
    uploaded under a staging prefix, then moved."""
    prefix = silver_prefix(blob)
    staging = f"{STAGING_ROOT}/{uuid.uuid4().hex}"
    store.ensure_container(container)
    previous = list(store.list_blobs(container, prefix=prefix + "/"))
    _check_owner(store, container, blob, previous)
    published: dict[str, BlobInfo] = {}
    root = _local_folder(store, container, STAGING_ROOT)
    root = root.resolve() if root is not None else None
    try:
        sources = {}
        for rel, local in files.items():
            sources[rel] = _staged_blob(root, local) or f"{staging}/{rel}"
            if sources[rel] == f"{staging}/{rel}":
                store.upload_file(container, sources[rel], local)
        for rel in files:
            published[rel] = store.move(container, sources[rel], f"{prefix}/{rel}")
    finally:
        store.delete_prefix(container, staging + "/")
    for old in previous:
        rel = old.path[len(prefix) + 1 :]
        if rel not in files and not rel.startswith(OTHER_OWNERS):
            store.delete(container, old.path)
    return published


def check_silver_owner(store: BlobStore, container: str, blob: str) -> None:
    """``replace_outputs``' owner check, before anything is built or loaded: a file whose name
    maps to another file's silver folder is refused before its tables are committed (they
    would stay behind, served, without an item)."""
    _check_owner(
        store, container, blob, list(store.list_blobs(container, prefix=silver_prefix(blob) + "/"))
    )


def _check_owner(store: BlobStore, container: str, blob: str, previous: list[BlobInfo]) -> None:
    """Refuse to replace the outputs of another bronze file that maps to the same silver folder
    (names differing only in case, ``A.tif`` and ``a.tif``): their items say whose they are."""
    item = next((i for i in previous if _is_item(i.path, blob)), None)
    if item is None:
        return
    with store.local_copy(container, item.path) as local:
        try:
            owner = json.loads(local.read_bytes())["properties"].get(SOURCE_BLOB)
        except (ValueError, KeyError, TypeError, AttributeError):
            return  # not an item we can read: nothing to protect it by
    if isinstance(owner, str) and owner != blob:
        raise NameClashError(
            f"silver folder {silver_prefix(blob)!r} holds the outputs of bronze file {owner!r}, "
            "whose name maps to the same folder: rename one of the two files (or unpublish the "
            "other one first)",
            path=blob,
        )


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
    """Where a silver output comes from: the bronze blob (etag, sha256, href), run, code.
    The hash is the one the bronze inventory took of the same file, when it did."""
    return Provenance(
        source_blob=blob,
        source_etag=info.etag,
        source_sha256=file_sha256(local),
        sidecars_sha256=sidecars_sha256(blob, local),
        source_href=store.href(bronze_container, blob),
        run_id=run_id,
        code_version=code_version,
    )


_WRITTEN: OrderedDict[tuple[str, str, str], tuple[dict[str, str], str]] = OrderedDict()
_WRITTEN_MAX = 256


def remember_items(
    store: BlobStore,
    container: str,
    blob: str,
    items: list[dict],
    published: Mapping[str, BlobInfo],
) -> None:
    """Keep the items just published for ``blob`` (``published``: ``replace_outputs``' result),
    so that ``stac_items`` in this process need not read them back."""
    etags = {i.path: i.etag for i in published.values() if _is_item(i.path, blob)}
    key = (store.href(container, silver_prefix(blob)), container, blob)
    # As JSON (dates as strings), in listing (path) order: each read parses its own copy.
    in_order = sorted(items, key=lambda item: f"{item.get('id')}.json")
    _WRITTEN[key] = (etags, json.dumps(in_order, default=str))
    _WRITTEN.move_to_end(key)
    while len(_WRITTEN) > _WRITTEN_MAX:
        _WRITTEN.popitem(last=False)


def _is_item(path: str, blob: str) -> bool:
    return path.startswith(f"{silver_prefix(blob)}/{STAC_FOLDER}/") and path.endswith(".json")


def stac_items(store: BlobStore, container: str, blob: str) -> list[dict]:
    """The STAC items the silver stage wrote for bronze ``blob``: from memory when this process
    wrote them and the blobs are unchanged (same paths and etags), else read from silver."""
    prefix = f"{silver_prefix(blob)}/{STAC_FOLDER}/"
    listed = [i for i in store.list_blobs(container, prefix=prefix) if i.path.endswith(".json")]
    memo = _WRITTEN.get((store.href(container, silver_prefix(blob)), container, blob))
    if memo is not None and memo[0] == {i.path: i.etag for i in listed}:
        return list(json.loads(memo[1]))
    items = []
    for info in listed:
        with store.local_copy(container, info.path) as local:
            items.append(load_item_json(local.read_bytes(), info.path))
    return items
