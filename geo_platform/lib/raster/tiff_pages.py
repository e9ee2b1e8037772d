"""A TIFF of several full-size pages, published one item per page.

A TIFF may hold several images that are neither overviews nor masks of one another: scanned map
sheets saved as one document, a scene beside a classification, bands written as pages by a
tool. GDAL opens the first page and lists every page as a subdatasets (``GTIFF_DIR:<n>:<path>``;
reduced-resolution and mask pages are not listed). Before, the other pages were dropped without
a word. Here each page becomes its own COG tiers and STAC item, as the rasters of a zip do
(``zip_rasters``; item ids ``<file>-page<n>``), each lineage saying which page it is.
"""

from __future__ import annotations

import os
from pathlib import Path

import rasterio
from rasterio.errors import RasterioError

from geo_platform.lib.errors import InputError
from geo_platform.lib.raster.multidim import Cube
from geo_platform.lib.raster.zip_rasters import ZIP_DRIVER, raster_variable

PAGES_DRIVER = "GTiff pages"
"""The driver of a ``Cube`` whose variables are the pages of a TIFF."""
AS_IS_DRIVERS = (ZIP_DRIVER, PAGES_DRIVER)
"""Cubes whose variables are whole rasters read as they are (not slices of a NetCDF variable)."""
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def page_count(path: Path) -> int:
    """How many full-size pages the TIFF at ``path`` has (1 for any other file, or one GDAL
    cannot open: the ordinary path reports that)."""
    try:
        with path.open("rb") as fh:
            if not fh.read(4).startswith(_TIFF_MAGICS):
                return 1
        with rasterio.open(path) as ds:
            return max(1, sum(s.startswith("GTIFF_DIR:") for s in ds.subdatasets))
    except (OSError, RasterioError):
        return 1


def separate_pages(path: Path, name: str, work: Path) -> Cube | None:
    """The pages of a multi-page TIFF (see the module docstring); None for any other file.
    ``work`` is a private folder that outlives the variables: GDAL reads the file through a
    plainly named link there, so no character of the original name is taken as syntax."""
    pages = page_count(path)
    if pages < 2:
        return None
    link = work / "pages.tif"
    try:
        os.link(path, link)
    except OSError:
        link.symlink_to(path.resolve())
    variables, ignored = [], []
    for n in range(1, pages + 1):
        note = f"page {n} of the {pages} pages of the TIFF"
        try:
            variables.append(
                raster_variable(
                    f"GTIFF_DIR:{n}:{link}", f"page{n}", f"page {n}", f"{name} (page {n})", note
                )
            )
        except InputError as exc:
            ignored.append(f"page {n}: {exc.message}")
    return Cube(PAGES_DRIVER, tuple(variables), tuple(ignored))
