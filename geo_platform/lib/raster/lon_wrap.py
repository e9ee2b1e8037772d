"""Rasters of a geographic CRS stored in 0..360 longitudes, moved into -180..180.

Global model and reanalysis grids (GRIB or NetCDF converted with ``gdal_translate``, climate
model exports) often run from 0 to 360 degrees east, and regional cuts of them lie wholly east
of 180 (200..205 for Hawaii). GDAL, PROJ and the item's bbox cope, but a tile server does not:
rio-tiler (titiler) places a tile by the raster's bounds, so every tile west of 0 of a 0..360
grid, and every tile of a grid wholly east of 180, is ``TileOutsideBounds``: half of the map,
or all of it, stays blank. So, as for the variables of NetCDF and GRIB files
(``multidim.shift_longitudes``, whose rules are reused here):

- a grid spanning the globe (0..360, or -0.5..359.5 with pixel-is-area) is **rolled**: its
  columns east of 180 degrees placed first, its west edge at -180 (within half a pixel);
- a grid wholly east of 180 is **moved** by -360 degrees (its geotransform only);
- a regional grid across 180 (170..190) is one grid: no placement in -180..180 has it all
  there, and tile servers do not draw the part past the edge. It is kept where most of it lies:
  as it is when its centre is at or west of 180, moved by -360 when its centre is east of 180
  (175..200 becomes -185..-160), so the larger part is drawn. (The NetCDF path always keeps it.)

The result is a VRT over the source, written by GDAL's own ``CreateCopy`` (every band's nodata,
colour table and interpretation, description, scale, offset, unit and metadata, and the
per-dataset mask) with only its geotransform changed and, for a roll, each source split in two
column ranges. Nothing is resampled or copied: a lossless roll of a multi-gigabyte grid costs
a few hundred bytes, and the COG driver reads the source through it once, block by block.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from copy import deepcopy
from pathlib import Path

import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.errors import CRSError

from geo_platform.lib.raster.inspect import RasterInfo
from geo_platform.lib.raster.multidim import shift_longitudes
from geo_platform.lib.raster.rectify import Rectified


def lon_wrapped(info: RasterInfo, made: Rectified | None, out: Path) -> Rectified | None:
    """The source moved into -180..180 longitudes (see the module docstring) as the VRT
    ``out``, or ``made`` itself when nothing needs moving. ``made`` is the copy an earlier step
    made of the raster ``info`` describes (turned north-up, say), None for the raster itself;
    its lineage step is kept before this one."""
    if made is None and info.bounds[2] <= 180.0:  # nothing east of 180: not opened again
        return None
    path = str(made.path) if made is not None else info.gdal_path
    with rasterio.open(path) as src:
        own_crs = src.crs is not None  # else from a .prj sidecar or ``assume_crs``
        crs = src.crs if own_crs else info.crs
        moved = _moved(src, crs)
        if moved is None:
            return made
        transform, roll, how = moved
        _write_vrt(path, out, transform, roll, src.shape)
    if not own_crs:  # the VRT carries the CRS the file lacks
        with rasterio.open(out, "r+") as vrt:
            vrt.crs = crs
    if made is None:
        return Rectified(out, how, info.crs_source, info.driver)
    return Rectified(out, f"{made.how}; {how}", made.crs, made.driver)


def _in_degrees(crs: rasterio.crs.CRS | None) -> bool:
    """A geographic CRS whose longitudes are degrees (not grads, as in EPSG:4807)."""
    if crs is None or not crs.is_geographic:
        return False
    try:
        return math.isclose(crs.units_factor[1], math.pi / 180, rel_tol=1e-9)
    except CRSError:
        return False


def _moved(src: rasterio.io.DatasetReader, crs: rasterio.crs.CRS) -> tuple[Affine, int, str] | None:
    """(new geotransform, columns to roll, lineage step), or None when the grid stays."""
    t = src.transform
    if not _in_degrees(crs):
        return None
    gt = (t.a, t.b, t.c, t.d, t.e, t.f)
    shifted, roll, crossing = shift_longitudes(gt, src.width, geographic=True)
    west, east = t.c, t.c + t.a * src.width
    if crossing is not None:  # across 180: kept where most of it lies
        if (west + east) / 2 <= 180.0:
            return None
        shifted = (t.a, t.b, t.c - 360.0, t.d, t.e, t.f)
    if shifted == gt:
        return None
    new = Affine(*shifted)
    span = f"longitudes {west:g}..{east:g}"
    to = f"{new.c:g}..{new.c + new.a * src.width:g}"
    if roll:
        how = (
            f"{span} rolled to {to}: the {src.width - roll} columns east of 180 degrees placed "
            "first, every value unchanged (a VRT)"
        )
    else:
        how = f"{span} moved by -360 degrees to {to}, every value unchanged (a VRT)"
    if crossing is not None:
        how += (
            "; the grid crosses 180 degrees, mostly east of it: its part west of 180 now lies "
            "beyond -180, where tile servers do not draw it"
        )
    return new, roll, how


def _write_vrt(
    source: str, out: Path, transform: Affine, roll: int, shape: tuple[int, int]
) -> None:
    """GDAL's VRT of ``source`` (``shape``: its rows and columns) with the geotransform
    ``transform``, and its columns from ``roll`` on placed first when ``roll`` is not 0."""
    rasterio.shutil.copy(source, out, driver="VRT")
    tree = ET.parse(out)
    root = tree.getroot()
    geotransform = root.find("GeoTransform")
    if geotransform is None:  # CreateCopy of a georeferenced raster writes one
        geotransform = ET.SubElement(root, "GeoTransform")
    geotransform.text = ", ".join(repr(float(v)) for v in transform.to_gdal())
    for name in root.iter("SourceFilename"):  # absolute: the VRT need not sit by its source
        if name.get("relativeToVRT") == "1":
            name.text = str((out.parent / (name.text or "")).resolve())
            name.set("relativeToVRT", "0")
    if roll:
        for band in [*root.iter("VRTRasterBand"), *root.iter("VRTSourcedRasterBand")]:
            for element in list(band):
                if element.tag.endswith("Source"):
                    _split(band, element, roll, shape)
    tree.write(out, encoding="utf-8")


def _split(band: ET.Element, source: ET.Element, roll: int, shape: tuple[int, int]) -> None:
    """Replace the whole-grid ``source`` of ``band`` by two: source columns ``roll``.. at the
    west edge, columns ..``roll`` after them."""
    height, width = shape
    east = width - roll  # columns east of 180, placed first
    index = list(band).index(source)
    band.remove(source)
    for n, (src_x, dst_x, size) in enumerate(((roll, 0, east), (0, east, roll))):
        part = deepcopy(source)
        for tag, x in (("SrcRect", src_x), ("DstRect", dst_x)):
            rect = part.find(tag)
            if rect is None:  # a source without one covers the whole grid
                rect = ET.SubElement(part, tag, yOff="0", ySize=str(height))
            rect.set("xOff", str(x))
            rect.set("xSize", str(size))
        band.insert(index + n, part)
