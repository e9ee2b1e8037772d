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
import struct
from pathlib import Path
from typing import BinaryIO

import rasterio
from rasterio.errors import RasterioError

from geo_platform.lib.errors import InputError
from geo_platform.lib.raster.multidim import Cube
from geo_platform.lib.raster.tiff_extent import TIFF_MAGICS
from geo_platform.lib.raster.zip_rasters import ZIP_DRIVER, raster_variable

PAGES_DRIVER = "GTiff pages"
"""The driver of a ``Cube`` whose variables are the pages of a TIFF."""
AS_IS_DRIVERS = (ZIP_DRIVER, PAGES_DRIVER)
"""Cubes whose variables are whole rasters read as they are (not slices of a NetCDF variable)."""


def page_count(path: Path) -> int:
    """How many full-size pages the TIFF at ``path`` has (1 for any other file, or one GDAL
    cannot open: the ordinary path reports that). The image directories are walked first
    (a few small reads: most TIFFs are one page, and GDAL need not open them again)."""
    try:
        with path.open("rb") as fh:
            if _full_directories(fh) < 2:
                return 1
        with rasterio.open(path) as ds:
            return max(1, sum(s.startswith("GTIFF_DIR:") for s in ds.subdatasets))
    except (OSError, RasterioError, struct.error, ValueError):
        return 1


_NEW_SUBFILE_TYPE = 254
_OVERVIEW_OR_MASK = 0b101  # NewSubfileType bits: reduced resolution, transparency mask


def _full_directories(fh: BinaryIO, limit: int = 10_000) -> int:
    """The image directories of a TIFF that are neither overviews nor masks, counted up to 2;
    0 for a file that is not a TIFF."""
    head = fh.read(16)
    if not head.startswith(TIFF_MAGICS):
        return 0
    order = "<" if head[:2] == b"II" else ">"
    big = head[2:4] in (b"+\x00", b"\x00+")
    count_fmt, entry_size, offset_fmt = ("Q", 20, "Q") if big else ("H", 12, "I")
    offset = struct.unpack_from(order + offset_fmt, head, 8 if big else 4)[0]
    full, seen = 0, set[int]()
    while offset and offset not in seen and len(seen) < limit and full < 2:
        seen.add(offset)
        fh.seek(offset)
        (entries,) = struct.unpack(order + count_fmt, fh.read(struct.calcsize(count_fmt)))
        table = fh.read(entries * entry_size + struct.calcsize(offset_fmt))
        kind = 0
        for i in range(entries):
            tag = struct.unpack_from(order + "H", table, i * entry_size)[0]
            if tag == _NEW_SUBFILE_TYPE:  # a LONG, in the entry's value field
                kind = struct.unpack_from(order + "I", table, i * entry_size + (12 if big else 8))[
                    0
                ]
                break
        full += not kind & _OVERVIEW_OR_MASK
        (offset,) = struct.unpack_from(order + offset_fmt, table, entries * entry_size)
    return full


def separate_pages(path: Path, name: str, work: Path, pages: int) -> Cube | None:
    """The pages of a multi-page TIFF (see the module docstring; ``pages`` is its
    ``page_count``); None for any other file. ``work`` is a private folder that outlives the
    variables: GDAL reads the file through a plainly named link there, so no character of the
    original name is taken as syntax."""
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
