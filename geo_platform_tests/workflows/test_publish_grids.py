"""Grid formats of surveying and GIS tools the platform used to skip as "unknown extension":
Surfer (binary 6 and 7, ASCII; ``.grd``), SAGA (``.sdat`` with its ``.sgrd`` header), Idrisi
(``.rst`` with its ``.rdc``), ER Mapper (``.ers`` with its extensionless data file) and XYZ
grids (``.xyz``: German, Dutch and Swiss DEMs come so, with a ``.prj`` at best). Each is
written by GDAL, dropped in bronze with the companions GDAL wrote (on the local store and on
Azurite, where the companions are fetched as blobs), and must publish a lossless COG in the
same CRS, pixel for pixel."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import box

from geo_platform.lib import bronze, naming
from geo_platform.lib.content import content_kind, sniff_head
from geo_platform.lib.errors import UnsupportedFormatError
from geo_platform.lib.file_kinds import listed_roles
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.types import BlobInfo
from geo_platform.workflows.publish_raster import RasterPublished, RasterSettings, publish_raster
from geo_platform_tests.workflows.test_publish_gcps import store  # noqa: F401  (fixture)


def publish_folder(where, lookups, bronze_folder: str, folder: Path, name: str, driver: str) -> str:
    """Upload every file of ``folder`` (a raster and its companions) into ``bronze_folder`` of
    ``where`` (store, bronze, silver), publish ``name`` and check its item; the blob."""
    blobs, bronze_container, silver = where
    for f in sorted(p.name for p in folder.iterdir()):
        blobs.upload_file(bronze_container, f"{bronze_folder}/{f}", folder / f)
    blob = f"{bronze_folder}/{name}"
    settings = RasterSettings(bronze_container=bronze_container, silver_container=silver)
    out = publish_raster(blobs, lookups, settings, blob, run_id="r")
    assert isinstance(out, RasterPublished)
    validate_stac(out.item)
    assert out.item["properties"]["geo_platform:source_driver"] == driver
    return blob


GRIDS = [  # (driver, file name, what content sniffing calls it without its extension)
    ("GSBG", "dem6.grd", "raster"),
    ("GS7BG", "dem7.grd", "raster"),
    ("GSAG", "dema.grd", "raster"),
    ("SAGA", "dem.sdat", None),
    ("RST", "dem.rst", None),
    ("XYZ", "dem.xyz", None),
    ("EHdr", "dem.flt", None),  # ESRI GridFloat, beside its .hdr
    ("ERS", "dem.ers", None),  # ER Mapper: the header, beside its extensionless data file "dem"
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
    blob_store, _bronze, silver = store
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
    roles = listed_roles(f"x/{f}" for f in files)
    for companion in set(files) - {name}:  # headers, .prj, .aux.xml: fetched with the grid
        listed = bronze.classify_listed(BlobInfo(f"x/{companion}", 10, "e"), roles)
        assert listed.kind == "sidecar", companion
    head = (folder / name).read_bytes()[:65536]
    if by_content is not None:  # the same file without its extension is recognised too
        assert content_kind(head, "grid", len(head))[0] == by_content, sniff_head(head)
    blob = publish_folder(store, pgstac_lookups, bronze_folder, folder, name, driver)
    with blob_store.local_copy(silver, f"{naming.silver_prefix(blob)}/analysis.tif") as cog:
        assert cog_validate(str(cog))[0]
        with rasterio.open(cog) as ds:
            assert ds.crs.to_epsg() == 32631
            assert ds.transform.almost_equals(profile["transform"])
            assert np.array_equal(ds.read(), data)


def _tiles(path: Path, vector: bool = False) -> Path:
    if vector:  # Mapbox Vector Tiles: a rendering of data, not the data
        frame = gpd.GeoDataFrame({"k": [1]}, geometry=[box(5, 50, 6, 51)], crs="EPSG:4326")
        pyogrio.write_dataframe(frame, path, driver="MBTiles", dataset_options={"MAXZOOM": 3})
        return path
    res = 156543.03392804097 / 2**8  # zoom 8: the tiles' own resolution, nothing resampled
    data = np.random.default_rng(2).integers(1, 255, (3, 256, 256)).astype("uint8")
    with rasterio.open(path, "w", driver="MBTiles", width=256, height=256, count=3,
                       dtype="uint8", crs="EPSG:3857",
                       transform=from_origin(0, 256 * res, res, res)) as dst:  # fmt: skip
        dst.write(data)
    return path


def test_raster_tiles_publish_and_vector_tiles_are_refused(blob_store, pgstac_lookups,
                                                            bronze_folder, tmp_path):  # fmt: skip
    raster = _tiles(tmp_path / "basemap.mbtiles")
    head = raster.read_bytes()[:65536]
    assert sniff_head(head) == "MBTiles" and content_kind(head)[0] == "raster"
    blob = f"{bronze_folder}/basemap.mbtiles"
    blob_store.upload_file("bronze", blob, raster)
    out = publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    assert isinstance(out, RasterPublished)
    validate_stac(out.item)
    assert out.item["properties"]["geo_platform:source_driver"] == "MBTiles"
    cog = Path(blob_store.root) / "silver" / naming.silver_prefix(blob) / "analysis.tif"
    assert cog_validate(str(cog))[0]
    with rasterio.open(cog) as ds, rasterio.open(raster) as src:
        assert ds.crs.to_epsg() == 3857 and ds.transform.almost_equals(src.transform)
        assert np.array_equal(ds.read(indexes=[1, 2, 3]), src.read(indexes=[1, 2, 3]))

    vector = _tiles(tmp_path / "streets.mbtiles", vector=True)
    with pytest.raises(UnsupportedFormatError) as err:
        inventory_file(vector, "x/streets.mbtiles", "raster")
    assert "MBTiles of vector tiles" in str(err.value) and "x/streets.mbtiles" in str(err.value)
