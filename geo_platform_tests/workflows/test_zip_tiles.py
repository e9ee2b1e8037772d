"""A zip of raster tiles publishes as one raster, mosaicked in place (``lib/raster/zip_mosaic``):
real GeoTIFF tiles cut from one image, published through ``publish_raster`` on the local store
and on Azurite, checked pixel for pixel, with rio-cogeo and against the STAC schemas."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_validate

from geo_platform.lib import naming
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.raster.tiling import TilingOptions
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.workflows.publish_multidim import CubePublished
from geo_platform.workflows.publish_raster import RasterPublished, RasterSettings, publish_raster
from geo_platform.workflows.publish_tiled import TiledPublished
from geo_platform_tests.workflows.test_publish_gcps import store  # noqa: F401  (fixture)

W, H = 600, 400  # the whole image, cut in 2 x 2 tiles of 300 x 200
ORIGIN = (500_000.0, 5_300_000.0)


def _image() -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([x % 251, y % 241, (x + y) % 239]).astype("uint8")


def _tiles(folder: Path, skip: tuple[int, int] | None = None, shift: float = 0.0,
           crs_of: dict[tuple[int, int], int] | None = None) -> list[Path]:  # fmt: skip
    data, out = _image(), []
    for row in range(2):
        for col in range(2):
            if (row, col) == skip:
                continue
            window = Window(col * 300, row * 200, 300, 200)
            left = ORIGIN[0] + col * 300 * 10 + (shift if (row, col) == (1, 1) else 0)
            top = ORIGIN[1] - row * 200 * 10
            epsg = (crs_of or {}).get((row, col), 32632)
            path = folder / f"tile_r{row}c{col}.tif"
            profile = {"driver": "GTiff", "width": 300, "height": 200, "count": 3,
                       "dtype": "uint8", "crs": CRS.from_epsg(epsg),
                       "transform": from_origin(left, top, 10, 10)}  # fmt: skip
            with rasterio.open(path, "w", **profile) as dst:
                dst.write(data[:, window.row_off : window.row_off + 200,
                               window.col_off : window.col_off + 300])  # fmt: skip
            out.append(path)
    return out


def _zip(path: Path, tiles: list[Path]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for tile in tiles:
            archive.write(tile, f"ortho/{tile.name}")
        archive.writestr("ortho/README.txt", "flown 2019, 10 cm")
    return path


def test_tiles_in_a_zip_publish_as_one_raster(store, pgstac_lookups, bronze_folder, tmp_path):  # noqa: F811
    store, bronze, silver = store
    blob = f"{bronze_folder}/ortho.zip"
    store.upload_file(bronze, blob, _zip(tmp_path / "ortho.zip", _tiles(tmp_path)))
    settings = RasterSettings(bronze_container=bronze, silver_container=silver)

    out = publish_raster(store, pgstac_lookups, settings, blob, run_id="run-tiles")

    assert isinstance(out, RasterPublished)
    validate_stac(out.item)
    props = out.item["properties"]
    assert "mosaicked from the 4 tiles in the zip" in props["processing:lineage"]
    assert props["geo_platform:source_driver"] == "GTiff"
    with store.local_copy(silver, f"{naming.silver_prefix(blob)}/analysis.tif") as local:
        assert cog_validate(str(local))[0]
        with rasterio.open(local) as cog:
            assert (cog.width, cog.height, cog.crs) == (W, H, CRS.from_epsg(32632))
            assert cog.transform == from_origin(*ORIGIN, 10, 10)
            assert np.array_equal(cog.read(), _image())  # every pixel where it belongs


def test_a_missing_tile_is_a_transparent_gap(blob_store, pgstac_lookups, bronze_folder, tmp_path):
    blob = f"{bronze_folder}/three.zip"
    blob_store.upload_file("bronze", blob, _zip(tmp_path / "t.zip", _tiles(tmp_path, (0, 1))))
    publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    path = Path(blob_store.root) / "silver" / naming.silver_prefix(blob) / "analysis.tif"
    with rasterio.open(path) as cog:
        mask = cog.dataset_mask()
        assert (cog.width, cog.height) == (W, H)
        assert (mask[:200, 300:] == 0).all() and (mask[:200, :300] == 255).all()
        assert (mask[200:] == 255).all()
        assert np.array_equal(cog.read()[:, 200:, :], _image()[:, 200:, :])


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"crs_of": {(1, 1): 32633}}, r"'ortho/tile_r1c1.tif': its CRS is EPSG:32633"),
        ({"shift": 5.0}, r"'ortho/tile_r1c1.tif' is not aligned .*off by 0.50 pixel"),
    ],
)
def test_tiles_of_different_grids_publish_one_item_each(
    blob_store, pgstac_lookups, bronze_folder, tmp_path, kw, match
):
    """Not one mosaic: each tile is its own item (``zip_rasters``), and each item's lineage
    says why the zip was not mosaicked."""
    blob = f"{bronze_folder}/mixed.zip"
    blob_store.upload_file("bronze", blob, _zip(tmp_path / "m.zip", _tiles(tmp_path, **kw)))
    out = publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    assert isinstance(out, CubePublished) and len(out.item_ids) == 4
    for variable in out.variables:
        lineage = variable.item["properties"]["processing:lineage"]
        assert re.search(r"one of 4 rasters in the zip that are not one mosaic \(.*" + match,
                         lineage), lineage  # fmt: skip


def test_the_bronze_stage_describes_the_mosaic(tmp_path: Path) -> None:
    path = _zip(tmp_path / "ortho.zip", _tiles(tmp_path))
    inv = inventory_file(path, "in/ortho.zip", "raster")
    assert (inv.driver, inv.width, inv.height, inv.bands, inv.crs) == (
        "GTiff",
        W,
        H,
        3,
        "EPSG:32632",
    )


def test_a_large_mosaic_is_tiled_from_the_zip(blob_store, pgstac_lookups, bronze_folder, tmp_path):
    """Above the tiling threshold the mosaic becomes COG tiles + MosaicJSON, read in place."""
    blob = f"{bronze_folder}/big.zip"
    blob_store.upload_file("bronze", blob, _zip(tmp_path / "b.zip", _tiles(tmp_path)))
    tiling = TilingOptions(threshold_pixels=100_000, tile_size=256, blocksize=128, workers=1)
    settings = RasterSettings(tiling=tiling)
    out = publish_raster(blob_store, pgstac_lookups, settings, blob, run_id="r")
    assert isinstance(out, TiledPublished) and len(out.item_ids) >= 4
    silver = Path(blob_store.root) / "silver" / naming.silver_prefix(blob)
    assert (silver / "mosaic.json").is_file()
    tiles = sorted((silver / "tiles").glob("*.tif"))
    assert tiles and all(cog_validate(str(t))[0] for t in tiles)
    with rasterio.open(tiles[0]) as first:
        row, col = rasterio.transform.rowcol(from_origin(*ORIGIN, 10, 10), *first.xy(0, 0))
        expected = _image()[:, row : row + first.height, col : col + first.width]
        assert np.array_equal(first.read(), expected)


def _palette_tiles(folder: Path, second_red: int = 255) -> list[Path]:
    out = []
    for col in range(2):
        path = folder / f"landcover_{col}.tif"
        profile = {"driver": "GTiff", "width": 100, "height": 80, "count": 1, "dtype": "uint8",
                   "crs": CRS.from_epsg(32632),
                   "transform": from_origin(ORIGIN[0] + col * 1000, ORIGIN[1], 10, 10)}  # fmt: skip
        with rasterio.open(path, "w", **profile) as dst:
            dst.write((np.arange(100 * 80).reshape(1, 80, 100) % 4).astype("uint8"))
            red = second_red if col == 1 else 255
            dst.write_colormap(1, {0: (red, 0, 0, 255), 1: (0, 255, 0, 255),
                                   2: (0, 0, 255, 255), 3: (255, 255, 0, 255)})  # fmt: skip
        out.append(path)
    return out


def test_palette_tiles_keep_their_color_table(blob_store, pgstac_lookups, bronze_folder, tmp_path):
    blob = f"{bronze_folder}/landcover.zip"
    blob_store.upload_file("bronze", blob, _zip(tmp_path / "l.zip", _palette_tiles(tmp_path)))
    publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    path = Path(blob_store.root) / "silver" / naming.silver_prefix(blob) / "analysis.tif"
    with rasterio.open(path) as cog:
        assert cog.width == 200 and cog.colorinterp[0].name == "palette"
        assert cog.colormap(1)[0] == (255, 0, 0, 255) and cog.colormap(1)[3] == (255, 255, 0, 255)
    other = tmp_path / "other"
    other.mkdir()
    blob = f"{bronze_folder}/two_palettes.zip"
    blob_store.upload_file("bronze", blob, _zip(tmp_path / "p.zip", _palette_tiles(other, 9)))
    out = publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    assert isinstance(out, CubePublished) and len(out.variables) == 2  # not one mosaic
    assert (
        "landcover_1.tif': its color table differs"
        in (out.variables[1].item["properties"]["processing:lineage"])
    )
    reds = []
    for variable in out.variables:  # each raster keeps its own color table
        folder = Path(blob_store.root) / "silver" / naming.silver_prefix(blob) / variable.item_id
        with rasterio.open(folder / "analysis.tif") as cog:
            reds.append(cog.colormap(1)[0][0])
    assert sorted(reds) == [9, 255]
