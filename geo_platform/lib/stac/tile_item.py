"""STAC items for the tiles of a tiled raster, and the collection pieces that make them one
dataset: a ``mosaic`` asset (the MosaicJSON) on the collection and a pgstac mosaic search.

A tile item is light (no statistics: those belong to the whole raster): footprint and bbox of
the tile in EPSG:4326, projection (code or WKT2, shape, transform, native bbox), file size and
checksum, and lineage: ``geo_platform:source_window`` ([col_off, row_off, width, height] in
source pixels), ``geo_platform:tile`` ([row, col]) and ``geo_platform:parent_item``. With
``TileAssets`` it also gets the tile's ``visualization`` COG (8-bit JPEG, one render plan for the
whole raster), the ``thumbnail`` of the whole raster (shared by all tiles) and the MosaicJSONs.
``with_mosaic_asset`` gives a collection its MosaicJSON asset; ``store/mosaic_search.py``
registers the pgstac mosaic search.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyproj
import shapely
from affine import Affine
from shapely import affinity

from geo_platform.lib.raster.cog import COG_MEDIA_TYPE, PNG_MEDIA_TYPE
from geo_platform.lib.raster.footprint import footprint_4326, raster_outline
from geo_platform.lib.raster.mosaic import MOSAIC_MEDIA_TYPE, MOSAIC_ROLE
from geo_platform.lib.raster.tiling import TileOutput, TilingResult
from geo_platform.lib.stac.raster_item import FILE_EXT, PROCESSING_EXT, PROJ_EXT
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.stac_ext import (
    GRID_WINDOW,
    MOSAIC_SEARCHES,
    PARENT_ITEM,
    SOURCE_WINDOW,
    TILE,
    provenance_properties,
)
from geo_platform.lib.types import Provenance


def _iso(value: datetime) -> str:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _crs_fields(crs: pyproj.CRS) -> dict[str, Any]:
    authority = crs.to_authority(min_confidence=70)
    if authority:
        return {"proj:code": ":".join(authority)}
    return {"proj:code": None, "proj:wkt2": crs.to_wkt("WKT2_2019")}


def _nodata(value: float | None) -> float | str | None:
    if value is None:
        return None
    if value != value:
        return "nan"
    return int(value) if float(value).is_integer() else value


MOSAIC_TITLES = {
    "mosaic": "MosaicJSON of all tiles",
    "mosaic-visual": "MosaicJSON of all visualization tiles",
}


@dataclass(frozen=True)
class TileAssets:
    """The assets a tile item gets beyond its lossless COG (each optional).

    ``visual``/``visual_href``: the tile's visualization COG and where it is published;
    ``visual_bands``: its band names (``gray`` or ``red``/``green``/``blue``); ``visual_rule``:
    how it was rendered (for the lineage); ``thumbnail_href``: the whole raster's thumbnail;
    ``mosaics``: asset key (``mosaic``, ``mosaic-visual``) -> MosaicJSON href."""

    visual: TileOutput | None = None
    visual_href: str | None = None
    visual_bands: tuple[str, ...] = ()
    visual_rule: str | None = None
    thumbnail_href: str | None = None
    mosaics: Mapping[str, str] = field(default_factory=dict)


def _analysis_asset(
    tile: TileOutput, result: TilingResult, href: str, nodata: float | None
) -> dict[str, Any]:
    """The tile's lossless COG."""
    band: dict[str, Any] = {"data_type": result.dtype}
    if nodata is not None:
        band["nodata"] = _nodata(nodata)
    return {
        "href": href,
        "type": COG_MEDIA_TYPE,
        "roles": ["data"],
        "title": "Analysis-ready COG tile (lossless)",
        "file:size": tile.size_bytes,
        "file:checksum": tile.checksum,
        "bands": [dict(band) for _ in range(result.count)],
    }


def _extra_assets(extras: TileAssets) -> dict[str, dict[str, Any]]:
    assets: dict[str, dict[str, Any]] = {}
    if extras.visual is not None and extras.visual_href:
        assets["visualization"] = {
            "href": extras.visual_href,
            "type": COG_MEDIA_TYPE,
            "roles": ["visual"],
            "title": "Visual COG tile (8-bit JPEG)",
            "file:size": extras.visual.size_bytes,
            "file:checksum": extras.visual.checksum,
            "bands": [{"name": n, "data_type": "uint8"} for n in extras.visual_bands],
        }
    if extras.thumbnail_href:
        assets["thumbnail"] = {
            "href": extras.thumbnail_href,
            "type": PNG_MEDIA_TYPE,
            "roles": ["thumbnail"],
            "title": "Thumbnail of the whole raster",
        }
    for key, href in extras.mosaics.items():
        assets[key] = {
            "href": href,
            "type": MOSAIC_MEDIA_TYPE,
            "roles": [MOSAIC_ROLE],
            "title": MOSAIC_TITLES.get(key, "MosaicJSON"),
        }
    return assets


def _tile_outline(tile: TileOutput, result: TilingResult) -> shapely.Geometry:
    """The tile's data in its own pixel coordinates: the whole tile, or for a reprojected tile
    its part inside the warped source outline (the padding around the warped area is not data)."""
    s = tile.spec
    whole = raster_outline(s.width, s.height)
    if not result.data_outline:
        return whole
    outline = shapely.from_wkt(result.data_outline)
    part = affinity.translate(outline, -s.col_off, -s.row_off).intersection(whole)
    part = shapely.make_valid(part)
    polygons = [
        g for g in getattr(part, "geoms", [part]) if g.geom_type in ("Polygon", "MultiPolygon")
    ]
    kept = shapely.union_all(polygons) if polygons else None
    return kept if kept is not None and not kept.is_empty and kept.area > 0 else whole


def _lineage(tile: TileOutput, result: TilingResult, source_blob: str) -> str:
    s = tile.spec
    head = f"Tile r{s.row} c{s.col} of {source_blob!r}: "
    if result.target_crs:
        return (
            head + f"window {list(s.window)} (col_off, row_off, width, height) of the source "
            f"warped to {result.target_crs} ({result.warp_resampling} resampling) by GDAL, "
            "written by GDAL's COG driver."
        )
    return (
        head + f"source window {list(s.window)} (col_off, row_off, width, height) copied "
        "losslessly by GDAL's COG driver."
    )


def _tile_properties(
    tile: TileOutput,
    result: TilingResult,
    transform: Affine,
    crs: pyproj.CRS,
    provenance: Provenance,
    *,
    when: datetime,
    processed_at: datetime | None,
    visual_rule: str | None,
) -> dict[str, Any]:
    """Date, projection, lineage and provenance of one tile."""
    s = tile.spec
    x0, y0 = transform @ (0, 0)
    x1, y1 = transform @ (s.width, s.height)
    now = _iso(processed_at or datetime.now(UTC))
    lineage = _lineage(tile, result, provenance.source_blob)
    if visual_rule:
        lineage += f" Visualization: {visual_rule}."
    return {
        "datetime": _iso(when),
        "created": now,
        **_crs_fields(crs),
        "proj:shape": [s.height, s.width],
        "proj:transform": list(transform)[:6],
        "proj:bbox": [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)],
        "processing:datetime": now,
        "processing:lineage": lineage,
        PARENT_ITEM: result.item_id,
        TILE: [s.row, s.col],
        GRID_WINDOW if result.target_crs else SOURCE_WINDOW: list(s.window),
        **provenance_properties(provenance.stac_properties()),
    }


def build_tile_item(
    tile: TileOutput,
    result: TilingResult,
    *,
    collection_id: str,
    href: str,
    provenance: Provenance,
    when: datetime,
    nodata: float | None = None,
    processed_at: datetime | None = None,
    validate: bool = True,
    extras: TileAssets | None = None,
) -> dict[str, Any]:
    """The STAC item (dict) of one tile; ``href`` is where the tile COG is published,
    ``extras`` the visualization, thumbnail and mosaic assets."""
    extras = extras or TileAssets()
    s = tile.spec
    crs = pyproj.CRS.from_wkt(result.crs_wkt)
    transform = Affine(*result.transform) @ Affine.translation(s.col_off, s.row_off)
    fp = footprint_4326(_tile_outline(tile, result), transform, crs)
    props = _tile_properties(
        tile,
        result,
        transform,
        crs,
        provenance,
        when=when,
        processed_at=processed_at,
        visual_rule=extras.visual_rule,
    )
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": [PROJ_EXT, FILE_EXT, PROCESSING_EXT],
        "id": s.tile_id,
        "collection": collection_id,
        "geometry": fp.geometry,
        "bbox": list(fp.bbox),
        "properties": props,
        "links": [
            {
                "rel": "collection",
                "href": f"/collections/{collection_id}",
                "type": "application/json",
            }
        ],
        "assets": {
            "analysis": _analysis_asset(tile, result, href, nodata),
            **_extra_assets(extras),
        },
    }
    if validate:
        validate_stac(item)
    return item


def with_mosaic_asset(
    collection: Mapping[str, Any],
    mosaic_href: str,
    search_id: str | None = None,
    key: str = "mosaic",
    *,
    visual: bool = False,
) -> dict[str, Any]:
    """``collection`` with an asset ``key`` (the MosaicJSON) and, when registered, the pgstac
    search id under ``geo_platform:mosaic_searches[key]`` (what titiler-pgstac's /searches
    serves). A raster collection has one ``mosaic``; each tiled large raster of a folder dataset
    adds ``mosaic-<item_id>``."""
    out = json.loads(json.dumps(collection))
    out.setdefault("assets", {})[key] = {
        "href": mosaic_href,
        "type": MOSAIC_MEDIA_TYPE,
        "roles": [MOSAIC_ROLE, "visual" if visual else "data"],
        "title": "MosaicJSON of the "
        + ("visualization (8-bit JPEG) tiles" if visual else "COGs")
        + " of this dataset",
    }
    if search_id:
        out.setdefault(MOSAIC_SEARCHES, {})[key] = search_id
    return out
