"""``lon_wrap.lon_wrapped``: which grids move into -180..180 and how, on rasters synthesized
here (the publication of such grids: ``workflows/test_lon_wrap_grids.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from geo_platform.lib.raster.inspect import inspect_raster
from geo_platform.lib.raster.lon_wrap import lon_wrapped
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.rectify import Rectified
from geo_platform.lib.raster.source import raster_source


def _write(path: Path, transform: Affine, crs: str | None = "EPSG:4326", width: int = 36) -> Path:
    """A 2-band int16 raster, 18 rows, with band metadata and an internal mask."""
    data = np.arange(2 * 18 * width, dtype=np.int16).reshape(2, 18, width)
    mask = np.full((18, width), 255, np.uint8)
    mask[3:6, :4] = 0
    with rasterio.open(path, "w", driver="GTiff", width=width, height=18, count=2,
                       dtype="int16", crs=crs, transform=transform, nodata=-1) as dst:  # fmt: skip
        dst.write(data)
        dst.write_mask(mask)
        dst.scales, dst.offsets = (0.5, 2.0), (10.0, -3.0)
        dst.update_tags(source="model run 7")
        for band, (name, unit) in enumerate((("tas", "K"), ("pr", "mm")), start=1):
            dst.set_band_description(band, name)
            dst.set_band_unit(band, unit)
            dst.update_tags(band, level=str(band * 100))
    return path


def _wrapped(path: Path, out: Path, made: Rectified | None = None) -> Rectified | None:
    return lon_wrapped(inspect_raster(path, path.name), made, out)


def test_a_global_grid_is_rolled_keeping_values_mask_and_band_metadata(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    source = _write(tmp_path / "src" / "global.tif", Affine(10, 0, 0, 0, -10, 90))
    made = _wrapped(source, tmp_path / "out.vrt")  # the VRT away from its source: absolute
    assert made is not None and made.path == tmp_path / "out.vrt"
    assert made.how.startswith("longitudes 0..360 rolled to -180..180: the 18 columns east")
    assert made.crs == "dataset" and made.driver == "GTiff"
    with rasterio.open(source) as src, rasterio.open(made.path) as vrt:
        assert vrt.transform == Affine(10, 0, -180, 0, -10, 90)
        assert np.array_equal(vrt.read(), np.roll(src.read(), -18, axis=2))
        assert np.array_equal(vrt.dataset_mask(), np.roll(src.dataset_mask(), -18, axis=1))
        assert vrt.nodatavals == (-1, -1) and vrt.scales == (0.5, 2.0)
        assert vrt.offsets == (10.0, -3.0) and vrt.descriptions == ("tas", "pr")
        assert vrt.units == ("K", "mm") and vrt.tags(2)["level"] == "200"
        assert vrt.tags()["source"] == "model run 7"


def test_a_grid_wholly_east_of_180_only_moves(tmp_path: Path) -> None:
    source = _write(tmp_path / "east.tif", Affine(0.5, 0, 200, 0, -0.5, 30), width=10)
    made = _wrapped(source, tmp_path / "out.vrt")
    assert made is not None and "200..205 moved by -360 degrees to -160..-155" in made.how
    with rasterio.open(source) as src, rasterio.open(made.path) as vrt:
        assert vrt.transform == Affine(0.5, 0, -160, 0, -0.5, 30)
        assert np.array_equal(vrt.read(), src.read())


@pytest.mark.parametrize(
    ("transform", "crs", "why"),
    [
        (Affine(10, 0, -180, 0, -10, 90), "EPSG:4326", "in -180..180 already"),
        (Affine(10, 0, -175, 0, -10, 90), "EPSG:4326", "global, east edge half a pixel on"),
        (Affine(1, 0, 170, 0, -1, 10), "EPSG:4326", "across 180, centred on it: kept"),
        (Affine(10, 0, 0, 0, -10, 90), "EPSG:32633", "projected: metres, not longitudes"),
        (Affine(10, 0, 0, 0, -10, 90), "EPSG:4807", "geographic in grads"),
        (Affine(10, 1, 0, 0, -10, 90), "EPSG:4326", "rotated: left to the COG build"),
    ],
)
def test_other_grids_stay(tmp_path: Path, transform: Affine, crs: str, why: str) -> None:
    width = 20 if transform.c == 170 else 36
    source = _write(tmp_path / "grid.tif", transform, crs, width=width)
    assert _wrapped(source, tmp_path / "out.vrt") is None, why
    assert not (tmp_path / "out.vrt").exists()


def test_a_copy_made_before_is_wrapped_and_its_lineage_kept(tmp_path: Path) -> None:
    bronze = _write(tmp_path / "bronze.tif", Affine(10, 0, 0, 0, 10, -90))  # south-up
    copy = _write(tmp_path / "north-up.tif", Affine(10, 0, 0, 0, -10, 90))
    before = Rectified(copy, "turned north-up", "prj", "ENVI")
    made = _wrapped(bronze, tmp_path / "out.vrt", before)
    assert made is not None and made.crs == "prj" and made.driver == "ENVI"
    assert made.how.startswith("turned north-up; longitudes 0..360 rolled to -180..180")
    with rasterio.open(copy) as src, rasterio.open(made.path) as vrt:
        assert np.array_equal(vrt.read(), np.roll(src.read(), -18, axis=2))


def test_a_grid_across_180_mostly_east_moves_and_says_so(tmp_path: Path) -> None:
    source = _write(tmp_path / "across.tif", Affine(1, 0, 175, 0, -1, 10), width=25)
    made = _wrapped(source, tmp_path / "out.vrt")
    assert made is not None and "175..200 moved by -360 degrees to -185..-160" in made.how
    assert "its part west of 180 now lies beyond -180" in made.how


def test_a_crs_from_a_prj_sidecar_is_written_into_the_vrt(tmp_path: Path) -> None:
    source = _write(tmp_path / "noncrs.tif", Affine(10, 0, 0, 0, -10, 90), crs=None)
    source.with_suffix(".prj").write_text(
        rasterio.crs.CRS.from_epsg(4326).to_wkt(version="WKT1_ESRI")
    )
    info = inspect_raster(source, source.name)
    assert info.crs_source == "prj_sidecar"
    made = lon_wrapped(info, None, tmp_path / "out.vrt")
    assert made is not None and made.crs == "prj_sidecar"
    with rasterio.open(made.path) as vrt:
        assert vrt.crs.is_geographic and vrt.bounds == (-180, -90, 180, 90)


def test_raster_source_describes_the_wrapped_vrt(tmp_path: Path) -> None:
    """The hook in ``raster_source``: the bronze file's description, of the VRT."""
    source = _write(tmp_path / "noncrs.tif", Affine(10, 0, 0, 0, -10, 90), crs=None)
    source.with_suffix(".prj").write_text(
        rasterio.crs.CRS.from_epsg(4326).to_wkt(version="WKT1_ESRI")
    )
    (tmp_path / "work").mkdir()
    info, path = raster_source(source, tmp_path / "work", "bronze/noncrs.tif", RasterOptions())
    assert path == tmp_path / "work" / "lon-wrapped-source.vrt"
    assert info.driver == "GTiff" and info.file_size == source.stat().st_size
    assert info.rectified_from and "rolled to -180..180" in info.rectified_from
    assert info.bbox_4326 == pytest.approx((-180, -90, 180, 90))
