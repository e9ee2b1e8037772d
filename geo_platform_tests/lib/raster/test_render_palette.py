"""A palette whose entries have alpha 0 (a transparent "no class", as ERDAS thematic rasters
and PNGs with several transparent indexes carry) is drawn transparent in the picture, as
``gdal_translate -expand rgba`` and QGIS draw it (raster sweep 2). A TIFF colour table has no
alpha, so the analysis COG loses it: the layout reads it from the source the COG was copied
from (``Layout.of(cog, palette_source=...)``). The picture VRT is built and written as the
visualization tier is (JPEG COG with a mask), then read back with rasterio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from PIL import Image
from rasterio.transform import from_origin

from geo_platform.lib.raster.render import Layout, RenderPlan, plan_render, write_render_vrt
from geo_platform.lib.raster.stats import sample_raster
from geo_platform.lib.raster.thumbnail import write_thumbnail

COLOURS = {0: (0, 0, 0, 0), 1: (255, 0, 0, 255), 2: (0, 255, 0, 255), 3: (0, 0, 255, 255)}


def _classes() -> np.ndarray:
    """100 x 100 classes 0..3 in vertical stripes of 25 columns."""
    return ((np.arange(100)[None, :] // 25) % 4).repeat(100, axis=0).astype("uint8")


def _hfa_with_cog(tmp_path: Path, nodata: int | None = None) -> tuple[Path, Path]:
    """An ERDAS .img whose colour table has entry 0 transparent, and its COG (as the analysis
    tier is made: a copy by GDAL's COG driver)."""
    src = tmp_path / "classes.img"
    profile = {"driver": "HFA", "width": 100, "height": 100, "count": 1, "dtype": "uint8"}
    grid = {"crs": "EPSG:32633", "transform": from_origin(400_000, 5_500_000, 30, 30)}
    with rasterio.open(src, "w", **profile, **grid, nodata=nodata) as dst:
        dst.write(_classes(), 1)
        dst.write_colormap(1, COLOURS)
    cog = tmp_path / "analysis.tif"
    rasterio.shutil.copy(src, cog, driver="COG", compress="DEFLATE")
    return src, cog


def _picture(cog: Path, layout: Layout, tmp_path: Path) -> tuple[np.ndarray, np.ndarray, Path]:
    """(mask, red band) of the visualization COG and the thumbnail's path."""
    plan = plan_render(layout, sample_raster(str(cog), (2.0, 98.0)))
    assert isinstance(plan, RenderPlan) and plan.rule == "palette expanded to RGB"
    vrt = write_render_vrt(cog, plan, tmp_path, "visual")
    visual = tmp_path / "visualization.tif"
    rasterio.shutil.copy(vrt, visual, driver="COG", compress="JPEG")
    thumb = write_thumbnail(vrt, tmp_path / "thumbnail.png", 50)
    with rasterio.open(visual) as ds:
        return ds.dataset_mask(), ds.read(1), thumb


def test_a_transparent_palette_entry_is_masked_in_the_picture(tmp_path) -> None:
    src, cog = _hfa_with_cog(tmp_path)
    classes = _classes()
    with rasterio.open(cog) as ds:
        assert ds.colormap(1)[0][3] == 255  # the COG's colour table lost the alpha
        layout = Layout.of(ds, palette_source=str(src))
        assert Layout.of(ds).transparent_entries == ()
        assert np.array_equal(ds.read(1), classes)  # the analysis tier keeps its palette
    assert layout.transparent_entries == (0,)

    mask, red, thumb = _picture(cog, layout, tmp_path)

    assert (mask[classes == 0] == 0).all()  # the transparent class is masked
    assert (mask[classes != 0] == 255).all()  # the opaque classes are not
    assert (red[:, 30:45] > 200).all()  # class 1 keeps its colour (away from JPEG edges)
    alpha = np.asarray(Image.open(thumb))[..., 3]  # 50 x 50: classes in stripes of 12.5
    assert (alpha[:, :12] == 0).all() and (alpha[:, 13:25] == 255).all()


def test_a_transparent_palette_entry_and_nodata_are_both_masked(tmp_path) -> None:
    src, cog = _hfa_with_cog(tmp_path, nodata=2)
    classes = _classes()
    with rasterio.open(cog) as ds:
        layout = Layout.of(ds, palette_source=str(src))

    mask, _red, _thumb = _picture(cog, layout, tmp_path)

    assert (mask[np.isin(classes, (0, 2))] == 0).all()
    assert (mask[np.isin(classes, (1, 3))] == 255).all()


def test_a_geotiff_colour_table_has_no_alpha_to_honour(tmp_path) -> None:
    """A GeoTIFF written with an alpha-0 entry stores RGB only (TIFF's ColorMap): GDAL reads
    that entry opaque, ``gdal_translate -expand rgba`` gives alpha 255, and so does the
    picture (the sweep's ``palette_alpha`` case)."""
    tif = tmp_path / "classes.tif"
    profile = {"driver": "GTiff", "width": 100, "height": 100, "count": 1, "dtype": "uint8"}
    with rasterio.open(tif, "w", **profile, crs="EPSG:32633",
                       transform=from_origin(400_000, 5_500_000, 30, 30)) as dst:  # fmt: skip
        dst.write(_classes(), 1)
        dst.write_colormap(1, COLOURS)
    with rasterio.open(tif) as ds:
        assert ds.colormap(1)[0] == (0, 0, 0, 255)
        layout = Layout.of(ds, palette_source=str(tif))
    assert layout.transparent_entries == ()
    mask, _red, _thumb = _picture(tif, layout, tmp_path)
    assert (mask == 255).all()


def test_a_transparent_palette_entry_and_an_internal_mask_are_both_masked(tmp_path) -> None:
    src, _cog = _hfa_with_cog(tmp_path)
    classes = _classes()
    masked = tmp_path / "masked.tif"
    profile = {"driver": "GTiff", "width": 100, "height": 100, "count": 1, "dtype": "uint8"}
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True),
        rasterio.open(
            masked,
            "w",
            **profile,
            crs="EPSG:32633",
            transform=from_origin(400_000, 5_500_000, 30, 30),
        ) as dst,
    ):
        dst.write(classes, 1)
        dst.write_colormap(1, COLOURS)
        valid = np.full((100, 100), 255, "uint8")
        valid[:10] = 0  # the top rows are masked
        dst.write_mask(valid)
    with rasterio.open(masked) as ds:
        layout = Layout.of(ds, palette_source=str(src))
    assert layout.per_dataset_mask and layout.transparent_entries == (0,)

    mask, _red, _thumb = _picture(masked, layout, tmp_path)

    assert (mask[:10] == 0).all()
    assert (mask[10:][classes[10:] == 0] == 0).all()
    assert (mask[10:][classes[10:] != 0] == 255).all()
