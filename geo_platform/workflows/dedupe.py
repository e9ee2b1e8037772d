"""Silver-stage wiring for duplicate content (see ``store/duplicates.py`` for the rules).

``link_duplicate`` is what ``raster_cog`` and ``vector_table`` call right after they computed
the bronze file's SHA-256 and before they build anything: when the same content was already
published under another bronze name (and ``GEO_PLATFORM_DUPLICATES`` is ``link``), it writes
only pointer STAC items into the file's silver folder (replacing whatever an earlier version had
there) and returns a ``DuplicateLinked`` (what was linked, and the pointers); the catalog stage
then publishes the pointers like any other item. Otherwise it returns None and the workflow
carries on as usual.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from geo_platform.lib import naming
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.stac_ext import LAYER, SOURCE_BLOB, provenance_properties
from geo_platform.lib.types import Provenance
from geo_platform.store.blobs.base import BlobStore
from geo_platform.store.catalog import check_item_owners
from geo_platform.store.duplicates import duplicates_mode, find_duplicate, pointers_for
from geo_platform.store.silver import STAC_FOLDER, replace_outputs


@dataclass(frozen=True)
class DuplicateLinked:
    """A file whose content was already published under another bronze name: nothing was built,
    only ``pointers`` (STAC items that point at the original's assets) went to silver.
    ``checks`` are the verdicts a caller records for the pointers (empty unless it adds some)."""

    duplicate_of: str
    duplicate_of_items: list[list[str]]
    pointers: list[dict[str, Any]]
    checks: dict[str, tuple[bool, str]] = field(default_factory=dict)

    @property
    def stac_items(self) -> list[str]:
        return [f"{p['collection']}/{p['id']}" for p in self.pointers]

    @property
    def metadata(self) -> dict[str, Any]:
        """Run metadata (JSON-able values)."""
        return {
            "duplicate_of": self.duplicate_of,
            "duplicate_of_items": self.duplicate_of_items,
            "stac_items": self.stac_items,
            "quality/duplicate": True,
        }


def raster_item_ids(blob: str) -> Callable[[dict[str, Any], int], str]:
    """Pointer ids of a raster duplicate: its own item id, plus whatever the original item's id
    adds to its file's item id (a tile's ``_r0_c1``, a variable's ``-sst``), so a tiled or
    multi-variable original gets one pointer per item, not one for all."""
    base = naming.item_id(blob)

    def name(original: dict[str, Any], _n: int) -> str:
        source = original.get("properties", {}).get(SOURCE_BLOB)
        original_id = str(original.get("id", ""))
        if source:
            original_base = naming.item_id(str(source))
            if original_id.startswith(original_base) and original_id != original_base:
                return base + original_id[len(original_base) :]
        return base

    return name


def vector_item_ids(blob: str) -> Callable[[dict[str, Any], int], str]:
    """Pointer ids of a vector duplicate: the table names it would have had, per layer."""

    def name(original: dict[str, Any], n: int) -> str:
        layer = original.get("properties", {}).get(LAYER)
        return naming.table_name(blob, layer, multi_layer=n > 1)

    return name


def link_duplicate(
    store: BlobStore,
    conn: psycopg.Connection[Any],
    *,
    silver_container: str,
    mode: str,
    provenance: Provenance,
    collection_id: str,
    item_id_for: Callable[[dict[str, Any], int], str],
) -> DuplicateLinked | None:
    """Publish pointer items to silver when ``provenance.content_key`` was published under
    another bronze name first; return what was linked, or None to build normally.

    ``item_id_for(original_item, n)`` names each pointer: ``raster_item_ids(blob)`` or
    ``vector_item_ids(blob)``."""
    key = provenance.content_key
    if duplicates_mode(mode) != "link" or not key:
        return None
    blob = provenance.source_blob
    original = find_duplicate(conn, key, blob)
    if original is None:
        return None
    pointers = pointers_for(
        conn,
        original,
        item_id_for=item_id_for,
        collection_id=collection_id,
        properties=provenance_properties(provenance.stac_properties()),
    )
    # A pointer named like another file's item (``roads.gml`` beside ``roads.sqlite``) would
    # replace it: refused, as a table of that name would be.
    check_item_owners(conn, [(str(p["collection"]), str(p["id"])) for p in pointers], blob)
    with tempfile.TemporaryDirectory(prefix="dup-") as tmp:
        files: dict[str, Path] = {}
        for item in pointers:
            validate_stac(item)
            path = Path(tmp) / f"{item['id']}.json"
            path.write_text(json.dumps(item, indent=1))
            files[f"{STAC_FOLDER}/{item['id']}.json"] = path
        replace_outputs(store, silver_container, blob, files)
    return DuplicateLinked(original.source_blob, original.as_dict()["items"], pointers)
