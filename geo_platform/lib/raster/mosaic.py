"""MosaicJSON (0.0.3, cogeo-mosaic) over many COGs: the tiles of a large raster or the files of a
raster collection, served as one dataset by any MosaicJSON-aware tiler (titiler's mosaic).

A mosaic maps web-mercator quadkeys (at ``quadkey_zoom``) to the COG hrefs that intersect them.
Sources are described by ``MosaicSource`` (href + lon/lat bounds), built without opening the
COGs when their grid is known (``sources_from_tiling``, ``sources_from_items``) or from files
(``sources_from_paths``). ``update_mosaic`` merges new or changed sources into an existing
mosaic quadkey by quadkey (no rebuild of the rest), ``validate_mosaic`` checks it with
cogeo-mosaic's pydantic model, ``tiles_for_point`` answers "which COGs cover this point".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import morecantile
import numpy as np
import rasterio
import rasterio.warp
from affine import Affine
from pydantic import ValidationError as PydanticValidationError
from rasterio.crs import CRS
from rasterio.warp import calculate_default_transform, transform_bounds

from geo_platform.lib.errors import ValidationError
from geo_platform.lib.raster.tiling import TileOutput, TilingResult
from geo_platform.lib.types import BBox
from geo_platform.lib.vector.extent import Extent

if TYPE_CHECKING:  # cogeo-mosaic loads every backend (the Azure SDK, aiohttp...): when used
    from cogeo_mosaic.mosaic import MosaicJSON

MOSAICJSON_VERSION = "0.0.3"
WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")
MOSAIC_MEDIA_TYPE = "application/json"
MOSAIC_ROLE = "mosaic"


@dataclass(frozen=True)
class MosaicSource:
    """One COG of a mosaic: where it is, its lon/lat bounds and the zooms it is sharp at."""

    href: str
    bounds: BBox
    minzoom: int
    maxzoom: int


def zoom_range(crs: CRS | str, transform: Affine, width: int, height: int) -> tuple[int, int]:
    """Web-mercator zooms of a grid: maxzoom at native resolution, minzoom where the whole grid
    fits one 256-pixel tile (the same rule as rio-tiler's reader).

    Measured in a spherical Mercator centred on the grid (the same scale as Web Mercator at
    every latitude): a grid across the antimeridian would otherwise be warped round the whole
    Earth, and come out at zoom 2 instead of its own."""
    crs = CRS.from_user_input(crs)
    bounds = rasterio.transform.array_bounds(height, width, transform)
    (lon,), _ = rasterio.warp.transform(
        crs, "EPSG:4326", [(bounds[0] + bounds[2]) / 2], [(bounds[1] + bounds[3]) / 2]
    )
    lon = float(lon) if np.isfinite(lon) else 0.0
    centred = CRS.from_proj4(f"+proj=merc +a=6378137 +b=6378137 +lon_0={lon} +units=m +no_defs")
    dst, w, h = calculate_default_transform(crs, centred, width, height, *bounds)
    res = max(abs(dst.a), abs(dst.e))
    maxzoom = WEB_MERCATOR.zoom_for_res(res)
    overview_res = res * max(w or 1, h or 1) / 256
    minzoom = WEB_MERCATOR.zoom_for_res(overview_res)
    return min(minzoom, maxzoom), maxzoom


def _lonlat_bounds(crs: CRS | str, transform: Affine, width: int, height: int) -> BBox:
    native = rasterio.transform.array_bounds(height, width, transform)
    west, south, east, north = transform_bounds(crs, "EPSG:4326", *native, densify_pts=21)
    # A grid in lon/lat that runs on past 180 (``antimeridian_grid``): back into -180..180,
    # west > east where it crosses.
    if west >= 180.0 or east <= -180.0:
        shift = -360.0 if west >= 180.0 else 360.0
        return (west + shift, south, east + shift, north)
    if east > 180.0 or west < -180.0:
        return ((west + 180.0) % 360.0 - 180.0, south, (east + 180.0) % 360.0 - 180.0, north)
    return (west, south, east, north)


def sources_from_tiling(
    result: TilingResult, href_for: Callable[[TileOutput], str]
) -> list[MosaicSource]:
    """Sources for the tiles of ``result`` computed from the grid (no file is opened)."""
    crs = CRS.from_wkt(result.crs_wkt)
    base = Affine(*result.transform)
    out = []
    for tile in result.tiles:
        s = tile.spec
        transform = base @ Affine.translation(s.col_off, s.row_off)
        minz, maxz = zoom_range(crs, transform, s.width, s.height)
        bounds = _lonlat_bounds(crs, transform, s.width, s.height)
        out.append(MosaicSource(href_for(tile), bounds, minz, maxz))
    return out


def sources_from_items(
    items: Iterable[Mapping[str, Any]], asset: str = "analysis"
) -> list[MosaicSource]:
    """Sources from STAC items (``bbox``, ``proj:*`` and the ``asset`` href)."""
    out = []
    for item in items:
        props = item["properties"]
        height, width = props["proj:shape"]
        crs = props.get("proj:code") or props["proj:wkt2"]
        minz, maxz = zoom_range(crs, Affine(*props["proj:transform"][:6]), width, height)
        west, south, east, north = item["bbox"][:4] if len(item["bbox"]) == 4 else _bbox2d(item)
        out.append(
            MosaicSource(item["assets"][asset]["href"], (west, south, east, north), minz, maxz)
        )
    return out


def _bbox2d(item: Mapping[str, Any]) -> list[float]:
    b = item["bbox"]
    return [b[0], b[1], b[3], b[4]]


def sources_from_paths(paths: Iterable[Path | str]) -> list[MosaicSource]:
    """Sources from local or GDAL-readable files (each file's header is read)."""
    out = []
    for path in paths:
        with rasterio.open(path) as ds:
            minz, maxz = zoom_range(ds.crs, ds.transform, ds.width, ds.height)
            bounds = _lonlat_bounds(ds.crs, ds.transform, ds.width, ds.height)
        out.append(MosaicSource(str(path), bounds, minz, maxz))
    return out


def _features(source: MosaicSource) -> list[dict[str, Any]]:
    """The source's box as GeoJSON features; a source across the antimeridian (``west >
    east``) is two, one each side (cogeo-mosaic reads each feature's first ring only)."""
    return [
        {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [[(x0, y1), (x0, y0), (x1, y0), (x1, y1), (x0, y1)]],
            },
            "properties": {"path": source.href},
        }
        for x0, y0, x1, y1 in _halves(source.bounds)
    ]


def _from_sources(sources: Sequence[MosaicSource], **kw: Any) -> MosaicJSON:
    from cogeo_mosaic.mosaic import MosaicJSON

    mosaic = MosaicJSON.from_features(
        [f for s in sources for f in _features(s)],
        version=MOSAICJSON_VERSION,
        tilematrixset=WEB_MERCATOR,
        quiet=True,
        **kw,
    )
    # Both halves of a source across the antimeridian can meet in one coarse quadkey.
    mosaic.tiles = {qk: list(dict.fromkeys(assets)) for qk, assets in mosaic.tiles.items()}
    return mosaic


def _placed(out: dict[str, Any], boxes: Iterable[BBox], zoom: int) -> dict[str, Any]:
    """``out`` with ``bounds`` and ``center`` of ``boxes``. Across the antimeridian the
    bounds are the whole width (TileJSON clients read west > east as nothing) and the centre
    is over the data, not at longitude 0 on the far side of the Earth."""
    extent = Extent()
    rows = [r for b in boxes for r in _halves(b)]
    extent.add(np.array(rows, dtype=float))
    west, south, east, north = extent.bbox() or (-180.0, -90.0, 180.0, 90.0)
    if west > east:
        centre = west + ((east - west) % 360.0) / 2
        out["bounds"] = [-180.0, south, 180.0, north]
        out["center"] = [centre - 360.0 if centre > 180 else centre, (south + north) / 2, zoom]
    else:
        out["bounds"] = [west, south, east, north]
        out["center"] = [(west + east) / 2, (south + north) / 2, zoom]
    return out


def _halves(box: BBox) -> list[BBox]:
    w, s, e, n = box
    return [(w, s, 180.0, n), (-180.0, s, e, n)] if w > e else [box]


def build_mosaic(
    sources: Sequence[MosaicSource],
    *,
    minzoom: int | None = None,
    maxzoom: int | None = None,
    quadkey_zoom: int | None = None,
    name: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """A MosaicJSON 0.0.3 document (dict) over ``sources``.

    Zooms default to the sources' own: maxzoom the finest, minzoom the coarsest minzoom, and
    quadkey_zoom = minzoom (each quadkey lists few COGs)."""
    if not sources:
        raise ValidationError("a mosaic needs at least one source COG")
    minzoom = min(s.minzoom for s in sources) if minzoom is None else minzoom
    maxzoom = max(s.maxzoom for s in sources) if maxzoom is None else maxzoom
    mosaic = _from_sources(
        sources, minzoom=minzoom, maxzoom=max(maxzoom, minzoom), quadkey_zoom=quadkey_zoom
    )
    if name:
        mosaic.name = name
    if description:
        mosaic.description = description
    return _placed(_to_dict(mosaic), (src.bounds for src in sources), minzoom)


def _to_dict(mosaic: MosaicJSON) -> dict[str, Any]:
    return dict(mosaic.model_dump(exclude_none=True, mode="json"))


def update_mosaic(
    mosaic: Mapping[str, Any],
    added: Sequence[MosaicSource],
    removed: Iterable[str] = (),
) -> dict[str, Any]:
    """``mosaic`` with ``added`` sources merged in and ``removed`` hrefs dropped.

    Only the quadkeys the new sources touch are recomputed (cogeo-mosaic's per-quadkey merge);
    a re-added href (a replaced file) is listed once, first. Zoom levels and quadkey zoom stay
    those of the existing mosaic; the ``version`` is bumped."""
    current = validate_mosaic(mosaic)
    gone = set(removed) | {s.href for s in added}
    tiles = {
        qk: kept
        for qk, assets in current.tiles.items()
        if (kept := [a for a in assets if a not in gone])
    }
    if added:
        new = _from_sources(
            added,
            minzoom=current.minzoom,
            maxzoom=current.maxzoom,
            quadkey_zoom=current.quadkey_zoom,
        )
        for quadkey, assets in new.tiles.items():
            tiles[quadkey] = [*assets, *tiles.get(quadkey, [])]
    if not tiles:
        raise ValidationError("the updated mosaic would have no tiles")
    out = _to_dict(current)
    out["tiles"] = tiles
    out = _placed(out, _tile_boxes(tiles), current.minzoom)
    major, minor, patch = (int(p) for p in str(current.version).split("."))
    out["version"] = f"{major}.{minor}.{patch + 1}"
    return _to_dict(validate_mosaic(out))


def _tile_boxes(tiles: Mapping[str, Any]) -> list[BBox]:
    """Lon/lat boxes of the quadkeys (a slight over-estimate of the data, never under)."""
    out = []
    for qk in tiles:
        b = WEB_MERCATOR.bounds(WEB_MERCATOR.quadkey_to_tile(qk))
        out.append((b.left, b.bottom, b.right, b.top))
    return out


def validate_mosaic(mosaic: Mapping[str, Any]) -> MosaicJSON:
    """Parse ``mosaic`` with cogeo-mosaic's model; raise ``ValidationError`` with the reasons.

    Beyond the model: a non-empty tile index, quadkeys of length ``quadkey_zoom`` (or minzoom),
    and no empty asset lists."""
    from cogeo_mosaic.mosaic import MosaicJSON

    try:
        model = MosaicJSON.model_validate(dict(mosaic))
    except PydanticValidationError as exc:
        raise ValidationError(f"not a valid MosaicJSON: {exc}") from exc
    zoom = model.quadkey_zoom or model.minzoom
    problems = []
    if not model.tiles:
        problems.append("no tiles")
    bad = [qk for qk, assets in model.tiles.items() if len(qk) != zoom or not assets]
    if bad:
        problems.append(f"{len(bad)} quadkeys of the wrong zoom or without assets: {bad[:3]}")
    if model.minzoom > model.maxzoom:
        problems.append(f"minzoom {model.minzoom} > maxzoom {model.maxzoom}")
    if problems:
        raise ValidationError("not a valid MosaicJSON: " + "; ".join(problems))
    return model


def tiles_for_point(mosaic: Mapping[str, Any], lon: float, lat: float) -> list[str]:
    """The COG hrefs the mosaic lists for the quadkey containing (lon, lat), first = on top.

    This is what a tiler reads for that location; the COGs' bounds may be tighter than the
    quadkey (a tiler then gets no data from the others)."""
    from cogeo_mosaic.backends import MemoryBackend

    with MemoryBackend(mosaic_def=validate_mosaic(mosaic)) as backend:
        return list(backend.assets_for_point(lon, lat))


def tiles_for_bbox(mosaic: Mapping[str, Any], bounds: BBox) -> list[str]:
    """The COG hrefs listed for the quadkeys intersecting lon/lat ``bounds``."""
    from cogeo_mosaic.backends import MemoryBackend

    with MemoryBackend(mosaic_def=validate_mosaic(mosaic)) as backend:
        return list(backend.assets_for_bbox(*bounds))
