"""The pixel grid and bands of an output COG, as the STAC projection and raster extensions
describe them (``GridInfo.of(dataset)``)."""

from __future__ import annotations

from dataclasses import dataclass

import pyproj
import rasterio
from affine import Affine

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
        bands = tuple(
            BandMeta(
                index=i,
                dtype=ds.dtypes[i - 1],
                nodata=ds.nodatavals[i - 1],
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
