"""STAC item (and collection) for one published raster, built from a ``CogBuildResult``.

Choices, all validated offline against the schemas in ``schemas/``:

- STAC 1.1 with per-asset ``bands`` (data_type, nodata, statistics, unit, description) and the
  raster extension **v2.0.0** (``raster:spatial_resolution``, ``raster:scale``/``offset``); the eo
  extension **v2.0.0** (``eo:common_name`` from colour interpretation or band names such as
  "nir") only when a band has a known common name; projection **v2.0.0** (``proj:code`` such as
  ``EPSG:32618`` or ``ESRI:102039``, else ``proj:wkt2``, plus shape, transform and native bbox);
  file **v2.1.0** (``file:size``, ``file:checksum`` as sha2-256 multihash); processing **v1.2.0**.
- geometry/bbox: the outline of valid data in EPSG:4326 (antimeridian split, bbox with
  ``minx > maxx`` when crossing).
- datetime: from metadata (``geo_platform:datetime_source = "metadata:<TAG>"``); otherwise the
  bronze blob's last-modified time passed as ``source_last_modified`` ("blob_last_modified");
  otherwise the processing time ("processing_time").
- provenance: ``geo_platform:source_blob``/``source_etag``/``source_sha256``/``run_id``/
  ``code_version``, and ``processing:lineage``/``software``/``datetime``.
- roles: analysis ``data``, visualization ``visual``, archive ``archive``, thumbnail ``thumbnail``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pystac

from geo_platform.lib.raster.cog import COG_MEDIA_TYPE, PNG_MEDIA_TYPE, CogBuildResult, TierOutput
from geo_platform.lib.raster.grid import BandMeta, GridInfo
from geo_platform.lib.raster.stats import BandStats
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.stac_ext import CATEGORICAL, DATETIME_SOURCE, prop
from geo_platform.lib.types import BBox, Provenance

RASTER_EXT = "https://stac-extensions.github.io/raster/v2.0.0/schema.json"
PROJ_EXT = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
EO_EXT = "https://stac-extensions.github.io/eo/v2.0.0/schema.json"
FILE_EXT = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
PROCESSING_EXT = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"

ASSET_ROLES: dict[str, list[str]] = {
    "analysis": ["data"],
    "visualization": ["visual"],
    "archive": ["archive"],
    "thumbnail": ["thumbnail"],
}
ASSET_TITLES = {
    "analysis": "Analysis-ready COG (lossless)",
    "visualization": "Visual COG (8-bit JPEG)",
    "archive": "Archive COG (lossless, all metadata)",
    "thumbnail": "Thumbnail",
}
EO_COMMON_NAMES = frozenset(
    [
        "coastal",
        "blue",
        "green",
        "red",
        "yellow",
        "pan",
        "rededge",
        "rededge071",
        "rededge075",
        "rededge078",
        "nir",
        "nir08",
        "nir09",
        "cirrus",
        "swir16",
        "swir22",
        "lwir",
        "lwir11",
        "lwir12",
    ]
)
_DTYPES = {"complex64": "cfloat32", "complex128": "cfloat64", "complex_int16": "cint16"}


def build_raster_item(
    result: CogBuildResult,
    *,
    item_id: str,
    collection_id: str,
    hrefs: Mapping[str, str],
    provenance: Provenance,
    source_size: int | None = None,
    source_last_modified: datetime | None = None,
    processed_at: datetime | None = None,
    collection_href: str | None = None,
    validate: bool = True,
) -> pystac.Item:
    """The STAC item for ``result``; ``hrefs`` maps tier names and "thumbnail" to asset hrefs.

    The item links to its collection (the STAC spec requires a ``collection`` link whenever the
    ``collection`` field is set): ``collection_href``, by default the STAC API path
    ``/collections/<collection_id>``.

    Tiers without an href (skipped or not uploaded) get no asset. Raises ``ValidationError`` when
    ``validate`` and the item does not pass the offline schemas.
    """
    now = processed_at or datetime.now(UTC)
    when, when_source = _item_datetime(result, source_last_modified, now)
    properties = _properties(result, now, when_source, source_size)
    properties.update(_provenance(provenance))
    item = pystac.Item(
        id=item_id,
        geometry=result.footprint.geometry,
        bbox=list(result.footprint.bbox),
        datetime=when,
        properties=properties,
        collection=collection_id,
    )
    item.add_link(
        pystac.Link(
            rel=pystac.RelType.COLLECTION,
            target=collection_href or f"/collections/{collection_id}",
            media_type=pystac.MediaType.JSON,
        )
    )
    uses_eo = _add_assets(item, result, hrefs)
    item.stac_extensions = [RASTER_EXT, PROJ_EXT, FILE_EXT, PROCESSING_EXT]
    if uses_eo:
        item.stac_extensions.append(EO_EXT)
    if validate:
        validate_stac(item.to_dict(include_self_link=False))
    return item


def _properties(
    result: CogBuildResult, now: datetime, when_source: str, source_size: int | None
) -> dict[str, Any]:
    info = result.info
    properties: dict[str, Any] = {
        **_projection(result.grid),
        **_sensor(result),
        "created": _iso(now),
        "processing:datetime": _iso(now),
        "processing:software": dict(result.software),
        "processing:lineage": _lineage(result),
        DATETIME_SOURCE: when_source,
        prop("source_driver"): info.driver,
        prop("source_size"): source_size if source_size is not None else info.file_size,
        CATEGORICAL: info.is_categorical,
        prop("statistics_approximate"): result.stats_approximate,
    }
    skipped = {k: v.skipped_reason for k, v in result.tiers.items() if v.skipped}
    if skipped:
        properties[prop("skipped_tiers")] = skipped
    return properties


def _item_datetime(
    result: CogBuildResult, last_modified: datetime | None, now: datetime
) -> tuple[datetime, str]:
    if result.info.datetime is not None:
        return result.info.datetime.astimezone(UTC), f"metadata:{result.info.datetime_tag}"
    if last_modified is not None:
        aware = last_modified if last_modified.tzinfo else last_modified.replace(tzinfo=UTC)
        return aware.astimezone(UTC), "blob_last_modified"
    return now.astimezone(UTC), "processing_time"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _projection(grid: GridInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "proj:shape": list(grid.shape),
        "proj:transform": list(grid.transform),
        "proj:bbox": list(grid.bounds),
    }
    if grid.crs_code:
        out["proj:code"] = grid.crs_code
    else:
        out["proj:code"] = None
        out["proj:wkt2"] = grid.crs_wkt2
    return out


def _sensor(result: CogBuildResult) -> dict[str, Any]:
    sensor = dict(result.info.sensor)
    out: dict[str, Any] = {}
    instrument = sensor.pop("instrument", None)
    if instrument:
        out["instruments"] = [instrument]
    platform = sensor.pop("platform", None)
    if platform:
        out["platform"] = platform
    if sensor:
        out[prop("sensor")] = sensor
    if result.info.datetime_tag:
        out[prop("datetime_tag")] = result.info.datetime_tag
    return out


def _lineage(result: CogBuildResult) -> str:
    opts = result.options
    steps = [
        f"Source {result.info.driver} raster {result.info.name!r} converted with GDAL's COG driver"
    ]
    if result.info.rectified_from:
        steps.append(result.info.rectified_from)
    if opts.web_optimized:
        steps.append("reprojected to GoogleMapsCompatible (EPSG:3857) tiling")
    elif opts.target_crs:
        steps.append(f"reprojected to {opts.target_crs}")
    viz = result.tiers.get("visualization")
    if viz is not None and viz.rule:
        steps.append(f"visualization: {viz.rule}")
    return "; ".join(steps) + "."


def _provenance(prov: Provenance) -> dict[str, Any]:
    return dict(prov.stac_properties())


def _add_assets(item: pystac.Item, result: CogBuildResult, hrefs: Mapping[str, str]) -> bool:
    uses_eo = False
    for tier, out in result.published().items():
        href = hrefs.get(tier)
        if href is None:
            continue
        grid = result.archive_grid if tier == "archive" and result.archive_grid else result.grid
        stats = result.band_stats if tier != "visualization" else ()
        bands = _visual_bands(out, grid) if tier == "visualization" else _bands(grid, stats)
        uses_eo = uses_eo or any("eo:common_name" in b for b in bands)
        extra: dict[str, Any] = {**_file_fields(out.size_bytes, out.checksum), "bands": bands}
        if grid is not result.grid:
            extra.update(_projection(grid))
        item.add_asset(tier, _asset(href, COG_MEDIA_TYPE, tier, extra))
    if result.thumbnail is not None and "thumbnail" in hrefs:
        size = result.thumbnail.stat().st_size
        extra = _file_fields(size, result.thumbnail_checksum)
        item.add_asset("thumbnail", _asset(hrefs["thumbnail"], PNG_MEDIA_TYPE, "thumbnail", extra))
    return uses_eo


def _asset(href: str, media_type: str, key: str, extra: dict[str, Any]) -> pystac.Asset:
    return pystac.Asset(
        href=href,
        media_type=media_type,
        roles=list(ASSET_ROLES[key]),
        title=ASSET_TITLES[key],
        extra_fields=extra,
    )


def _file_fields(size: int, checksum: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"file:size": size}
    if checksum:
        out["file:checksum"] = checksum
    return out


def _bands(grid: GridInfo, stats: tuple[BandStats, ...]) -> list[dict[str, Any]]:
    out = []
    for band in grid.bands:
        entry = _band_common(band, grid)
        if band.index <= len(stats):
            statistics = stats[band.index - 1].as_stac()
            if statistics:
                entry["statistics"] = statistics
        out.append(entry)
    return out


def _band_common(band: BandMeta, grid: GridInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": band.description or f"b{band.index}",
        "data_type": _DTYPES.get(band.dtype, band.dtype),
        "raster:spatial_resolution": abs(grid.resolution[0]),
    }
    if band.description:
        entry["description"] = band.description
    if band.nodata is not None:
        entry["nodata"] = _nodata(band.nodata)
    if band.unit:
        entry["unit"] = band.unit
    if band.scale != 1.0:
        entry["raster:scale"] = band.scale
    if band.offset != 0.0:
        entry["raster:offset"] = band.offset
    common = _common_name(band)
    if common:
        entry["eo:common_name"] = common
    return entry


def _visual_bands(out: TierOutput, grid: GridInfo) -> list[dict[str, Any]]:
    """8-bit display bands (with raster fields, so an item whose only tier is the picture
    still describes its pixels and validates against the raster extension)."""
    count = int(out.profile.get("count", 0))
    names = ["gray"] if count == 1 else ["red", "green", "blue"][:count]
    bands: list[dict[str, Any]] = []
    for name in names:
        entry: dict[str, Any] = {
            "name": name,
            "data_type": "uint8",
            "raster:bits_per_sample": 8,
            "raster:spatial_resolution": abs(grid.resolution[0]),
        }
        if name != "gray":
            entry["eo:common_name"] = name
        bands.append(entry)
    return bands


def _common_name(band: BandMeta) -> str | None:
    if band.colorinterp in ("red", "green", "blue"):
        return band.colorinterp
    desc = (band.description or "").strip().lower()
    return desc if desc in EO_COMMON_NAMES else None


def _nodata(value: float) -> float | str:
    if value != value:
        return "nan"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return int(value) if float(value).is_integer() else value


def build_collection(
    collection_id: str,
    description: str,
    *,
    bbox: BBox | None = None,
    interval: tuple[datetime | None, datetime | None] | None = None,
    items: Iterable[pystac.Item] = (),
    title: str | None = None,
    license: str = "other",
) -> pystac.Collection:
    """A collection whose extent covers ``bbox``/``interval`` and every item in ``items``."""
    start, end = interval or (None, None)
    collection = pystac.Collection(
        id=collection_id,
        description=description,
        title=title,
        license=license,
        extent=pystac.Extent(
            pystac.SpatialExtent([list(bbox or (-180.0, -90.0, 180.0, 90.0))]),
            pystac.TemporalExtent([[start, end]]),
        ),
    )
    first = bbox is None and interval is None
    for item in items:
        merge_extent(collection, item, replace=first)
        first = False
    return collection


def merge_extent(
    collection: pystac.Collection, item: pystac.Item, *, replace: bool = False
) -> None:
    """Grow the collection's spatial and temporal extent to cover ``item`` (antimeridian-aware).

    ``replace`` discards the current extent first (for a collection's first item).
    """
    item_bbox: BBox = tuple(item.bbox or (-180.0, -90.0, 180.0, 90.0))[:4]  # type: ignore[assignment]
    when = item.datetime or item.common_metadata.start_datetime
    current = collection.extent.spatial.bboxes[0]
    new_bbox = item_bbox if replace else union_bbox(tuple(current[:4]), item_bbox)  # type: ignore[arg-type]
    collection.extent.spatial.bboxes[0] = list(new_bbox)
    start, end = (None, None) if replace else collection.extent.temporal.intervals[0]
    if when is not None:
        start = when if start is None or when < start else start
        end = when if end is None or when > end else end
    collection.extent.temporal.intervals[0] = [start, end]  # type: ignore[list-item]


def union_bbox(a: BBox, b: BBox) -> BBox:
    """Smallest bbox covering ``a`` and ``b``; longitudes as arcs, so it can cross 180."""
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a, b
    ys = (min(ay0, by0), max(ay1, by1))
    wa, wb = _arc_width(ax0, ax1), _arc_width(bx0, bx1)
    from_a = max(wa, (bx0 - ax0) % 360 + wb)
    from_b = max(wb, (ax0 - bx0) % 360 + wa)
    start, width = (ax0, from_a) if from_a <= from_b else (bx0, from_b)
    if width >= 360.0:
        return (-180.0, ys[0], 180.0, ys[1])
    end = start + width
    end = end - 360.0 if end > 180.0 else end
    return (start, ys[0], end, ys[1])


def _arc_width(minx: float, maxx: float) -> float:
    """Longitude span of a bbox; ``minx > maxx`` means it crosses the antimeridian."""
    return maxx - minx if maxx >= minx else maxx + 360.0 - minx
