"""STAC items for published rasters: offline schema validity, bbox/geometry, provenance."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from rasterio.warp import transform_bounds
from shapely.geometry import shape

from geo_platform.lib.raster.cog import CogBuildResult, multihash_sha256
from geo_platform.lib.stac.raster_item import (
    build_collection,
    build_raster_item,
    merge_extent,
    union_bbox,
)
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.types import Provenance
from geo_platform_tests.lib.raster.conftest import built_shared  # noqa: F401  (fixture)
from geo_platform_tests.lib.raster.test_inspect import PUBLISHABLE

Built = Callable[[str], CogBuildResult]
PROV = Provenance(
    source_blob="bronze/x.tif", source_etag="0x8DC", run_id="run-1", code_version="abc123"
)


def _item(result: CogBuildResult, **kwargs: object):  # type: ignore[no-untyped-def]
    hrefs = {k: f"https://silver.example/{k}.tif" for k in result.published()}
    hrefs["thumbnail"] = "https://silver.example/thumbnail.png"
    return build_raster_item(
        result, item_id="x", collection_id="rasters", hrefs=hrefs, provenance=PROV, **kwargs
    )


def _expected_bbox(path: str) -> tuple[float, float, float, float]:
    """The source bounds in EPSG:4326 (clamped to the valid lon/lat range)."""
    with rasterio.open(path) as ds:
        minx, miny, maxx, maxy = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21)
    if maxx >= minx and maxx - minx >= 359.9:
        minx, maxx = -180.0, 180.0
    return minx, max(miny, -90.0), maxx, min(maxy, 90.0)


def _valid_pixels_bbox(path: str) -> tuple[float, float, float, float]:
    """Exact lon/lat bbox of the corners of the valid pixels (independent of our code)."""
    with rasterio.open(path) as ds:
        rows, cols = np.nonzero(ds.dataset_mask() > 0)
        t = ds.transform
        cc = np.concatenate([cols + dc for dc in (0, 1) for _ in (0, 1)])
        rr = np.concatenate([rows + dr for _ in (0, 1) for dr in (0, 1)])
        xs, ys = t.a * cc + t.b * rr + t.c, t.d * cc + t.e * rr + t.f
        to4326 = pyproj.Transformer.from_crs(ds.crs, 4326, always_xy=True)
        lon, lat = to4326.transform(xs, ys)
    ok = np.isfinite(lon) & np.isfinite(lat)
    return lon[ok].min(), lat[ok].min(), lon[ok].max(), lat[ok].max()


@pytest.mark.parametrize("rel", PUBLISHABLE)
def test_item_validates_offline_and_bbox_matches_source(built_shared: Built, rel: str) -> None:  # noqa: F811
    result = built_shared(rel)
    item = _item(result)
    d = item.to_dict()
    used = validate_stac(d)
    assert any("raster/v2.0.0" in u for u in used) and any("projection/v2.0.0" in u for u in used)
    geom = shape(d["geometry"])
    assert geom.is_valid and not geom.is_empty
    bbox = d["bbox"]
    if rel == "unusual_crs/goes.tif":  # full disk: the corners are in space
        assert -160 < bbox[0] < -150 and 0 < bbox[2] < 10
        return
    expected = _expected_bbox(result.info.gdal_path)
    span = max((bbox[2] - bbox[0]) % 360, bbox[3] - bbox[1])
    if result.band_stats[0].valid_percent == 100.0:
        np.testing.assert_allclose(bbox, expected, atol=1e-4 * span + 1e-9)
    else:  # footprint of valid data: inside the raster bounds, on the valid pixels
        assert expected[0] - 1e-9 <= bbox[0] and bbox[2] <= expected[2] + 1e-9
        assert expected[1] - 1e-9 <= bbox[1] and bbox[3] <= expected[3] + 1e-9
        px = span / max(result.grid.shape)
        np.testing.assert_allclose(bbox, _valid_pixels_bbox(result.info.gdal_path), atol=2 * px)


def test_antimeridian_item(built_shared: Built) -> None:  # noqa: F811
    item = _item(built_shared("antimeridian/cog_dateline.tif"))
    minx, _, maxx, _ = item.bbox
    assert minx > maxx and (maxx + 360 - minx) < 5, "crossing bbox, not the whole globe"
    geom = shape(item.geometry)
    assert geom.geom_type == "MultiPolygon" and geom.is_valid
    for part in geom.geoms:
        assert part.bounds[0] >= -180 and part.bounds[2] <= 180
    assert shapely.get_num_coordinates(geom) < 500


def test_projection_band_and_file_fields(built_shared: Built) -> None:  # noqa: F811
    result = built_shared("rgb_uint8/RGB.byte.tif")
    item = _item(result)
    props = item.properties
    assert props["proj:code"] == "EPSG:32618" and props["proj:shape"] == [718, 791]
    assert props["proj:transform"][:3] == [pytest.approx(300.0379266750948), 0.0, 101985.0]
    analysis = item.assets["analysis"].to_dict()
    assert analysis["roles"] == ["data"]
    assert analysis["type"] == "image/tiff; application=geotiff; profile=cloud-optimized"
    assert analysis["file:checksum"] == multihash_sha256(result.tiers["analysis"].path)
    bands = analysis["bands"]
    assert [b["eo:common_name"] for b in bands] == ["red", "green", "blue"]
    assert bands[0]["data_type"] == "uint8" and bands[0]["nodata"] == 0
    assert set(bands[0]["statistics"]) == {"minimum", "maximum", "mean", "stddev", "valid_percent"}
    assert item.assets["visualization"].roles == ["visual"]
    assert item.assets["archive"].roles == ["archive"]
    assert item.assets["thumbnail"].media_type == "image/png"
    assert "eo/v2.0.0" in " ".join(item.stac_extensions)

    esri = _item(built_shared("unusual_crs/test_esri_wkt.tif")).properties
    assert esri["proj:code"] == "ESRI:102039"
    dem = _item(built_shared("dem_float32/dem-hills.tiff")).properties
    assert dem["proj:code"] is None and dem["proj:wkt2"].startswith("GEOGCRS")


def test_provenance_and_processing(built_shared: Built) -> None:  # noqa: F811
    props = _item(built_shared("palette/storml_tcc.tif")).properties
    assert props["geo_platform:source_blob"] == "bronze/x.tif"
    assert props["geo_platform:source_etag"] == "0x8DC"
    assert (props["geo_platform:run_id"], props["geo_platform:code_version"]) == ("run-1", "abc123")
    assert "GDAL" in props["processing:software"] and "rasterio" in props["processing:software"]
    assert "palette expanded to RGB" in props["processing:lineage"]
    assert props["geo_platform:categorical"] is True


def test_datetime_sources(built_shared: Built) -> None:  # noqa: F811
    grib = _item(built_shared("non_tiff/gfs.t06z.pgrb2.10p0.f010.grib2"))
    assert grib.datetime == datetime(2021, 9, 18, 16, tzinfo=UTC)
    assert grib.properties["geo_platform:datetime_source"] == "metadata:GRIB_VALID_TIME"
    modified = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    rgb = _item(built_shared("rgb_uint8/RGB.byte.tif"), source_last_modified=modified)
    assert rgb.datetime == modified
    assert rgb.properties["geo_platform:datetime_source"] == "blob_last_modified"
    now = _item(built_shared("rgb_uint8/RGB.byte.tif"))
    assert now.properties["geo_platform:datetime_source"] == "processing_time"


def test_skipped_tier_has_no_asset(built_shared: Built) -> None:  # noqa: F811
    item = _item(built_shared("non_tiff/gfs.t06z.pgrb2.10p0.f010.grib2"))
    assert "visualization" not in item.assets and "analysis" in item.assets
    assert "visualization" in item.properties["geo_platform:skipped_tiers"]


def test_collection_extent_and_antimeridian_union(built_shared: Built) -> None:  # noqa: F811
    items = [
        _item(built_shared(r)) for r in ("antimeridian/cog_dateline.tif", "rgb_uint8/RGB.byte.tif")
    ]
    collection = build_collection("rasters", "Test rasters", items=items)
    validate_stac(collection.to_dict(include_self_link=False))
    bbox = collection.extent.spatial.bboxes[0]
    assert bbox[0] > bbox[2], "smallest cover of a dateline scene and the Bahamas crosses 180"
    interval = collection.extent.temporal.intervals[0]
    assert interval[0] is not None and interval[1] is not None
    grib = _item(built_shared("non_tiff/gfs.t06z.pgrb2.10p0.f010.grib2"))
    merge_extent(collection, grib)
    assert collection.extent.spatial.bboxes[0][0] == -180.0
    assert collection.extent.temporal.intervals[0][0] == grib.datetime


def test_union_bbox() -> None:
    assert union_bbox((0, 0, 10, 10), (20, -5, 30, 5)) == (0, -5, 30, 10)
    assert union_bbox((170, 0, 175, 1), (-175, 0, -170, 1)) == (170, 0, -170, 1)
    assert union_bbox((178, 0, -178, 1), (-179, 0, -170, 1)) == (178, 0, -170, 1)
    assert union_bbox((-180, 0, 180, 1), (10, 0, 20, 1)) == (-180, 0, 180, 1)
