"""Bands with different nodata values, given one: a GeoTIFF (so a COG) holds one per file.

An ERDAS Imagine, ENVI or VRT file may mark nodata per band (-1, -2 and -3 in three bands).
GDAL's COG driver writes band 1's value for every band, so the tiers said -1 everywhere: band
2's nodata pixels (-2) became valid data, and its valid pixels of -1 became nodata, while the
STAC item still named -1, -2 and -3.

So such a source is read through a VRT in which every band has one common value: each band's
own nodata pixels are rewritten to it (a ``ComplexSource`` with the band's ``NODATA`` skips
them, and the VRT fills what no source wrote with the band's ``NoDataValue``), every other
pixel is unchanged. The common value is the first of band 1's nodata, the other bands'
nodata values, the type's lowest and highest values (NaN for floating point) that no band
holds as valid data, checked pixel by pixel in one pass over the file (block by block). When
every candidate is valid data somewhere, the file is refused with the bands' values named.
A band without nodata beside bands with one is treated alike (the common value must not be
among its pixels); an alpha band is no data band: its nodata (or none) never triggers this.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.enums import ColorInterp

from geo_platform.lib.errors import UnsupportedFormatError
from geo_platform.lib.raster.grid import band_nodatavals
from geo_platform.lib.raster.inspect import RasterInfo
from geo_platform.lib.raster.rectify import Rectified

_SOURCES = ("SimpleSource", "ComplexSource")


def one_nodata(info: RasterInfo, made: Rectified | None, out: Path) -> Rectified | None:
    """The source with one nodata value for all its bands (module docstring) as the VRT
    ``out``, or ``made`` itself when its bands agree (or it has one band). ``made`` is the copy
    an earlier step made of the raster ``info`` describes, None for the raster itself."""
    if made is None and info.count < 2:  # one band: one value (no need to open it again)
        return None
    path = str(made.path) if made is not None else info.gdal_path
    with rasterio.open(path) as src:
        values = list(band_nodatavals(src))  # a UInt64 2**64-1 too
        alpha = ColorInterp.alpha
        data = {_key(v) for v, ci in zip(values, src.colorinterp, strict=True) if ci != alpha}
        if len(data) <= 1:  # one value (an alpha band's own is no nodata of the data)
            return made
        common = _common_value(src, values)
    if common is None:
        listed = ", ".join(f"band {i}: {v}" for i, v in enumerate(values, start=1))
        raise UnsupportedFormatError(
            f"its bands have different nodata values ({listed}) and no single value is free in "
            "every band, while a GeoTIFF holds one nodata value for all its bands; give the "
            "bands one nodata value (gdal_translate -a_nodata, after rewriting the others) and "
            "upload that",
            path=info.name,
        )
    _write_vrt(path, out, values, common)
    how = (
        f"one nodata value ({_text(common)}) for every band, where the bands had "
        f"{', '.join(_text(v) for v in values)}: each band's nodata pixels rewritten to it "
        "(a VRT; a GeoTIFF holds one nodata value per file)"
    )
    if made is None:
        return Rectified(out, how, info.crs_source, info.driver)
    return Rectified(out, f"{made.how}; {how}", made.crs, made.driver)


def _key(value: float | int | None) -> str:
    return "none" if value is None else ("nan" if math.isnan(value) else repr(float(value)))


def _text(value: float | int | None) -> str:
    if value is None:
        return "none"
    return "nan" if math.isnan(value) else f"{value:g}"


def _candidates(dtype: str, values: list[float | int | None]) -> list[float]:
    out: list[float] = []
    for v in values:
        if v is not None and _key(v) not in {_key(c) for c in out}:
            out.append(v)
    if np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(np.dtype(dtype))
        extremes: list[float] = [int(info.min), int(info.max)]
    else:
        extremes = [math.nan]
    out += [e for e in extremes if _key(e) not in {_key(c) for c in out}]
    return out


def _common_value(src: rasterio.DatasetReader, values: list[float | int | None]) -> float | None:
    """The first candidate no band holds as valid data (one read of every block)."""
    free = _candidates(src.dtypes[0], values)
    for _, window in src.block_windows(1):
        block = src.read(window=window)
        for band, nodata in zip(block, values, strict=True):
            valid = band if nodata is None else band[~_is(band, nodata)]
            free = [c for c in free if not _is(valid, c).any()]
        if not free:
            return None
    return free[0]


def _is(data: np.ndarray, value: float) -> np.ndarray:
    return np.isnan(data) if math.isnan(value) else data == value


def _write_vrt(path: str, out: Path, values: list[float | int | None], common: float) -> None:
    """A VRT copy of ``path`` whose bands all have ``common`` as nodata, each band's source
    skipping the band's own nodata pixels (so that they take the band's nodata value)."""
    rasterio.shutil.copy(path, str(out), driver="VRT")
    tree = ET.parse(out)
    bands = tree.getroot().findall("VRTRasterBand")
    for band, own in zip(bands, values, strict=True):
        nodata = band.find("NoDataValue")
        if nodata is None:
            nodata = ET.SubElement(band, "NoDataValue")
        nodata.text = _text(common) if math.isnan(common) else repr(common)
        for source in [s for s in band if s.tag in _SOURCES]:
            source.tag = "ComplexSource"
            for old in source.findall("NODATA"):
                source.remove(old)
            if own is not None:
                ET.SubElement(source, "NODATA").text = "nan" if math.isnan(own) else repr(own)
    tree.write(out)
