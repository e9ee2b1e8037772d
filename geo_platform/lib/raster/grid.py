"""The pixel grid and bands of an output COG, as the STAC projection and raster extensions
describe them (``GridInfo.of(dataset)``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pyproj
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.enums import MaskFlags
from rasterio.errors import RasterioError
from rasterio.io import MemoryFile

from geo_platform.lib.types import BBox


@dataclass(frozen=True)
class BandMeta:
    """One band of an output COG, as STAC describes it."""

    index: int
    dtype: str
    nodata: float | None
    colorinterp: str
    description: str | None
    unit: str | None
    scale: float
    offset: float


@dataclass(frozen=True)
class GridInfo:
    """The pixel grid and CRS of an output COG (for the STAC projection extension)."""

    crs_wkt2: str
    crs_code: str | None
    shape: tuple[int, int]
    transform: tuple[float, float, float, float, float, float]
    bounds: BBox
    resolution: tuple[float, float]
    bands: tuple[BandMeta, ...]

    @classmethod
    def of(cls, ds: rasterio.io.DatasetReader) -> GridInfo:
        crs = pyproj.CRS.from_wkt(ds.crs.to_wkt())
        authority = crs.to_authority(min_confidence=70)
        t = ds.transform
        nodatavals = band_nodatavals(ds)
        bands = tuple(
            BandMeta(
                index=i,
                dtype=ds.dtypes[i - 1],
                nodata=nodatavals[i - 1],
                colorinterp=ds.colorinterp[i - 1].name,
                description=ds.descriptions[i - 1] or None,
                unit=ds.units[i - 1] or None,
                scale=ds.scales[i - 1],
                offset=ds.offsets[i - 1],
            )
            for i in range(1, ds.count + 1)
        )
        return cls(
            crs_wkt2=crs.to_wkt("WKT2_2019"),
            crs_code=":".join(authority) if authority else None,
            shape=(ds.height, ds.width),
            transform=(t.a, t.b, t.c, t.d, t.e, t.f),
            bounds=tuple(ds.bounds),
            resolution=ds.res,
            bands=bands,
        )

    @property
    def affine(self) -> Affine:
        return Affine(*self.transform)


def band_nodatavals(ds: rasterio.io.DatasetReader) -> tuple[float | int | None, ...]:
    """Each band's nodata value, as ``ds.nodatavals`` gives it, except a 64-bit integer value
    that a double cannot hold (UInt64 2**64-1, Int64 near its limits): rasterio reports those
    as None although GDAL masks them. Such a value is read exactly (a Python int) from the
    dataset's VRT description; None when even that fails."""
    out: list[float | int | None] = list(ds.nodatavals)
    lost = [
        i
        for i, value in enumerate(out)
        if value is None
        and ds.dtypes[i] in ("int64", "uint64")
        and MaskFlags.nodata in ds.mask_flag_enums[i]
    ]
    if lost:
        exact = _vrt_nodatavals(ds)
        for i in lost:
            out[i] = exact.get(i + 1)
    return tuple(out)


def _vrt_nodatavals(ds: rasterio.io.DatasetReader) -> dict[int, int]:
    """{band: nodata} of the integer bands, from GDAL's VRT copy of ``ds`` (no pixel read)."""
    try:
        with MemoryFile(ext=".vrt") as mem:
            rasterio.shutil.copy(ds, mem.name, driver="VRT")
            root = ET.fromstring(mem.read())
    except (RasterioError, ET.ParseError):
        return {}
    out = {}
    for band in root.iter("VRTRasterBand"):
        text = (band.findtext("NoDataValue") or "").strip()
        if text.lstrip("-").isdigit():
            out[int(band.get("band", "0"))] = int(text)
    return out
