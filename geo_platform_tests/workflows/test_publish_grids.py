"""Grid formats of surveying and GIS tools the platform used to skip as "unknown extension":
Surfer (binary 6 and 7, ASCII; ``.grd``), SAGA (``.sdat`` with its ``.sgrd`` header), Idrisi
(``.rst`` with its ``.rdc``) and XYZ grids (``.xyz``: German, Dutch and Swiss DEMs come so,
with a ``.prj`` at best). Each is written by GDAL, dropped in bronze with the companions GDAL
wrote (on the local store and on Azurite, where the companions are fetched as blobs), and must
publish a lossless COG in the same CRS, pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from geo_platform.lib import bronze, naming
from geo_platform.lib.content import content_kind, sniff_head
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.workflows.publish_raster import RasterPublished, RasterSettings, publish_raster
from geo_platform_tests.workflows.test_publish_gcps import store  # noqa: F401  (fixture)

GRIDS = [  # (driver, file name, what content sniffing calls it without its extension)
    ("GSBG", "dem6.grd", "raster"),
    ("GS7BG", "dem7.grd", "raster"),
    ("GSAG", "dema.grd", "raster"),
    ("SAGA", "dem.sdat", None),
    ("RST", "dem.rst", None),
    ("XYZ", "dem.xyz", None),
]


@pytest.mark.parametrize(("driver", "name", "by_content"), GRIDS)
def test_grid_formats_publish_with_their_companions(
    store,  # noqa: F811  (the fixture)
    pgstac_lookups,
    bronze_folder,
    tmp_path,
    driver,
    name,
    by_content,
):
    blob_store, bronze_container, silver = store
    folder = tmp_path / "src"
    folder.mkdir()
    data = (np.arange(24 * 32, dtype="float32").reshape(1, 24, 32) / 8 + 100).astype("float32")
    profile = {"width": 32, "height": 24, "count": 1, "dtype": "float32", "crs": "EPSG:32631",
               "transform": from_origin(600000, 5800000, 25, 25)}  # fmt: skip
    with rasterio.open(folder / name, "w", driver=driver, **profile) as dst:
        dst.write(data)
    if driver == "XYZ":  # the format has no CRS: a .prj beside it, as ESRI tools write one
        (folder / "dem.prj").write_text(
            rasterio.crs.CRS.from_epsg(32631).to_wkt(version="WKT1_ESRI")
        )
    files = sorted(p.name for p in folder.iterdir())
    assert bronze.classify(f"x/{name}", 10).kind == "raster"
    for companion in set(files) - {name}:  # headers, .prj, .aux.xml: fetched with the grid
        assert bronze.classify(f"x/{companion}", 10).kind == "sidecar", companion
    head = (folder / name).read_bytes()[:65536]
    if by_content is not None:  # the same file without its extension is recognised too
        assert content_kind(head, "grid", len(head))[0] == by_content, sniff_head(head)
    for f in files:
        blob_store.upload_file(bronze_container, f"{bronze_folder}/{f}", folder / f)

    blob = f"{bronze_folder}/{name}"
    settings = RasterSettings(bronze_container=bronze_container, silver_container=silver)
    out = publish_raster(blob_store, pgstac_lookups, settings, blob, run_id="r")

    assert isinstance(out, RasterPublished)
    validate_stac(out.item)
    assert out.item["properties"]["geo_platform:source_driver"] == driver
    with blob_store.local_copy(silver, f"{naming.silver_prefix(blob)}/analysis.tif") as cog:
        assert cog_validate(str(cog))[0]
        with rasterio.open(cog) as ds:
            assert ds.crs.to_epsg() == 32631
            assert ds.transform.almost_equals(profile["transform"])
            assert np.array_equal(ds.read(), data)
