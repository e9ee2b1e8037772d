"""Bronze files on local disk: the copy a workflow reads, with its sidecars beside it."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geo_platform.lib.bronze import sidecar_names, sidecar_stem
from geo_platform.lib.errors import NotFoundError
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
    folder = posixpath.dirname(blob)
    stem = sidecar_stem(blob)
    prefix = f"{folder}/{stem}" if folder else stem
    siblings = [b.path for b in store.list_blobs(container, prefix=prefix)]
    wanted = [blob, *sidecar_names(blob, siblings)]
    with store.local_copies(container, wanted) as paths:
        yield paths[blob]
