"""Band-combination renders: right bands for known layouts, and rio-tiler (titiler's engine)
renders them from a real multispectral COG."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pystac
import pytest
import rasterio
from pystac.extensions.render import Render

from geo_platform.lib.errors import ValidationError
from geo_platform.lib.raster.cog import build_cog_tiers
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.stac.raster_item import build_raster_item
from geo_platform.lib.stac.render import (
    LEGACY_RENDERS_PROPERTY,
    RENDER_EXTENSION,
    RENDERS_PROPERTY,
    apply_renders,
    band_roles,
    item_renders,
    render_entries,
    render_links,
)
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.types import Provenance
from geo_platform_tests.lib.raster.synth import gradient, write_tif


def _item(tmp_path: Path, descriptions: list[str], dtype: str = "uint16") -> dict:
    data = (gradient(len(descriptions), 64, 64).astype("float64") * 40).astype(dtype)
    src = write_tif(tmp_path / "ms.tif", data)
    with rasterio.open(src, "r+") as ds:
        for i, d in enumerate(descriptions, start=1):
            ds.set_band_description(i, d)
    out = tmp_path / "out"
    out.mkdir()
    result = build_cog_tiers(src, out, RasterOptions(tiers=("analysis",)), name="t/ms.tif")
    hrefs = {"analysis": str(out / "analysis.tif")}
    item = build_raster_item(
        result,
        item_id="ms.tif",
        collection_id="t",
        hrefs=hrefs,
        provenance=Provenance("t/ms.tif", "e"),
    )
    return item.to_dict(include_self_link=False)


def test_four_band_imagery_gets_true_false_colour_and_ndvi(tmp_path):
    item = _item(tmp_path, ["blue", "green", "red", "nir"])
    assert band_roles(item) == {"blue": 1, "green": 2, "red": 3, "nir": 4}
    renders = render_entries(item)
    assert set(renders) == {"true-color", "false-color", "ndvi", "ndwi"}
    assert renders["true-color"]["expression"] == "b3;b2;b1"
    assert renders["false-color"]["expression"] == "b4;b3;b2"
    assert renders["ndvi"] == {
        "title": "NDVI (vegetation)",
        "assets": ["analysis"],
        "expression": "(b4-b3)/(b4+b3)",
        "rescale": [[-1.0, 1.0]],
        "colormap_name": "rdylgn",
    }
    low, high = renders["true-color"]["rescale"][0]
    assert 0 <= low < high <= 255 * 40  # a stretch from the band statistics, shared
    assert len({tuple(r) for r in renders["true-color"]["rescale"]}) == 1
    for entry in renders.values():
        Render(entry)  # the render extension's own model accepts every entry
        assert Render(entry).assets == ["analysis"]
    apply_renders(item, renders)
    assert item["properties"]["renders"] == renders  # the render extension's field
    assert RENDERS_PROPERTY == "renders" and LEGACY_RENDERS_PROPERTY not in item["properties"]
    assert RENDER_EXTENSION in item["stac_extensions"]
    assert RENDER_EXTENSION in validate_stac(item)  # checked against the vendored schema
    assert pystac.Item.from_dict(item).ext.has("render")  # pystac sees the extension
    assert item_renders(item) == renders


def test_the_render_schema_is_enforced_offline(tmp_path):
    """The vendored render schema really runs: an entry without ``assets`` or with a
    malformed ``rescale`` is refused."""
    item = apply_renders(_item(tmp_path, ["blue", "green", "red", "nir"]))
    validate_stac(item)
    no_assets = json.loads(json.dumps(item))
    del no_assets["properties"]["renders"]["ndvi"]["assets"]
    with pytest.raises(ValidationError, match="render"):
        validate_stac(no_assets)
    bad_rescale = json.loads(json.dumps(item))
    bad_rescale["properties"]["renders"]["ndvi"]["rescale"] = ["-1,1"]
    with pytest.raises(ValidationError, match="render"):
        validate_stac(bad_rescale)


def test_items_published_before_keep_their_renders_readable(tmp_path):
    item = _item(tmp_path, ["blue", "green", "red", "nir"])
    old = {"ndvi": render_entries(item)["ndvi"]}
    item["properties"][LEGACY_RENDERS_PROPERTY] = old
    assert item_renders(item) == old
    apply_renders(item)  # republished: moved to the extension's field
    assert LEGACY_RENDERS_PROPERTY not in item["properties"]
    assert item_renders(item) == item["properties"]["renders"]


def test_rio_tiler_renders_every_entry_from_the_cog(tmp_path):
    STACReader = pytest.importorskip("rio_tiler.io").STACReader
    item = _item(tmp_path, ["blue", "green", "red", "nir"])
    renders = render_entries(item)
    with STACReader(None, item=pystac.Item.from_dict(item)) as reader:
        for name, entry in renders.items():
            img = reader.preview(
                assets=entry["assets"], expression=entry["expression"], max_size=64
            )
            assert img.count == (3 if name.endswith("color") else 1), name
            if name == "ndvi":
                values = img.array.compressed()
                assert values.size and -1.0 <= values.min() <= values.max() <= 1.0
                with rasterio.open(tmp_path / "out" / "analysis.tif") as ds:
                    red, nir = ds.read(3).astype("float64"), ds.read(4).astype("float64")
                expected = (nir - red) / (nir + red)
                assert np.nanmean(values) == pytest.approx(np.nanmean(expected), abs=0.05)


def test_sentinel2_band_codes_need_the_platform(tmp_path):
    item = _item(tmp_path, ["B02", "B03", "B04", "B08", "B11", "B12"])
    assert render_entries(item).keys() == {"bands-1-2-3"}  # codes alone mean nothing
    item["properties"]["platform"] = "sentinel-2a"
    renders = render_entries(item)
    assert renders["true-color"]["expression"] == "b3;b2;b1"
    assert renders["swir"]["expression"] == "b6;b4;b3"
    assert renders["nbr"]["expression"] == "(b4-b6)/(b4+b6)"


def test_single_bands_and_classes(tmp_path):
    dem = _item(tmp_path, ["elevation"], dtype="float32")
    assert list(render_entries(dem)) == ["colormap"]
    assert render_entries(dem)["colormap"]["colormap_name"] == "viridis"
    dem["properties"]["geo_platform:categorical"] = True
    assert render_entries(dem) == {}
    assert render_entries({"properties": {}, "assets": {}}) == {}


def test_links_carry_the_render_parameters():
    entry = {
        "title": "x",
        "assets": ["analysis"],
        "expression": "b3;b2;b1",
        "rescale": [[0, 3000]] * 3,
        "nodata": 0,
    }
    links = render_links("http://127.0.0.1:8082/", "rasters-s2", "a b.tif", {"tc": entry})
    url = urlsplit(links["tc"])
    assert url.path == "/collections/rasters-s2/items/a%20b.tif/WebMercatorQuad/map.html"
    query = parse_qs(url.query)
    assert query == {
        "assets": ["analysis"],
        "expression": ["b3;b2;b1"],
        "nodata": ["0"],
        "rescale": ["0,3000"] * 3,
    }
