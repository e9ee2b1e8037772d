"""STAC for the H3 base grids: one item per loaded grid table in ``system-h3-grids``.

The collection is a *system* collection (``collection.PROTECTED_PREFIX``): lifecycle jobs never
unpublish it. An item points at its PostGIS table (a credential-free ``postgresql://`` href)
and describes the table with the STAC table extension.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from geo_platform.lib import stac_ext
from geo_platform.lib.stac.collection import STAC_VERSION, with_collection_link
from geo_platform.lib.types import BBox, Provenance

GRID_COLLECTION = "system-h3-grids"
GRID_DATETIME = "2022-08-23T00:00:00Z"
"""Grids do not change over time: items carry one fixed datetime (the H3 v4.0 release), so a
re-published grid never moves in pgstac's datetime partitions; ``updated`` records the load."""
TABLE_EXTENSION = "https://stac-extensions.github.io/table/v1.2.0/schema.json"
_COLUMNS = [
    {"name": "h3", "type": "text", "description": "H3 cell index, hexadecimal string"},
    {"name": "h3_int", "type": "int64", "description": "H3 cell index as a 64-bit integer (key)"},
    {"name": "resolution", "type": "int16", "description": "H3 resolution"},
    {"name": "parent", "type": "text", "description": "Parent cell (null at resolution 0)"},
    {"name": "center", "type": "geometry", "description": "Cell center, Point EPSG:4326"},
    {"name": "geom", "type": "geometry", "description": "Cell polygon, MultiPolygon EPSG:4326"},
]


def grid_source(resolution: int, bbox: BBox | None = None) -> str:
    """The pseudo source blob a grid is published under (``h3:res4``, ``h3:res9:bbox:...``)."""
    base = f"h3:res{int(resolution)}"
    return base if bbox is None else base + ":bbox:" + ",".join(f"{v:.6f}" for v in bbox)


def grid_item_id(table: str) -> str:
    return table.replace("_", "-")


def grid_collection() -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": GRID_COLLECTION,
        "title": "H3 grids",
        "description": (
            "System collection: H3 cells (global at resolutions 0-4, finer ones for bounding "
            "boxes) as PostGIS tables, split at the antimeridian into valid MultiPolygons."
        ),
        "license": "Apache-2.0",
        "keywords": ["h3", "grid", "geo_platform", "system"],
        "links": [],
        "extent": {
            "spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
            "temporal": {"interval": [[None, None]]},
        },
    }


def _footprint(bbox: BBox) -> dict[str, Any]:
    """The bbox as GeoJSON; one crossing the antimeridian (west > east) is cut in two."""
    w, s, e, n = bbox

    def ring(x0: float, x1: float) -> list[list[list[float]]]:
        return [[[x0, s], [x1, s], [x1, n], [x0, n], [x0, s]]]

    if w <= e:
        return {"type": "Polygon", "coordinates": ring(w, e)}
    return {"type": "MultiPolygon", "coordinates": [ring(w, 180.0), ring(-180.0, e)]}


def build_grid_item(
    *,
    resolution: int,
    table_href: str,
    table: str,
    cell_count: int,
    extent: BBox,
    provenance: Provenance,
    bbox: BBox | None = None,
    generated: datetime | None = None,
) -> dict[str, Any]:
    """The STAC item describing one loaded grid table (``extent``: the cells' lon/lat bounds)."""
    updated = (generated or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    scope = "global" if bbox is None else f"bbox {list(bbox)}"
    properties: dict[str, Any] = {
        "datetime": GRID_DATETIME,
        "updated": updated,
        "title": f"H3 resolution {resolution} ({scope})",
        "description": f"{cell_count:,} H3 cells at resolution {resolution}, {scope}.",
        "table:row_count": cell_count,
        "table:columns": _COLUMNS,
        "table:primary_geometry": "geom",
        stac_ext.H3_RESOLUTION: int(resolution),
        stac_ext.SOURCE_BLOB: provenance.source_blob,
    }
    if provenance.run_id:
        properties[stac_ext.RUN_ID] = provenance.run_id
    if provenance.code_version:
        properties[stac_ext.CODE_VERSION] = provenance.code_version
    item = {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [TABLE_EXTENSION],
        "id": grid_item_id(table),
        "collection": GRID_COLLECTION,
        "geometry": _footprint(extent),
        "bbox": list(extent),
        "properties": properties,
        "assets": {
            "table": {
                "href": table_href,
                "title": f"PostGIS table {table}",
                "type": "application/vnd.postgresql",
                "roles": ["data"],
            }
        },
        "links": [],
    }
    return with_collection_link(item)
