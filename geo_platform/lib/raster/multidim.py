"""Multidimensional rasters (NetCDF, HDF5, GRIB): a file as a set of 2-D variables.

A NetCDF file holds several variables, each over (time, level, ..., y, x). GDAL opens it as a
container of subdatasets, one per variable, and GRIB as one dataset whose bands mix variables.
``read_cube`` describes the file as ``CubeVariable``s, the way a GeoPackage is a set of layers:

- one variable per NetCDF/HDF5 subdataset (or the file's single variable), and per GRIB
  element and level type (``REFD`` on hybrid levels, ``VIS`` at the surface);
- each time step or level of a variable is one **band** (labelled ``time=... level=...``);
- CF metadata: ``units``, ``scale_factor``/``add_offset`` (recorded as band scale and offset,
  the stored integers stay lossless), ``_FillValue``/``missing_value`` as nodata, times decoded
  from ``units = "<unit> since <date>"`` (``cf.py``);
- longitudes stored 0..360 are shifted to -180..180: a global grid is split at 180 degrees and
  its eastern half placed first, a grid wholly east of 180 is moved by -360; a regional grid
  that crosses 180 keeps its coordinates (it cannot be one north-up grid in -180..180);
- lat/lon coordinates without a ``grid_mapping`` get EPSG:4326, recorded as assumed.

What is not a 2-D variable on a georeferenced grid is ignored with a note: 1-D and scalar
variables (listed from the header of NetCDF classic files, ``cdf_header.py``), cell bounds,
variables without a geotransform. ``variable_vrt.write_variable_vrt`` then gives each variable
as a VRT that the ordinary COG pipeline reads like any raster.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import rasterio

from geo_platform.lib.errors import GeoPlatformError, UnsupportedFormatError
from geo_platform.lib.raster import cf
from geo_platform.lib.raster.cdf_header import CdfVariable, cdf_data_end, read_cdf_variables
from geo_platform.lib.raster.cf import Dimension
from geo_platform.lib.raster.grib import grib_groups
from geo_platform.lib.raster.opening import (
    GDAL_ERRORS,
    SeveralRastersError,
    open_raster,
    resolve_gdal_path,
)
from geo_platform.lib.raster.tiff_extent import refuse_if_truncated

MULTIDIM_DRIVERS = frozenset({"netCDF", "HDF5", "HDF5Image", "GRIB"})
"""Drivers whose files are published as one item per variable."""

ASSUMED_CRS = "EPSG:4326"
_LINK_SUFFIX = {"netCDF": ".nc", "HDF5": ".h5", "HDF5Image": ".h5", "GRIB": ".grib2"}
_LON_UNITS = frozenset({"degrees_east", "degree_east", "degree_e", "degrees_e", "degreee"})
Transform = tuple[float, float, float, float, float, float]
_HEAD_BYTES = 64 * 1024
_CRS_ERRORS: tuple[type[Exception], ...] = (*GDAL_ERRORS, ValueError)
_MAGICS = (b"\x89HDF\r\n\x1a\n", b"GRIB")


@dataclass(frozen=True)
class CubeVariable:
    """One 2-D variable of a multidimensional file, as the COG pipeline will read it.

    ``source`` is the GDAL path of the variable and ``bands`` its bands there, one per time
    step or level; ``coords`` gives each band's coordinate along each of ``dims``. ``transform``
    is the published grid (after any longitude shift); with ``roll`` > 0 the grid is rolled: the
    first ``roll`` source columns (west of 180 degrees) come after the others."""

    name: str
    source: str
    bands: tuple[int, ...]
    dims: tuple[Dimension, ...]
    coords: tuple[tuple[float | str, ...], ...]
    dtype: str
    width: int
    height: int
    transform: Transform
    crs_wkt: str
    crs_assumed: bool = False
    roll: int = 0
    unit: str | None = None
    nodata: float | None = None
    scale: float = 1.0
    offset: float = 0.0
    description: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    band_tags: tuple[dict[str, str], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        """Band names: ``time=2020-01-01T00:00:00Z`` (the variable's name for a 2-D one)."""
        return tuple(cf.label(self.dims, c) or self.name for c in self.coords)

    @property
    def times(self) -> tuple[datetime, ...]:
        """The instants of the variable's temporal dimension, sorted (empty without one)."""
        temporal = next((d for d in self.dims if d.kind == "temporal"), None)
        if temporal is None:
            return ()
        return tuple(sorted(cf.parse_iso(str(v)) for v in temporal.values))


@dataclass(frozen=True)
class Cube:
    """A multidimensional file: its driver, the variables to publish and what was ignored."""

    driver: str
    variables: tuple[CubeVariable, ...]
    ignored: tuple[str, ...] = ()


def read_cube(path: Path, name: str, work: Path) -> Cube | None:
    """The variables of the NetCDF/HDF5/GRIB file at ``path``, or None for any other raster.

    ``name`` (the bronze blob) names the file in errors; ``work`` is a private folder that must
    outlive the use of the returned variables: GDAL reads the file through a plainly named link
    there, so no character of the original name is taken as subdataset syntax."""
    if not might_be_cube(path):
        return None
    try:
        gdal_path = resolve_gdal_path(path, name)
    except SeveralRastersError:
        return None  # tiles in a zip (``zip_mosaic``)
    header = read_cdf_variables(Path(gdal_path)) if not gdal_path.startswith("/vsi") else None
    if header is not None:
        _check_complete(Path(gdal_path), name)
    if header is not None and not any(len(v.dims) >= 2 for v in header):
        notes = "; ".join(_not_rasters(header, set()))
        raise UnsupportedFormatError(
            f"netCDF file without a 2-D variable ({notes or 'no variables'})", path=name
        )
    with open_raster(gdal_path, name) as ds:
        driver = ds.driver
    if driver not in MULTIDIM_DRIVERS:
        return None
    source = gdal_path
    if not gdal_path.startswith("/vsi"):
        link = work / ("source" + _LINK_SUFFIX[driver])
        link.unlink(missing_ok=True)
        os.symlink(Path(gdal_path).resolve(), link)
        source = str(link)
    if driver.startswith("HDF5") and _opens_as_netcdf(source):
        driver, source = "netCDF", f'NETCDF:"{source}"'
    if driver == "GRIB":
        variables, ignored = _grib(source, name)
    else:
        variables, ignored = _subdatasets(source, name, driver, header)
    return Cube(driver=driver, variables=tuple(variables), ignored=tuple(ignored))


def might_be_cube(path: Path) -> bool:
    """False when the first bytes rule out NetCDF, HDF5 and GRIB (and a zip holding one), so
    that ordinary rasters are not opened an extra time. GRIB messages and HDF5 superblocks may
    follow a header, hence the search."""
    try:
        with path.open("rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError:
        return True  # let the opening report it
    return head.startswith((b"CDF", b"PK")) or any(m in head for m in _MAGICS)


def _opens_as_netcdf(source: str) -> bool:
    """A NetCDF-4 file is an HDF5 file: GDAL's netCDF driver reads its CF georeferencing and
    dimensions, which the HDF5 driver does not (a ``.h5`` name makes GDAL pick the latter)."""
    try:
        with rasterio.open(f'NETCDF:"{source}"') as ds:
            return ds.driver == "netCDF"
    except GDAL_ERRORS:
        return False


@contextmanager
def _open(path: str, name: str) -> Iterator[rasterio.io.DatasetReader]:
    with open_raster(path, name) as ds:
        yield ds


def _subdatasets(
    source: str, name: str, driver: str, header: list[CdfVariable] | None
) -> tuple[list[CubeVariable], list[str]]:
    """The variables of a NetCDF or HDF5 file (subdatasets, or the single variable)."""
    with _open(source, name) as ds:
        subs = list(ds.subdatasets)
        single = ds.count > 0 and not subs
        first = ds.tags(1).get("NETCDF_VARNAME") if single else None
    auxiliary = _auxiliary(header or [])
    variables: list[CubeVariable] = []
    ignored: list[str] = []
    candidates = [(first or _sub_name(source), source)] if single else []
    candidates += [(_sub_name(s), s) for s in subs]
    for var, path in candidates:
        if var in auxiliary:
            ignored.append(f"{var}: {auxiliary[var]}, not data")
            continue
        try:
            found = _variable(path, var, name, driver)
        except GeoPlatformError as exc:  # GDAL's message names the link, not the file
            ignored.append(f"{var}: {exc.message.replace(_link_path(source), name)}")
            continue
        if isinstance(found, str):
            ignored.append(f"{var}: {found}")
        else:
            variables.append(found)
    seen = {v for v, _ in candidates} | set(auxiliary)
    ignored += _not_rasters(header or [], seen)
    return variables, ignored


def _check_complete(path: Path, name: str) -> None:
    """A NetCDF classic file shorter than its header says is truncated (``cdf_data_end``)."""
    refuse_if_truncated("the netCDF file", cdf_data_end(path), path.stat().st_size, name)


def _link_path(source: str) -> str:
    """The local path inside a GDAL path such as ``NETCDF:"/tmp/x/source.nc"``."""
    return source.removeprefix("NETCDF:").strip('"')


def _sub_name(subdataset: str) -> str:
    """The variable name in ``NETCDF:"/path":var`` or ``HDF5:"/path"://group/var``."""
    tail = subdataset.rsplit(":", 1)[-1] if subdataset.count(":") >= 2 else ""
    tail = tail.strip('"').lstrip("/")
    return tail or Path(subdataset.split(":")[-1].strip('"')).stem


def _auxiliary(header: list[CdfVariable]) -> dict[str, str]:
    """Variables that describe others (cell bounds, grid mappings), by name, with their role."""
    out: dict[str, str] = {}
    for var in header:
        for attr, role in (("bounds", "cell bounds"), ("grid_mapping", "grid mapping")):
            ref = var.attrs.get(attr, "").split(":")[0].strip()
            if ref:
                out.setdefault(ref, f"{role} of {var.name}")
    return out


def _not_rasters(header: list[CdfVariable], seen: set[str]) -> list[str]:
    """Notes for the 1-D and scalar variables of a NetCDF classic file (coordinates excepted)."""
    notes = []
    for var in header:
        coordinate = len(var.dims) == 1 and var.dims[0] == var.name
        if var.name in seen or coordinate:
            continue
        shape = f"1-D over {var.dims[0]}" if len(var.dims) == 1 else f"{len(var.dims)}-D"
        if not var.dims:
            shape = "scalar"
        notes.append(f"{var.name}: {shape}, not a 2-D raster variable; ignored")
    return notes


def _variable(path: str, var: str, name: str, driver: str) -> CubeVariable | str:
    """The variable at ``path``, or why it cannot be published as a raster."""
    with _open(path, f"{name}:{var}") as ds:
        if ds.count == 0:
            return "no raster bands"
        if ds.transform.is_identity:
            return "not on a georeferenced grid (no geotransform)"
        if len(set(ds.dtypes)) > 1:
            return f"bands of different data types {sorted(set(ds.dtypes))}"
        tags = dict(ds.tags())
        attrs = cf.attrs_of(tags, var)
        crs_wkt, assumed = _crs(ds, tags, attrs)
        if crs_wkt is None:
            return "a grid without a CRS (no grid_mapping, no latitude/longitude coordinates)"
        dims = cf.netcdf_dimensions(tags) if driver == "netCDF" else []
        band_tags = tuple(dict(ds.tags(i)) for i in range(1, ds.count + 1))
        coords = tuple(cf.band_coordinates(t, dims, tags) for t in band_tags)
        return CubeVariable(
            name=var,
            source=path,
            bands=tuple(range(1, ds.count + 1)),
            dims=tuple(dims),
            coords=coords,
            dtype=ds.dtypes[0],
            **_grid(ds, crs_wkt, assumed),
            unit=attrs.get("units") or ds.units[0] or None,
            nodata=_nodata(attrs, ds.nodata),
            scale=cf.number(attrs.get("scale_factor")) or ds.scales[0] or 1.0,
            offset=cf.number(attrs.get("add_offset")) or ds.offsets[0] or 0.0,
            description=attrs.get("long_name") or attrs.get("standard_name") or None,
            attrs=attrs,
            tags=tags,
            band_tags=band_tags,
        )


def _grid(ds: rasterio.io.DatasetReader, crs_wkt: str, assumed: bool) -> dict[str, Any]:
    """The grid of every variable of ``ds``: size, transform (0..360 longitudes rolled to
    -180..180, ``shift_longitudes``), CRS, and the note when they cannot be rolled."""
    t = ds.transform
    transform, roll, note = shift_longitudes(
        (t.a, t.b, t.c, t.d, t.e, t.f), ds.width, geographic=_geographic(crs_wkt)
    )
    return {
        "width": ds.width,
        "height": ds.height,
        "transform": transform,
        "crs_wkt": crs_wkt,
        "crs_assumed": assumed,
        "roll": roll,
        "notes": (note,) if note else (),
    }


def _nodata(attrs: dict[str, str], gdal_nodata: float | None) -> float | None:
    for key in ("_FillValue", "missing_value"):
        value = cf.number(attrs.get(key))
        if value is not None:
            return value
    return gdal_nodata


def _crs(
    ds: rasterio.io.DatasetReader, tags: dict[str, str], attrs: dict[str, str]
) -> tuple[str | None, bool]:
    """(WKT, assumed): the dataset's CRS; else the variable's CF grid mapping read by PROJ
    (``cf.grid_mapping_crs``: GDAL reads none without an ellipsoid, as in CORDEX's rotated
    poles), its ellipsoid assumed; else EPSG:4326 for CF longitude coordinates."""
    if ds.crs:
        return ds.crs.to_wkt(), False
    mapped = cf.grid_mapping_crs(tags, attrs.get("grid_mapping", ""))
    if mapped is not None:
        return mapped, True
    lon_like = any(
        k.endswith(("#units", "#standard_name")) and v.strip().lower() in _LON_UNITS | {"longitude"}
        for k, v in tags.items()
    )
    if lon_like:
        return rasterio.crs.CRS.from_user_input(ASSUMED_CRS).to_wkt(), True
    return None, False


def _geographic(wkt: str) -> bool:
    try:
        return bool(rasterio.crs.CRS.from_wkt(wkt).is_geographic)
    except _CRS_ERRORS:
        return False


def shift_longitudes(
    transform: Transform, width: int, *, geographic: bool
) -> tuple[Transform, int, str | None]:
    """(published transform, columns to roll, note) for a grid stored in 0..360 longitudes.

    A grid whose east edge is beyond 180 degrees: moved by -360 when it lies wholly east of
    180, rolled (its columns east of 180 placed first) when it spans the globe, else kept as
    it is with a note. Grids already within -180..180 (up to half a pixel) are unchanged."""
    a, b, c, d, e, f = transform
    if not geographic or b or d or a <= 0:
        return transform, 0, None
    right = c + a * width
    if right <= 180.0 + a / 2:
        return transform, 0, None
    if c >= 180.0 - a / 2:
        return (a, b, c - 360.0, d, e, f), 0, None
    if abs(width * a - 360.0) <= a / 2:
        k = round((180.0 - c) / a)
        return (a, b, c + k * a - 360.0, d, e, f), k, None
    note = f"longitudes {c:g}..{right:g} cross 180 degrees without covering the globe; kept"
    return transform, 0, note


def _grib(source: str, name: str) -> tuple[list[CubeVariable], list[str]]:
    """A GRIB file's variables: its bands grouped by element and level type (``grib.py``)."""
    with _open(source, name) as ds:
        if ds.transform.is_identity:
            return [], ["the GRIB grid has no geotransform"]
        crs_wkt, assumed = _crs(ds, {}, {})
        if crs_wkt is None:
            return [], ["the GRIB grid has no CRS"]
        grid = _grid(ds, crs_wkt, assumed)
        band_tags = [dict(ds.tags(i)) for i in range(1, ds.count + 1)]
        out = []
        for group in grib_groups(band_tags, list(ds.descriptions)):
            first = group.bands[0] - 1
            out.append(
                CubeVariable(
                    name=group.name,
                    source=source,
                    bands=group.bands,
                    dims=group.dims,
                    coords=group.coords,
                    dtype=ds.dtypes[first],
                    **grid,
                    unit=group.unit,
                    nodata=ds.nodatavals[first],
                    description=group.description,
                    band_tags=tuple(band_tags[b - 1] for b in group.bands),
                )
            )
    return out, []
