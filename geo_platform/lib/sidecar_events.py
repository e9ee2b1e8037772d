"""For the event sensor: which files a created sidecar belongs to (they run again with it)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

from geo_platform.lib.bronze import classify, sidecar_names
from geo_platform.lib.file_kinds import RPC_TEXT, extension
from geo_platform.lib.types import BlobInfo, DataKind


def companions_prefix(sidecar: str) -> str:
    """The listing prefix of the files ``sidecar`` may belong to (same folder, same stem)."""
    folder, name = posixpath.split(sidecar)
    stem = name[: -len(RPC_TEXT)] if extension(name) == RPC_TEXT else name.split(".", 1)[0]
    return f"{folder}/{stem}" if folder else stem


def files_of_sidecar(
    sidecar: str, candidates: Iterable[BlobInfo]
) -> list[tuple[BlobInfo, DataKind]]:
    """(file, kind) of the raster and vector files among ``candidates`` that ``sidecar``
    belongs to."""
    out: list[tuple[BlobInfo, DataKind]] = []
    for b in candidates:
        kind = classify(b.path, b.size).kind
        if b.path != sidecar and kind in ("raster", "vector") and sidecar_names(b.path, [sidecar]):
            out.append((b, "raster" if kind == "raster" else "vector"))
    return out
