"""Inspect a bronze raster: what it is, where it is, and whether the platform can publish it.

``inspect_raster`` opens any raster GDAL reads (GeoTIFF, JPEG2000, GRIB, ERDAS IMG, zipped SRTM
``.hgt`` via ``/vsizip/``, JPEG/PNG with a world file) and either returns a ``RasterInfo`` or
raises one specific error that names the file:

- ``EmptyFileError``: 0 bytes.
- ``UnsupportedFormatError``: GDAL does not recognise it as a raster, it is a container of
  subdatasets (HDF, NetCDF, GeoPackage), or its bands have mixed data types. (Publishing
  expands NetCDF, HDF5 and GRIB files into their 2-D variables first, ``multidim.py``, and
  inspects each variable's VRT.)
- ``UnreadableFileError``: truncated or corrupt at open time. Corruption inside data blocks only
  shows when the blocks are read: by the all-nodata check here, else by ``build_cog_tiers``,
  which reads every block; either names the band and block that cannot be decoded.
- ``NotGeoreferencedError``: **we fail** on rasters without a geotransform (a plain photo) and on
  rasters georeferenced only by GCPs or RPCs. Publishing them without a footprint would put items
  in the catalogue that no spatial search finds and no map can draw; the message tells the user to
  georectify (``gdalwarp``) first. (``publish_raster`` first georectifies a raster whose GCPs
  have a CRS, ``rectify.py``, and inspects the result.)
- ``MissingCRSError``: a geotransform but no CRS (e.g. a JPEG with only a world file). A ``.prj``
  sidecar next to the file is used when present, else the ``assume_crs`` option, else this error
  (``georef.py``).
- ``InvalidCRSError``: PROJ rejects the CRS or cannot transform it to EPSG:4326.
- ``TooLargeError``: width * height * bands * bytes per sample above ``max_bytes``.
- ``EmptyDatasetError``: every pixel is nodata/masked. Checked here when it is cheap (the file has
  overviews or is at most ``CHEAP_CHECK_PIXELS``); ``build_cog_tiers`` always checks it on the
  overviews of the analysis COG, so large files without overviews are not read twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import rasterio
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.windows import Window

from geo_platform.lib.errors import (
    EmptyDatasetError,
    TooLargeError,
    UnsupportedFormatError,
)
from geo_platform.lib.raster.georef import place_on_earth, require_placement, resolve_crs
from geo_platform.lib.raster.opening import (
    GDAL_ERRORS,
    decoding_blocks,
    open_raster,
    readable_tags,
    resolve_gdal_path,
)
from geo_platform.lib.raster.tags import find_datetime, sensor_metadata
from geo_platform.lib.raster.tiff_extent import refuse_if_truncated, tiff_data_end
from geo_platform.lib.types import BBox

DEFAULT_MAX_BYTES = 32 * 2**30
"""Largest uncompressed size (width * height * bands * bytes) accepted by default: 32 GiB."""

CHEAP_CHECK_PIXELS = 16_000_000
"""Rasters up to this many pixels (or with overviews) get the all-nodata check at inspection."""

_SKIP_DOMAINS = {"", "IMAGE_STRUCTURE", "DERIVED_SUBDATASETS"}


@dataclass(frozen=True)
class RasterInfo:
    """Everything the COG builder and the STAC item need to know about a bronze raster."""

    name: str
    gdal_path: str
    driver: str
    width: int
    height: int
    count: int
    dtypes: tuple[str, ...]
    nodata: float | None
    crs_wkt2: str
    crs_code: str | None
    epsg: int | None
    crs_source: str
    transform: tuple[float, float, float, float, float, float]
    bounds: BBox
    bbox_4326: BBox
    footprint_4326: dict[str, Any]
    colorinterp: tuple[str, ...]
    has_palette: bool
    descriptions: tuple[str | None, ...]
    units: tuple[str | None, ...]
    scales: tuple[float, ...]
    offsets: tuple[float, ...]
    tags: dict[str, str]
    band_tags: tuple[dict[str, str], ...]
    extra_metadata: dict[str, dict[str, str]]
    datetime: datetime | None
    datetime_tag: str | None
    sensor: dict[str, str]
    is_categorical: bool
    mask_kind: str
    alpha_band: int | None
    overview_factors: tuple[int, ...]
    file_size: int
    uncompressed_bytes: int
    empty_checked: bool
    warnings: tuple[str, ...] = field(default_factory=tuple)
    nbits: int | None = None
    """Bits per sample when not the data type's full width (TIFF NBITS: 1-bit masks, 12-bit)."""
    rectified_from: str | None = None
    """How the source was made one north-up raster, if it had to be: placed by GCPs only
    (``rectify.py``), or tiles in a zip (``zip_mosaic.py``). A step of the item's lineage."""

    @property
    def crs(self) -> CRS:
        return CRS.from_wkt(self.crs_wkt2)

    @property
    def dtype(self) -> str:
        return self.dtypes[0]

    def summary(self) -> dict[str, Any]:
        """A small JSON-able digest for run metadata and logs."""
        return {
            "driver": self.driver,
            "shape": [self.height, self.width],
            "bands": self.count,
            "dtype": self.dtype,
            "nodata": self.nodata,
            "crs": self.crs_code or "WKT2 (no authority code)",
            "bbox_4326": list(self.bbox_4326),
            "categorical": self.is_categorical,
            "palette": self.has_palette,
            "datetime": self.datetime.isoformat() if self.datetime else None,
        }


def inspect_raster(
    path: Path | str,
    name: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int | None = None,
    assume_crs: str | None = None,
    check_empty: bool = True,
    own_vrt: bool = False,
) -> RasterInfo:
    """Open ``path`` and describe it, or raise the specific error for what is wrong with it.

    ``name`` is the bronze blob path used in every error message. See the module docstring for
    the errors and the behaviour chosen for non-georeferenced and all-nodata rasters.
    ``own_vrt``: ``path`` is a VRT this process wrote over a local file (a variable of a
    multidimensional file, ``variable_vrt.py``), not a bronze VRT, which is refused.
    """
    gdal_path = resolve_gdal_path(path, name, max_uncompressed=max_bytes)
    with open_raster(gdal_path, name) as ds:
        _check_structure(ds, name, own_vrt)
        _check_complete(ds, gdal_path, name)
        _check_size(ds, name, max_bytes, max_pixels)
        crs, crs_source = resolve_crs(ds, gdal_path, name, assume_crs)
        empty_checked = check_empty and _cheap_to_check(ds)
        if empty_checked:
            with decoding_blocks(name, gdal_path, path):  # the first read of pixels
                valid = has_valid_pixels(ds)
            if not valid:
                raise EmptyDatasetError("every pixel is nodata or masked", path=name)
        return _describe(ds, name, gdal_path, crs, crs_source, empty_checked)


REFERENCING_DRIVERS = frozenset(
    {"VRT", "WMS", "WMTS", "DAAS", "EEDA", "EEDAI", "PLMOSAIC", "OGCAPI", "STACIT", "STACTA",
     "GTI", "NGW", "TILEDB"}
)  # fmt: skip
"""Drivers whose files point at other files or at network services. A bronze file must hold its
own pixels: a VRT could otherwise publish any file the worker can read, or fetch a URL."""


def _check_complete(ds: rasterio.io.DatasetReader, gdal_path: str, name: str) -> None:
    """A TIFF whose strips or tiles run past its end is truncated (an interrupted upload):
    refused before anything is built from it (``tiff_extent.tiff_data_end``)."""
    local = Path(gdal_path)
    if ds.driver != "GTiff" or not local.is_file():
        return
    refuse_if_truncated("the TIFF", tiff_data_end(local), local.stat().st_size, name)


def _check_structure(ds: rasterio.io.DatasetReader, name: str, own_vrt: bool = False) -> None:
    if ds.driver.upper() in REFERENCING_DRIVERS and not (own_vrt and ds.driver == "VRT"):
        raise UnsupportedFormatError(
            f"a {ds.driver} file refers to other files or services instead of holding pixels; "
            "upload the raster itself (e.g. gdal_translate it to GeoTIFF)",
            path=name,
        )
    if ds.count == 0:
        subs = len(ds.subdatasets)
        detail = f"a container of {subs} subdatasets" if subs else "no raster bands"
        raise UnsupportedFormatError(
            f"{ds.driver} file with {detail}; publish each raster as its own file", path=name
        )
    if len(set(ds.dtypes)) > 1:
        raise UnsupportedFormatError(
            f"bands have different data types {sorted(set(ds.dtypes))}; GeoTIFF needs one",
            path=name,
        )
    require_placement(ds, name)


def dtype_itemsize(dtype: str) -> int:
    """Bytes per sample; rasterio names GDAL types numpy lacks (``complex_int16`` is CInt16)."""
    if dtype == "complex_int16":
        return 4
    try:
        return int(np.dtype(dtype).itemsize)
    except TypeError:
        return 8


def _check_size(
    ds: rasterio.io.DatasetReader, name: str, max_bytes: int, max_pixels: int | None
) -> None:
    itemsize = dtype_itemsize(ds.dtypes[0])
    size = ds.width * ds.height * ds.count * itemsize
    if size > max_bytes:
        raise TooLargeError(
            f"{ds.width}x{ds.height}x{ds.count} {ds.dtypes[0]} is {size / 2**30:.1f} GiB "
            f"uncompressed, above the limit of {max_bytes / 2**30:.1f} GiB",
            path=name,
        )
    if max_pixels is not None and ds.width * ds.height > max_pixels:
        raise TooLargeError(
            f"{ds.width}x{ds.height} pixels is above the limit of {max_pixels} pixels", path=name
        )


def _cheap_to_check(ds: rasterio.io.DatasetReader) -> bool:
    return bool(ds.overviews(1)) or ds.width * ds.height <= CHEAP_CHECK_PIXELS


def has_valid_pixels(ds: rasterio.io.DatasetReader, sample_side: int = 1024) -> bool:
    """True when at least one pixel is valid (not nodata, not masked, alpha > 0).

    A decimated read of the mask (served from overviews when present) answers almost always;
    only when it finds nothing is every block checked, so a truly empty raster is proven empty.
    """
    if MaskFlags.all_valid in ds.mask_flag_enums[0]:
        return True
    scale = max(ds.width, ds.height) / sample_side
    if scale > 1:
        shape = (max(1, round(ds.height / scale)), max(1, round(ds.width / scale)))
        if ds.dataset_mask(out_shape=shape).any():
            return True
    rows = max(1, 4_000_000 // ds.width)
    return any(
        ds.dataset_mask(window=Window(0, row, ds.width, min(rows, ds.height - row))).any()
        for row in range(0, ds.height, rows)
    )


def _describe(
    ds: rasterio.io.DatasetReader,
    name: str,
    gdal_path: str,
    crs: pyproj.CRS,
    crs_source: str,
    empty_checked: bool,
) -> RasterInfo:
    fp = place_on_earth(ds, crs, name)
    tags = _tags(ds)
    band_tags = tuple(readable_tags(ds, i) for i in range(1, ds.count + 1))
    when, when_tag = find_datetime(tags, band_tags[0])
    authority = crs.to_authority(min_confidence=70)
    colorinterp = tuple(ci.name for ci in ds.colorinterp)
    alpha = colorinterp.index("alpha") + 1 if "alpha" in colorinterp else None
    t = ds.transform
    return RasterInfo(
        name=name,
        gdal_path=gdal_path,
        driver=ds.driver,
        width=ds.width,
        height=ds.height,
        count=ds.count,
        dtypes=tuple(ds.dtypes),
        nodata=ds.nodata,
        crs_wkt2=crs.to_wkt("WKT2_2019"),
        crs_code=":".join(authority) if authority else None,
        epsg=int(authority[1]) if authority and authority[0] == "EPSG" else None,
        crs_source=crs_source,
        transform=(t.a, t.b, t.c, t.d, t.e, t.f),
        bounds=tuple(ds.bounds),
        bbox_4326=fp.bbox,
        footprint_4326=fp.geometry,
        colorinterp=colorinterp,
        has_palette=ds.colorinterp[0] == ColorInterp.palette,
        descriptions=tuple(ds.descriptions),
        units=tuple(u or None for u in ds.units),
        scales=tuple(ds.scales),
        offsets=tuple(ds.offsets),
        tags=tags,
        band_tags=band_tags,
        extra_metadata=_extra_domains(ds),
        datetime=when,
        datetime_tag=when_tag,
        sensor=sensor_metadata(tags),
        is_categorical=_is_categorical(ds, band_tags),
        mask_kind=_mask_kind(ds, alpha),
        alpha_band=alpha,
        overview_factors=tuple(ds.overviews(1)),
        file_size=_file_size(gdal_path),
        uncompressed_bytes=ds.width * ds.height * ds.count * dtype_itemsize(ds.dtypes[0]),
        empty_checked=empty_checked,
        nbits=_nbits(ds),
    )


_TAG_ERRORS: tuple[type[Exception], ...] = (*GDAL_ERRORS, ValueError)


def _nbits(ds: rasterio.io.DatasetReader) -> int | None:
    try:
        value = ds.tags(1, ns="IMAGE_STRUCTURE").get("NBITS")
        return int(value) if value else None
    except _TAG_ERRORS:
        return None


def _tags(ds: rasterio.io.DatasetReader) -> dict[str, str]:
    """Default-domain tags plus EXIF tags (a separate domain for TIFF files)."""
    tags = readable_tags(ds)
    if "EXIF" in (ds.tag_namespaces() or []):
        tags.update(readable_tags(ds, ns="EXIF"))
    return tags


def _extra_domains(ds: rasterio.io.DatasetReader) -> dict[str, dict[str, str]]:
    """Metadata domains GeoTIFF writers drop; the archive tier keeps them as JSON."""
    out: dict[str, dict[str, str]] = {}
    for domain in ds.tag_namespaces() or []:
        if domain in _SKIP_DOMAINS:
            continue
        try:
            items = readable_tags(ds, ns=domain)
        except GDAL_ERRORS:
            continue
        if items:
            out[domain] = dict(items)
    return out


def _is_categorical(ds: rasterio.io.DatasetReader, band_tags: tuple[dict[str, str], ...]) -> bool:
    """Palette rasters and bands tagged thematic (ERDAS/GDAL ``LAYER_TYPE``) are categories."""
    if ds.colorinterp[0] == ColorInterp.palette:
        return True
    return any(t.get("LAYER_TYPE", "").lower() == "thematic" for t in band_tags)


def _mask_kind(ds: rasterio.io.DatasetReader, alpha: int | None) -> str:
    flags = ds.mask_flag_enums[0]
    if alpha is not None or MaskFlags.alpha in flags:
        return "alpha"
    if MaskFlags.nodata in flags:
        return "nodata"
    if MaskFlags.per_dataset in flags:
        return "mask"
    return "none"


def _file_size(gdal_path: str) -> int:
    if gdal_path.startswith("/vsizip/"):
        outer = gdal_path[len("/vsizip/") :]
        for parent in Path(outer).parents:
            if parent.is_file():
                return parent.stat().st_size
        return 0
    if gdal_path.startswith("GTIFF_DIR:"):  # GTIFF_DIR:<page>:<path>, a page of a TIFF
        return Path(gdal_path.split(":", 2)[2]).stat().st_size
    return Path(gdal_path).stat().st_size
