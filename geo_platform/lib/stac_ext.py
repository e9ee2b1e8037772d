"""The platform's own STAC fields, named once.

Every property the platform adds to an item or a collection is ``geo_platform:<field>``
(``PREFIX``). Fields other modules look up (provenance, duplicates, promotion, tiles, mosaics)
have a constant here; a builder that writes a field nobody reads back spells it
``prop("name")`` (or ``f"{PREFIX}name"``), so the prefix itself is written only in this module.

Provenance (``PROVENANCE_FIELDS``) is what every published item records about its origin: the
bronze blob, its etag, href and SHA-256, the Dagster run and the code version. Items are looked
up by ``SOURCE_BLOB`` (stale items of a source) and ``SOURCE_SHA256`` (duplicate content).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PREFIX = "geo_platform:"


def prop(name: str) -> str:
    """The STAC property name of the platform field ``name`` (``geo_platform:<name>``)."""
    return PREFIX + name


# --- provenance (every item) -------------------------------------------------------------------
PROVENANCE_FIELDS = (
    "source_blob",
    "source_etag",
    "source_href",
    "source_sha256",
    "sidecars_sha256",
    "run_id",
    "code_version",
)
SOURCE_BLOB = prop("source_blob")
SOURCE_ETAG = prop("source_etag")
SOURCE_HREF = prop("source_href")
SOURCE_SHA256 = prop("source_sha256")
SIDECARS_SHA256 = prop("sidecars_sha256")  # its sidecars (.dbf, .prj, world file), if any
RUN_ID = prop("run_id")
CODE_VERSION = prop("code_version")

# --- how an item was made ----------------------------------------------------------------------
DATETIME_SOURCE = prop("datetime_source")
CATEGORICAL = prop("categorical")
RENDERS = prop("renders")
COMPLETENESS = prop("completeness")
COMPLETENESS_MISSING = prop("completeness_missing")
TABLE = prop("table")
LAYER = prop("layer")
H3_RESOLUTION = prop("h3_resolution")

# --- tiles of a large raster and their mosaics ---------------------------------------------------
PARENT_ITEM = prop("parent_item")
TILE = prop("tile")
SOURCE_WINDOW = prop("source_window")
GRID_WINDOW = prop("grid_window")
MOSAIC_SEARCHES = prop("mosaic_searches")

# --- duplicates ----------------------------------------------------------------------------------
DUPLICATE_OF = prop("duplicate_of")
DUPLICATE_OF_SOURCE = prop("duplicate_of_source")

# --- promotion -----------------------------------------------------------------------------------
PROMOTED_AT = prop("promoted_at")
PROMOTION_RUN = prop("promotion_run_id")
SOURCE_RUN = prop("source_run_id")
PROMOTION_VERSION = prop("promotion_version")


def provenance_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    """The provenance among an item's ``properties`` (``geo_platform:source_*``, run, code
    version), in ``PROVENANCE_FIELDS`` order; fields the item lacks are left out.

    A duplicate's pointer item carries exactly these, whether they come from a built item or
    from ``Provenance.stac_properties()``."""
    keys = [prop(name) for name in PROVENANCE_FIELDS]
    return {k: properties[k] for k in keys if k in properties}
