"""Raster collections: a bronze folder whose rasters are one dataset (one mosaic, one run).

Convention (documented for users):

- A folder prefix is a collection when it is listed in ``GEO_PLATFORM_RASTER_COLLECTIONS``
  (comma-separated, e.g. ``imagery/sentinel/,dem/tiles/``) or when the folder holds a marker
  blob ``_collection.json``. The marker may be empty or a JSON object with options:
  ``{"target_crs": "EPSG:3857", "title": "...", "description": "...", "resampling": "..."}``.
- Every raster under the prefix (at any depth) is a member. The bronze sensor leaves members
  alone (``collection_prefix_for``); the collection sensor runs the collection instead.
- Silver layout under ``collection_silver_prefix(prefix)``: ``members/<item_id>/analysis.tif``,
  ``stac/<item_id>.json``, ``mosaic.json`` and ``manifest.json`` (member -> etag, item, href),
  which makes the next run incremental: only new or changed members are processed.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geo_platform.lib import naming
from geo_platform.lib.bronze import classify
from geo_platform.lib.errors import ConfigError
from geo_platform.lib.types import BlobInfo

MARKER_NAME = "_collection.json"
MANIFEST_NAME = "manifest.json"
MOSAIC_NAME = "mosaic.json"
MEMBER_FOLDER = "members"
MARKER_OPTIONS = ("target_crs", "title", "description", "resampling", "web_optimized")


def normalize_prefix(prefix: str) -> str:
    """``a/b`` -> ``a/b/`` (through the blob path sanitizer); empty prefixes are rejected."""
    clean = naming.normalize_blob_path(prefix.strip().strip("/"))
    if not clean:
        raise ConfigError(f"a raster collection prefix must not be empty: {prefix!r}")
    return clean + "/"


def parse_prefixes(value: str) -> list[str]:
    """Prefixes from ``GEO_PLATFORM_RASTER_COLLECTIONS`` (comma-separated)."""
    return sorted({normalize_prefix(p) for p in value.split(",") if p.strip()})


def marker_prefixes(paths: Iterable[str]) -> list[str]:
    """Folders that hold a ``_collection.json`` marker (a marker under a name the platform
    cannot take, such as ``a/../_collection.json``, marks nothing)."""
    return sorted(
        {
            posixpath.dirname(p) + "/"
            for p in paths
            if posixpath.basename(p) == MARKER_NAME and not naming.blob_name_problem(p)
        }
    )


def collection_prefix_for(blob: str, prefixes: Iterable[str]) -> str | None:
    """The collection prefix ``blob`` belongs to (the longest that matches), else None.

    The bronze sensor calls this to skip collection members (they are processed by the
    collection asset, not as single-file partitions)."""
    matches = [p for p in prefixes if blob.startswith(p)]
    return max(matches, key=len) if matches else None


def collection_id_for(prefix: str) -> str:
    """STAC collection id of a collection prefix (same rule as folder datasets)."""
    return naming.collection_id(prefix + "_")


def collection_silver_prefix(prefix: str) -> str:
    """Silver folder of a collection: the slugified prefix plus ``_collection``."""
    parts = [naming.slugify(seg, "-", 80) for seg in prefix.strip("/").split("/") if seg]
    return "/".join([*parts, "_collection"])


def member_item_id(prefix: str, blob: str) -> str:
    """Item id of a member: its path below the prefix, sanitized (unique in the collection)."""
    rel = blob[len(prefix) :] if blob.startswith(prefix) else blob
    return naming.item_id(rel.replace("/", "__"))


def partition_key(prefix: str) -> str:
    return naming.partition_key_for_blob(prefix.rstrip("/"))


def prefix_for_partition_key(key: str) -> str:
    return naming.blob_for_partition_key(key) + "/"


def members(listing: Iterable[BlobInfo], prefix: str) -> list[BlobInfo]:
    """The raster blobs under ``prefix`` (marker, sidecars, non-rasters and names the platform
    cannot take left out: ``classify`` refuses those)."""
    return sorted(
        (
            b
            for b in listing
            if b.path.startswith(prefix)
            and posixpath.basename(b.path) != MARKER_NAME
            and classify(b.path, b.size).kind == "raster"
        ),
        key=lambda b: b.path,
    )


def listing_digest(blobs: Iterable[BlobInfo]) -> str:
    """Digest of (path, etag) of a collection's members: the sensor's per-collection cursor."""
    digest = hashlib.sha1()
    for b in sorted(blobs, key=lambda b: b.path):
        digest.update(f"{b.path}\0{b.etag}\n".encode())
    return digest.hexdigest()[:16]


def marker_options(text: str | bytes, name: str) -> dict[str, Any]:
    """Options from a marker blob (empty = defaults); unknown keys raise ``ConfigError``."""
    if not text or not str(text).strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{name} must hold a JSON object")
    unknown = sorted(set(data) - set(MARKER_OPTIONS))
    if unknown:
        raise ConfigError(f"{name}: unknown options {unknown}; known: {list(MARKER_OPTIONS)}")
    return data


@dataclass
class CollectionManifest:
    """What the last run published: member blob -> {etag, item_id, href, checksum}."""

    prefix: str
    options_key: str = ""
    members: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_json(
        cls, data: bytes | str | None, prefix: str, options_key: str
    ) -> CollectionManifest:
        """The stored manifest; a missing one, another prefix or other options start afresh."""
        if not data:
            return cls(prefix, options_key)
        raw = json.loads(data)
        if raw.get("prefix") != prefix or raw.get("options_key") != options_key:
            return cls(prefix, options_key)
        return cls(prefix, options_key, dict(raw.get("members", {})))

    def to_json(self) -> str:
        return json.dumps(
            {"prefix": self.prefix, "options_key": self.options_key, "members": self.members},
            indent=1,
            sort_keys=True,
        )

    def plan(self, listing: Iterable[BlobInfo]) -> tuple[list[BlobInfo], list[str]]:
        """(members to (re)build: new or new etag, member blobs gone from bronze)."""
        current = list(listing)
        todo = [b for b in current if self.members.get(b.path, {}).get("etag") != b.etag]
        seen = {b.path for b in current}
        return todo, sorted(p for p in self.members if p not in seen)


def options_key(options: Mapping[str, Any]) -> str:
    """Fingerprint of the options that change members' bytes (a change rebuilds everything)."""
    text = json.dumps(dict(options), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def local_work_dir(root: str, key: str) -> Path:
    """A per-dataset work folder that survives a failed run (``GEO_PLATFORM_TILING_WORK_DIR``,
    default the system temp dir): tiles already built there are reused by the re-run."""
    import tempfile

    base = Path(root) if root else Path(tempfile.gettempdir()) / "geo_platform-work"
    return base / naming.short_hash(key, 16)
