"""A minimal NetCDF-3 classic (CDF-1) writer, to synthesize multidimensional test files.

Neither netCDF4, h5py, scipy nor xarray is installed, and GDAL's netCDF driver writes one
variable per file from the raster API; this writes the documented classic format
(https://docs.unidata.ucar.edu/netcdf-c/current/file_format_specifications.html) directly:
fixed-size dimensions only (no record dimension), big-endian values, every variable stored
contiguously after the header. Enough for CF files the way data centres write them: coordinate
variables, packed integers with ``scale_factor``/``add_offset``, ``_FillValue``, 1-D variables.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_TYPES = {  # numpy dtype -> (nc_type, big-endian dtype)
    "int8": (1, ">i1"),
    "int16": (3, ">i2"),
    "int32": (4, ">i4"),
    "float32": (5, ">f4"),
    "float64": (6, ">f8"),
}
_CHAR = 2
_DIMENSION, _VARIABLE, _ATTRIBUTE = 0x0A, 0x0B, 0x0C
Attr = str | int | float | list[float] | np.ndarray


@dataclass
class Var:
    """One variable: its dimension names (outermost first), data and attributes."""

    dims: tuple[str, ...]
    data: np.ndarray
    attrs: dict[str, Attr] = field(default_factory=dict)


def _pad(raw: bytes) -> bytes:
    return raw + b"\x00" * (-len(raw) % 4)


def _name(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">i", len(raw)) + _pad(raw)


def _attr(name: str, value: Attr) -> bytes:
    if isinstance(value, str):
        raw = value.encode()
        return _name(name) + struct.pack(">ii", _CHAR, len(raw)) + _pad(raw)
    arr = np.atleast_1d(np.asarray(value))
    if arr.dtype == np.int64:
        arr = arr.astype("int32")
    nc_type, be = _TYPES[str(arr.dtype)]
    return _name(name) + struct.pack(">ii", nc_type, arr.size) + _pad(arr.astype(be).tobytes())


def _attrs(attrs: dict[str, Attr]) -> bytes:
    if not attrs:
        return struct.pack(">ii", 0, 0)
    return struct.pack(">ii", _ATTRIBUTE, len(attrs)) + b"".join(
        _attr(k, v) for k, v in attrs.items()
    )


def write_netcdf3(
    path: Path, dims: dict[str, int], variables: dict[str, Var], attrs: dict[str, Attr]
) -> Path:
    """Write a classic NetCDF file; every variable's shape must match its dimensions."""
    dim_ids = {name: i for i, name in enumerate(dims)}
    blobs: list[bytes] = []
    for name, var in variables.items():
        assert var.data.shape == tuple(dims[d] for d in var.dims), name
        blobs.append(_pad(var.data.astype(_TYPES[str(var.data.dtype)][1]).tobytes()))

    def header(begins: list[int]) -> bytes:
        out = b"CDF\x01" + struct.pack(">i", 0)
        out += struct.pack(">ii", _DIMENSION, len(dims))
        out += b"".join(_name(n) + struct.pack(">i", size) for n, size in dims.items())
        out += _attrs(attrs)
        out += struct.pack(">ii", _VARIABLE, len(variables))
        for (name, var), blob, begin in zip(variables.items(), blobs, begins, strict=True):
            out += _name(name) + struct.pack(">i", len(var.dims))
            out += b"".join(struct.pack(">i", dim_ids[d]) for d in var.dims)
            out += _attrs(var.attrs)
            out += struct.pack(">iii", _TYPES[str(var.data.dtype)][0], len(blob), begin)
        return out

    size = len(header([0] * len(variables)))  # offsets have a fixed width in CDF-1
    begins, offset = [], size
    for blob in blobs:
        begins.append(offset)
        offset += len(blob)
    path.write_bytes(header(begins) + b"".join(blobs))
    return path


# --- files the multidimensional tests share ------------------------------------------------------
LON_0_360 = np.arange(5.0, 360.0, 10.0)  # cell centres of a global 10-degree grid stored 0..360
LAT_UP = np.arange(-85.0, 90.0, 10.0)  # ascending, as most CF files store latitude
TAS_SCALE, TAS_FILL, PR_FILL = 0.01, -32767, -9999.0


def climate_cube(path: Path, *, with_1d: bool = True, with_bounds: bool = False) -> Path:
    """A CF file like a climate model's output: ``tas`` (packed int16, ``scale_factor`` 0.01,
    ``_FillValue`` -32767, degC) and ``pr`` (float32, ``_FillValue`` -9999, mm/day) over
    (time=3 days, lat=18, lon=36) with longitudes 0..360, no grid_mapping; optionally a 1-D
    ``station_height`` and ``time_bnds`` cell bounds (2-D, not on the grid)."""
    _, xx = np.meshgrid(LAT_UP, LON_0_360, indexing="ij")
    packed = np.stack([_packed_tas(t) for t in range(3)])
    pr = np.stack([np.abs(np.sin(np.radians(xx))) * (t + 1) for t in range(3)]).astype("float32")
    pr[:, -1, -1] = PR_FILL
    dims = {"time": 3, "lat": 18, "lon": 36, "nv": 2, "station": 4}
    time_attrs: dict[str, Attr] = {
        "units": "days since 2020-01-01 00:00:00",
        "standard_name": "time",
        "calendar": "standard",
        "axis": "T",
    }
    if with_bounds:
        time_attrs["bounds"] = "time_bnds"
    variables = {
        "time": Var(("time",), np.array([0.0, 1.0, 2.0]), time_attrs),
        "lat": Var(("lat",), LAT_UP, {"units": "degrees_north", "standard_name": "latitude"}),
        "lon": Var(("lon",), LON_0_360, {"units": "degrees_east", "standard_name": "longitude"}),
        "tas": Var(
            ("time", "lat", "lon"),
            packed,
            {
                "units": "degC",
                "long_name": "near-surface air temperature",
                "scale_factor": TAS_SCALE,
                "add_offset": 0.0,
                "_FillValue": np.array([TAS_FILL], dtype="int16"),
            },
        ),
        "pr": Var(
            ("time", "lat", "lon"),
            pr,
            {
                "units": "mm/day",
                "long_name": "precipitation",
                "_FillValue": np.array([PR_FILL], dtype="float32"),
            },
        ),
    }
    if with_bounds:
        bounds = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]])
        variables["time_bnds"] = Var(("time", "nv"), bounds, {})
    if with_1d:
        variables["station_height"] = Var(
            ("station",), np.array([1.0, 2.0, 3.0, 4.0]), {"units": "m"}
        )
    return write_netcdf3(path, dims, variables, {"Conventions": "CF-1.8", "title": "test cube"})


def expected_tas(step: int) -> np.ndarray:
    """``tas`` step ``step`` as stored (packed), north up and rolled to -180..180: the columns
    east of 180 degrees (lon 185..355) first."""
    return np.roll(_packed_tas(step)[::-1], -18, axis=1)


def _packed_tas(step: int) -> np.ndarray:
    yy, xx = np.meshgrid(LAT_UP, LON_0_360, indexing="ij")
    tas = np.cos(np.radians(yy)) * 30 + np.sin(np.radians(xx)) * 5 + step
    packed = np.round(tas / TAS_SCALE).astype("int16")
    packed[0, 0] = TAS_FILL  # south-west corner (lon 5) missing
    return packed
