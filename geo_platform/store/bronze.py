"""Bronze files on local disk: the copy a workflow reads, with its sidecars beside it.

Within ``kept_bronze_copies()`` (a run's step, ``defs.stages``) each copy is kept until the
block ends, so the stages of a run (the bronze inventory, then silver) download and hash a file
once, not once per stage. A kept copy is used again only while the file and its sidecars keep
the etags they had when it was made.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from geo_platform.lib.bronze import sidecar_names, sidecar_stem
from geo_platform.lib.errors import NotFoundError
from geo_platform.lib.inventory import file_sha256
from geo_platform.lib.types import BlobInfo
from geo_platform.store.blobs.base import BlobStore

Versions = tuple[tuple[str, str | None], ...]


@dataclass
class _Kept:
    """The copies of a ``kept_bronze_copies`` block: (container, blob) -> (the etags of the
    file and its sidecars, the local file); their folders close with ``stack``."""

    stack: ExitStack
    copies: dict[tuple[str, str], tuple[Versions, Path]] = field(default_factory=dict)


_KEPT = threading.local()  # per thread (not a ContextVar: Dagster iterates a step's generator)


@contextmanager
def kept_bronze_copies() -> Iterator[None]:
    """Keep the copies ``bronze_local_copy`` makes inside the block until it ends."""
    outer = getattr(_KEPT, "scope", None)
    with ExitStack() as stack:
        _KEPT.scope = _Kept(stack)
        try:
            yield
        finally:
            _KEPT.scope = outer


@contextmanager
def bronze_local_copy(
    store: BlobStore, container: str, blob: str, info: BlobInfo | None = None
) -> Iterator[Path]:
    """A local copy of a bronze file, with its sidecars (shapefile parts, world files) beside it.
    ``info``: the blob's ``stat`` when the caller has just taken it."""
    info = info or store.stat(container, blob)
    if info is None:
        raise NotFoundError("the bronze blob no longer exists", path=blob)
    sidecars = _sidecar_infos(store, container, blob)
    wanted = [blob, *(s.path for s in sidecars)]
    kept: _Kept | None = getattr(_KEPT, "scope", None)
    if kept is None:
        with store.local_copies(container, wanted) as paths:
            yield paths[blob]
        return
    versions = ((blob, info.etag), *((s.path, s.etag) for s in sidecars))
    hit = kept.copies.get((container, blob))
    if hit is None or hit[0] != versions or not hit[1].is_file():
        paths = kept.stack.enter_context(store.local_copies(container, wanted))
        hit = kept.copies[(container, blob)] = (versions, paths[blob])
    yield hit[1]


def _sidecar_infos(store: BlobStore, container: str, blob: str) -> list[BlobInfo]:
    """The bronze blobs that travel with ``blob`` (``lib.bronze.sidecar_names``): one listing
    of the names that start with its stem."""
    folder = posixpath.dirname(blob)
    stem = sidecar_stem(blob)
    prefix = f"{folder}/{stem}" if folder else stem
    siblings = {b.path: b for b in store.list_blobs(container, prefix=prefix)}
    return [siblings[p] for p in sidecar_names(blob, list(siblings))]


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
