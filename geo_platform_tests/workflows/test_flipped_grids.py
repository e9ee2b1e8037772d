"""A south-up grid (positive row step) or a mirrored one (negative column step) publishes
north-up: its rows or columns reversed, every value, nodata, palette and mask kept, so that the
tiers and the thumbnail show the map as the north-up original does (``lib.raster.flipped``).
Checked on the local store and on Azurite, with rio-cogeo and rasterio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rio_cogeo.cogeo import cog_validate

from geo_platform.lib import naming
from geo_platform_tests.fixtures.helpers import published_raster
from geo_platform_tests.workflows.test_publish_gcps import store  # noqa: F401  (fixture)

NORTH_UP = Affine(30.0, 0, 500_000, 0, -30.0, 5_200_000)
WIDTH, HEIGHT = 300, 200


def _grid() -> np.ndarray:
    """uint8 values that differ along both axes, nodata (0) in a corner."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    data = ((rows * 7 + cols * 3) % 250 + 1).astype(np.uint8)
    data[:20, :30] = 0
    return data


def _write(path: Path, data: np.ndarray, transform: Affine, palette: bool = False) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=WIDTH, height=HEIGHT, count=1,
                       dtype="uint8", crs="EPSG:32632", transform=transform, nodata=0,
                       tiled=True, blockxsize=128, blockysize=128) as dst:  # fmt: skip
        dst.write(data, 1)
        if palette:
            dst.write_colormap(1, {i: (i, 255 - i, (i * 5) % 256, 255) for i in range(256)})
    return path


SOUTH = 5_200_000 - 30 * HEIGHT
EAST = 500_000 + 30 * WIDTH
FLIPS = {
    # name: (the north-up grid as stored, its geotransform)
    "south_up": (lambda d: d[::-1, :], Affine(30.0, 0, 500_000, 0, 30.0, SOUTH)),
    "east_west": (lambda d: d[:, ::-1], Affine(-30.0, 0, EAST, 0, -30.0, 5_200_000)),
    "both": (lambda d: d[::-1, ::-1], Affine(-30.0, 0, EAST, 0, 30.0, SOUTH)),
}


@pytest.mark.parametrize("flip", sorted(FLIPS))
def test_a_flipped_grid_publishes_north_up_with_every_value(
    store,  # noqa: F811
    pgstac_lookups,
    bronze_folder,
    tmp_path: Path,
    flip: str,
) -> None:
    north = _grid()
    stored, transform = FLIPS[flip]
    reference = _write(tmp_path / "reference.tif", north, NORTH_UP, palette=True)
    path = _write(tmp_path / f"{flip}.tif", np.ascontiguousarray(stored(north)), transform,
                  palette=True)  # fmt: skip
    with rasterio.open(path) as src, rasterio.open(reference) as ref:
        edges = [
            sorted(b[i] for i in axis)
            for b in (src.bounds, ref.bounds)
            for axis in ((0, 2), (1, 3))
        ]
        assert edges[:2] == edges[2:] and (src.read(1) != ref.read(1)).any()
    blob, out = published_raster(store, pgstac_lookups, bronze_folder, path)
    _, ref_out = published_raster(store, pgstac_lookups, bronze_folder, reference)
    blobs, _, silver = store
    assert out.item["bbox"] == pytest.approx(ref_out.item["bbox"])
    assert "reversed, every value unchanged" in str(out.item["properties"])
    with blobs.local_copy(silver, f"{naming.silver_prefix(blob)}/analysis.tif") as local:
        assert cog_validate(str(local))[0]
        with rasterio.open(local) as cog:
            assert cog.transform == NORTH_UP
            assert np.array_equal(cog.read(1), north)
            assert cog.nodata == 0 and cog.colormap(1)[7] == (7, 248, 35, 255)
    thumbs = []
    for b in (blob, naming.blob_for_partition_key(f"{bronze_folder}/reference.tif")):
        with blobs.local_copy(silver, f"{naming.silver_prefix(b)}/thumbnail.png") as local:
            thumbs.append(rasterio.open(local).read())
    assert np.array_equal(thumbs[0], thumbs[1])  # the same picture, not upside down


def test_a_north_up_grid_is_its_own_source(
    store,  # noqa: F811
    pgstac_lookups,
    bronze_folder,
    tmp_path,
) -> None:
    path = _write(tmp_path / "plain.tif", _grid(), NORTH_UP)
    _, out = published_raster(store, pgstac_lookups, bronze_folder, path)
    assert "turned north-up" not in str(out.item["properties"])
