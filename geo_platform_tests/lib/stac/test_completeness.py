"""Metadata completeness: known gaps give known scores; real built items score as expected."""

from __future__ import annotations

import copy
from pathlib import Path

from geo_platform.lib.raster.cog import build_cog_tiers
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.stac.completeness import (
    COMPLETENESS_PROPERTY,
    MISSING_PROPERTY,
    completeness,
    item_kind,
    with_completeness,
)
from geo_platform.lib.stac.raster_item import build_raster_item
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.types import Provenance
from geo_platform_tests.lib.raster.synth import gradient, write_tif

BAND = {
    "name": "elevation",
    "description": "height above sea level",
    "unit": "m",
    "data_type": "float32",
    "statistics": {"minimum": 1, "maximum": 9},
}
COMPLETE_RASTER = {
    "type": "Feature",
    "stac_version": "1.1.0",
    "id": "dem",
    "collection": "c",
    "geometry": {"type": "Point", "coordinates": [1, 2]},
    "bbox": [1, 2, 1, 2],
    "properties": {
        "datetime": "2020-05-01T00:00:00Z",
        "geo_platform:datetime_source": "metadata:TIFFTAG_DATETIME",
        "license": "CC-BY-4.0",
        "providers": [{"name": "USGS"}],
        "title": "DEM",
        "proj:code": "EPSG:32633",
        "proj:transform": [10, 0, 0, 0, -10, 0],
        "geo_platform:source_sha256": "ab",
        "processing:lineage": "converted",
    },
    "links": [],
    "assets": {
        "analysis": {
            "href": "a.tif",
            "type": "image/tiff; application=geotiff",
            "roles": ["data"],
            "file:checksum": "1220ab",
            "bands": [BAND],
        },
        "thumbnail": {
            "href": "t.png",
            "type": "image/png",
            "roles": ["thumbnail"],
            "file:checksum": "1220cd",
        },
    },
}


def test_a_complete_raster_scores_100():
    assert item_kind(COMPLETE_RASTER) == "raster"
    assert completeness(COMPLETE_RASTER) == (100, [])


def test_known_raster_gaps_give_a_known_score():
    item = copy.deepcopy(COMPLETE_RASTER)
    props = item["properties"]
    props["geo_platform:datetime_source"] = "blob_last_modified"  # weight 3
    props["license"] = "other"  # weight 2
    del item["assets"]["analysis"]["bands"][0]["description"]  # weight 2
    score, missing = completeness(item)
    assert score == round(100 * (21 - 7) / 21) == 67
    assert missing == [
        "datetime from the data's metadata (now: blob_last_modified)",
        "license (now: 'other')",
        "band descriptions (0/1 bands)",
    ]
    # The licence may come from the collection, and "other" with a licence link is complete.
    inherited = copy.deepcopy(item)
    del inherited["properties"]["license"]
    assert completeness(inherited, {"license": "MIT"})[0] == round(100 * 16 / 21)
    item["links"].append({"rel": "license", "href": "https://example.org/licence"})
    assert "license (now: 'other')" not in completeness(item)[1]


def test_units_are_not_asked_of_8bit_pictures_or_classes():
    item = copy.deepcopy(COMPLETE_RASTER)
    band = item["assets"]["analysis"]["bands"][0]
    del band["unit"]
    assert "units (0/1 bands)" in completeness(item)[1]
    band["data_type"] = "uint8"
    assert not any(m.startswith("units") for m in completeness(item)[1])
    band["data_type"] = "int16"
    item["properties"]["geo_platform:categorical"] = True
    assert not any(m.startswith("units") for m in completeness(item)[1])


def test_vector_item_gaps():
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": "roads",
        "collection": "c",
        "geometry": None,
        "bbox": None,
        "properties": {
            "datetime": "2024-01-01T00:00:00Z",
            "geo_platform:datetime_source": "fallback",
            "proj:code": "EPSG:4326",
            "table:row_count": 3,
            "table:columns": [
                {"name": "fid", "type": "bigint", "description": "id"},
                {"name": "name", "type": "text"},
                {"name": "geom", "type": "geometry"},
            ],
        },
        "links": [],
        "assets": {
            "postgis": {"href": "postgresql://h/db?table=geo.roads", "roles": ["data"]},
            "geoparquet": {"href": "r.parquet", "roles": ["data"], "file:size": 10},
        },
    }
    score, missing = completeness(item)
    # vector weights: 16; missing datetime 3, license 2, providers 2, geometry 2, title 1,
    # provenance 1, checksum 1, column descriptions 1 -> 3/16
    assert score == round(100 * 3 / 16)
    assert "geometry and bbox" in missing and "file:checksum on geoparquet" in missing
    assert "column descriptions (1/2 columns)" in missing
    assert "provenance (geo_platform:source_sha256, processing:lineage)" in missing


def test_a_real_built_raster_item_stores_its_score(tmp_path: Path):
    src = write_tif(tmp_path / "rgb.tif", gradient(3, 48, 48))
    out = tmp_path / "out"
    out.mkdir()
    result = build_cog_tiers(src, out, RasterOptions(), name="t/rgb.tif")
    item = build_raster_item(
        result,
        item_id="rgb.tif",
        collection_id="t",
        hrefs={"analysis": "a.tif", "thumbnail": "t.png"},
        provenance=Provenance("t/rgb.tif", "etag", source_sha256="ab" * 32),
    ).to_dict(include_self_link=False)
    with_completeness(item)
    props = item["properties"]
    # A synthesized GeoTIFF has no date tag, licence, providers, title, band descriptions
    # or sensor (its RGB bands make it imagery); uint8, so no units are asked.
    assert props[MISSING_PROPERTY] == [
        "datetime from the data's metadata (now: processing_time)",
        "license",
        "providers",
        "title or description",
        "band descriptions (0/3 bands)",
        "platform/instruments",
    ]
    assert props[COMPLETENESS_PROPERTY] == round(100 * (21 - 11) / 21)
    validate_stac(item)  # the stored properties keep the item valid
    # Recomputing ignores the stored properties.
    assert completeness(item)[0] == props[COMPLETENESS_PROPERTY]


def test_an_empty_item_scores_only_the_vacuous_checksum_criterion():
    """Kind 'other': the eight criteria for every item apply (weight 14). With no assets, no
    file lacks a checksum (weight 1): round(100 * 1 / 14) = 7, and the other seven are missing."""
    item = with_completeness({"type": "Feature", "properties": {}, "assets": {}})
    props = item["properties"]
    assert item_kind(item) == "other"
    assert props[COMPLETENESS_PROPERTY] == 7 and isinstance(props[COMPLETENESS_PROPERTY], int)
    assert props[MISSING_PROPERTY] == [
        "datetime",
        "license",
        "providers",
        "geometry and bbox",
        "CRS (proj:code)",
        "title or description",
        "provenance (geo_platform:source_sha256, processing:lineage)",
    ]
