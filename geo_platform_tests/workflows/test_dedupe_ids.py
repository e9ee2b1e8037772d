"""Pointer items of a raster duplicate get one id per original item (tiles, variables)."""

from __future__ import annotations

from geo_platform.lib import naming
from geo_platform.lib.stac_ext import SOURCE_BLOB
from geo_platform.workflows.dedupe import raster_item_ids


def _item(item_id: str, source: str) -> dict:
    return {"id": item_id, "properties": {SOURCE_BLOB: source}}


def test_single_item_original_gives_the_duplicates_own_id() -> None:
    name = raster_item_ids("b/copy.tif")
    original = _item(naming.item_id("a/dem.tif"), "a/dem.tif")
    assert name(original, 1) == naming.item_id("b/copy.tif")


def test_tiles_and_variables_keep_their_suffix() -> None:
    name = raster_item_ids("b/copy.nc")
    base = naming.item_id("a/ocean.nc")
    ids = {
        name(_item(base + "-sst", "a/ocean.nc"), 2),
        name(_item(base + "-chl", "a/ocean.nc"), 2),
        name(_item(base + "_r0_c1", "a/ocean.nc"), 2),
    }
    own = naming.item_id("b/copy.nc")
    assert ids == {own + "-sst", own + "-chl", own + "_r0_c1"}


def test_an_original_without_provenance_falls_back_to_the_own_id() -> None:
    assert raster_item_ids("b/x.tif")({"id": "whatever"}, 1) == naming.item_id("b/x.tif")
