"""Silver-stage wiring for duplicate content (see ``lib/duplicates.py`` for the rules).

``link_duplicate`` is what ``raster_cog`` and ``vector_table`` call right after they computed
the bronze file's SHA-256 and before they build anything: when the same content was already
published under another bronze name (and ``GEO_PLATFORM_DUPLICATES`` is ``link``), it writes
only pointer STAC items into the file's silver folder (replacing whatever an earlier version had
there) and returns the metadata for the partition; the catalog stage then publishes the pointers
like any other item. Otherwise it returns None and the asset carries on as usual.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg

from geo_platform.lib import naming
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.stac_ext import LAYER, provenance_properties
from geo_platform.lib.types import Provenance
from geo_platform.resources.blob_store import BlobStore
from geo_platform.store.duplicates import duplicates_mode, find_duplicate, pointers_for
from geo_platform.store.silver import STAC_FOLDER, replace_outputs


def raster_item_ids(blob: str) -> Callable[[dict[str, Any], int], str]:
    """Pointer ids of a raster duplicate: its own item id."""
    return lambda _original, _n: naming.item_id(blob)


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
) -> dict[str, Any] | None:
    """Publish pointer items to silver when ``provenance.source_sha256`` was published under
    another bronze name first; return the partition's metadata, or None to build normally.

    ``item_id_for(original_item, n)`` names each pointer: ``raster_item_ids(blob)`` or
    ``vector_item_ids(blob)``."""
    if duplicates_mode(mode) != "link" or not provenance.source_sha256:
        return None
    blob = provenance.source_blob
    original = find_duplicate(conn, provenance.source_sha256, blob)
    if original is None:
        return None
    pointers = pointers_for(
        conn,
        original,
        item_id_for=item_id_for,
        collection_id=collection_id,
        properties=provenance_properties(provenance.stac_properties()),
    )
    with tempfile.TemporaryDirectory(prefix="dup-") as tmp:
        files: dict[str, Path] = {}
        for item in pointers:
            validate_stac(item)
            path = Path(tmp) / f"{item['id']}.json"
            path.write_text(json.dumps(item, indent=1))
            files[f"{STAC_FOLDER}/{item['id']}.json"] = path
        replace_outputs(store, silver_container, blob, files)
    return {
        "duplicate_of": original.source_blob,
        "duplicate_of_items": dg.MetadataValue.json(original.as_dict()["items"]),
        "stac_items": dg.MetadataValue.json([f"{p['collection']}/{p['id']}" for p in pointers]),
        "quality/duplicate": True,
    }
