"""Bronze files on local disk: the copy a workflow reads, with its sidecars beside it."""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geo_platform.lib.bronze import sidecar_names, sidecar_stem
from geo_platform.lib.errors import NotFoundError
from geo_platform.lib.inventory import file_sha256
from geo_platform.lib.types import BlobInfo
from geo_platform.store.blobs.base import BlobStore


@contextmanager
def bronze_local_copy(
    store: BlobStore, container: str, blob: str, info: BlobInfo | None = None
) -> Iterator[Path]:
    """A local copy of a bronze file, with its sidecars (shapefile parts, world files) beside it.
    ``info``: the blob's ``stat`` when the caller has just taken it."""
    info = info or store.stat(container, blob)
    if info is None:
        raise NotFoundError("the bronze blob no longer exists", path=blob)
    wanted = [blob, *sidecar_blobs(store, container, blob)]
    with store.local_copies(container, wanted) as paths:
        yield paths[blob]


def sidecar_blobs(store: BlobStore, container: str, blob: str) -> list[str]:
    """The bronze blobs that travel with ``blob`` (``lib.bronze.sidecar_names``): one listing
    of the names that start with its stem."""
    folder = posixpath.dirname(blob)
    stem = sidecar_stem(blob)
    prefix = f"{folder}/{stem}" if folder else stem
    siblings = [b.path for b in store.list_blobs(container, prefix=prefix)]
    return sidecar_names(blob, siblings)


def sidecars_sha256(blob: str, local: Path) -> str | None:
    """One SHA-256 over the sidecars of ``blob`` beside its local copy ``local`` (where
    ``bronze_local_copy`` put them: found there, no second listing of the store), each by its
    suffix after the stem (``.dbf``, ``.tif.aux.xml``) and its content; None without sidecars.
    Two uploads of a Shapefile with the same ``.shp`` and another ``.prj`` or ``.dbf`` are
    then other content."""
    folder, stem = posixpath.dirname(blob), sidecar_stem(blob).lower()
    # Only names that can be sidecars (its stem's, a MapInfo .tab) go to ``sidecar_names``: with
    # the local store the copy is the file in place, among every other file of its folder.
    beside = [
        posixpath.join(folder, name)
        for name in os.listdir(local.parent)
        if name != local.name and (name.lower().startswith(stem) or name.lower().endswith(".tab"))
    ]
    parts = []
    for path in sidecar_names(blob, beside):
        name = posixpath.basename(path)
        copy = local.parent / name
        if not copy.is_file():  # a folder of that name, or removed meanwhile
            continue
        suffix = name.lower().removeprefix(stem)
        parts.append(f"{suffix}\0{file_sha256(copy)}\n")
    if not parts:
        return None
    return hashlib.sha256("".join(sorted(parts)).encode()).hexdigest()
