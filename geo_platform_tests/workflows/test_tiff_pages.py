"""A TIFF of several full-size pages publishes one COG and item per page (``lib/raster/
tiff_pages.py`` through ``publish_multidim``), on the local store and on Azurite, checked pixel
for pixel; a single-page TIFF with overviews and a mask stays one item. Before, every page but
the first was dropped without a word."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from geo_platform.lib import naming
from geo_platform.lib.raster.tiff_pages import page_count
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.workflows.publish_multidim import CubePublished
from geo_platform.workflows.publish_raster import RasterPublished, RasterSettings, publish_raster
from geo_platform_tests.workflows.test_publish_gcps import store  # noqa: F401  (fixture)

PAGES = [  # a scan at 10 m, and a 3-band map sheet of another size and type at 20 m
    (np.arange(40 * 50, dtype="uint32").reshape(1, 40, 50).astype("uint8"), 10),
    (np.random.default_rng(5).integers(0, 4000, (3, 20, 30)).astype("uint16"), 20),
]


def _pages(path: Path, bigtiff: str = "NO") -> Path:
    for i, (data, res) in enumerate(PAGES):
        profile = {"driver": "GTiff", "BIGTIFF": bigtiff, "count": data.shape[0],
                   "height": data.shape[1],
                   "width": data.shape[2], "dtype": data.dtype, "crs": "EPSG:32631",
                   "transform": from_origin(600_000, 5_800_000, res, res)}  # fmt: skip
        extra = {"APPEND_SUBDATASET": "YES"} if i else {}
        with rasterio.open(path, "w", **profile, **extra) as dst:
            dst.write(data)
    return path


def test_each_page_of_a_tiff_is_its_own_item(store, pgstac_lookups, bronze_folder, tmp_path):  # noqa: F811
    store, bronze, silver = store
    blob = f"{bronze_folder}/sheets.tif"
    store.upload_file(bronze, blob, _pages(tmp_path / "sheets.tif"))
    settings = RasterSettings(bronze_container=bronze, silver_container=silver)

    out = publish_raster(store, pgstac_lookups, settings, blob, run_id="run-pages")

    assert isinstance(out, CubePublished)
    assert out.item_ids == ("sheets.tif-page1", "sheets.tif-page2")
    assert out.metadata["multidimensional"] is False and out.driver == "GTiff pages"
    assert all(ok for ok, _ in out.checks.values()), out.checks
    prefix = naming.silver_prefix(blob)
    for n, (variable, (data, res)) in enumerate(zip(out.variables, PAGES, strict=True), 1):
        validate_stac(variable.item)
        lineage = variable.item["properties"]["processing:lineage"]
        assert f"page {n} of the 2 pages of the TIFF" in lineage
        with store.local_copy(silver, f"{prefix}/{variable.item_id}/analysis.tif") as local:
            assert cog_validate(str(local))[0]
            with rasterio.open(local) as cog:
                assert cog.res == (res, res) and cog.crs.to_epsg() == 32631
                assert np.array_equal(cog.read(), data)  # lossless, every band and type


def test_overviews_and_masks_are_not_pages(blob_store, pgstac_lookups, bronze_folder, tmp_path):
    path = tmp_path / "scene.tif"
    data, _ = PAGES[0]
    with rasterio.open(path, "w", driver="GTiff", count=1, height=40, width=50, dtype="uint8",
                       crs="EPSG:32631", transform=from_origin(600_000, 5_800_000, 10, 10),
                       ) as dst:  # fmt: skip
        dst.write(data)
        dst.write_mask(np.full((40, 50), 255, "uint8"))
    with rasterio.open(path, "r+") as dst:
        dst.build_overviews([2, 4], Resampling.average)
    assert page_count(path) == 1
    blob = f"{bronze_folder}/scene.tif"
    blob_store.upload_file("bronze", blob, path)
    out = publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    assert isinstance(out, RasterPublished) and out.item["id"] == "scene.tif"


def test_pages_are_counted_without_opening_one_page_tiffs(tmp_path):
    for bigtiff in ("NO", "YES"):  # classic and BigTIFF directories, walked in Python
        path = _pages(tmp_path / f"pages-{bigtiff}.tif", bigtiff)
        assert path.read_bytes()[2:3] == (b"+" if bigtiff == "YES" else b"*")
        assert page_count(path) == 2
    (tmp_path / "cut.tif").write_bytes(path.read_bytes()[:20])  # truncated: the opening reports
    assert page_count(tmp_path / "cut.tif") == 1
    assert page_count(tmp_path / "pages-NO.tif".replace(".tif", ".png")) == 1  # no such file
