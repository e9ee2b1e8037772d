"""The variables of a NetCDF classic file, read from its header (CDF-1, CDF-2 and CDF-5).

GDAL's raster API shows only the variables it can open as rasters (two or more dimensions):
a 1-D or scalar variable, such as station heights or a time series, never appears. To say
which variables a publication ignored, the classic header is read here: it lists every
dimension and variable with its dimensions and attribute names, at the start of the file
(https://docs.unidata.ucar.edu/netcdf-c/current/file_format_specifications.html). NetCDF-4
(HDF5) files have no such header; for them only what GDAL reports is known.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

_MAGIC = {b"CDF\x01": 1, b"CDF\x02": 2, b"CDF\x05": 5}
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 6: 8, 7: 1, 8: 2, 9: 4, 10: 8, 11: 8}
_ABSENT, _DIMENSION, _VARIABLE, _ATTRIBUTE = 0, 0x0A, 0x0B, 0x0C
_MAX_ITEMS = 1_000_000


@dataclass(frozen=True)
class CdfVariable:
    """A variable of the file: its dimension names (outermost first) and text attributes."""

    name: str
    dims: tuple[str, ...]
    attrs: dict[str, str]


class _Reader:
    def __init__(self, buf: mmap.mmap, version: int) -> None:
        self.buf, self.pos, self.version = buf, 4, version

    def num(self, wide: bool = False) -> int:
        fmt, size = (">q", 8) if wide else (">i", 4)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return int(value)

    def count(self) -> int:
        value = self.num(wide=self.version == 5)
        if not 0 <= value <= _MAX_ITEMS:
            raise ValueError(f"implausible count {value}")
        return value

    def bytes(self, size: int) -> bytes:
        raw = bytes(self.buf[self.pos : self.pos + size])
        if len(raw) != size:
            raise ValueError("header runs past the end of the file")
        self.pos += size + (-size % 4)
        return raw

    def name(self) -> str:
        return self.bytes(self.count()).decode("utf-8", "replace")


def _read_list(r: _Reader) -> tuple[int, int]:
    tag = r.num()
    n = r.count()
    if tag not in (_ABSENT, _DIMENSION, _VARIABLE, _ATTRIBUTE):
        raise ValueError(f"unexpected header tag {tag}")
    return tag, n


def _attributes(r: _Reader) -> dict[str, str]:
    _, n = _read_list(r)
    out: dict[str, str] = {}
    for _ in range(n):
        name = r.name()
        nc_type, nelems = r.num(), r.count()
        raw = r.bytes(nelems * _TYPE_SIZES.get(nc_type, 1))
        out[name] = raw.decode("utf-8", "replace").rstrip("\x00") if nc_type == 2 else ""
    return out


def read_cdf_variables(path: Path) -> list[CdfVariable] | None:
    """Every variable of a NetCDF classic file, or None when ``path`` is not one (or its header
    cannot be read): HDF5-based NetCDF-4, GRIB, anything else."""
    parsed = _read(path)
    return None if parsed is None else parsed[0]


def cdf_data_end(path: Path) -> int | None:
    """The byte where the last variable's data ends, from the header (fixed-size variables at
    ``begin + vsize``, record variables after ``numrecs`` records), or None when ``path`` is no
    NetCDF classic file or is being streamed (``numrecs`` unknown). A file shorter than that
    is truncated: GDAL would read its missing tail as fill values."""
    parsed = _read(path)
    return None if parsed is None else parsed[1]


def _read(path: Path) -> tuple[list[CdfVariable], int | None] | None:
    try:
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            version = _MAGIC.get(bytes(buf[:4]))
            if version is None:
                return None
            return _parse(_Reader(buf, version))
    except (OSError, ValueError, struct.error):
        return None


def _parse(r: _Reader) -> tuple[list[CdfVariable], int | None]:
    numrecs = r.num(wide=r.version == 5)
    _, ndims = _read_list(r)
    dims, lengths = [], []
    for _ in range(ndims):
        dims.append(r.name())
        lengths.append(r.count())  # 0: the record (unlimited) dimension
    _attributes(r)  # global attributes
    _, nvars = _read_list(r)
    out, fixed_end, records = [], 0, []
    for _ in range(nvars):
        name = r.name()
        ids = [r.count() for _ in range(r.count())]
        attrs = _attributes(r)
        r.num()  # nc_type
        vsize = r.num(wide=r.version == 5)
        begin = r.num(wide=r.version != 1)
        out.append(CdfVariable(name, tuple(dims[i] for i in ids if i < len(dims)), attrs))
        if ids and ids[0] < len(lengths) and lengths[ids[0]] == 0:
            records.append((begin, vsize))
        else:
            fixed_end = max(fixed_end, begin + vsize)
    if not records:
        return out, fixed_end
    if numrecs < 0 or numrecs == 0xFFFFFFFF:  # STREAMING: the count is not written yet
        return out, None
    recsize = sum(v for _, v in records) if len(records) > 1 else records[0][1]
    last = max(b + (numrecs - 1) * recsize + v for b, v in records) if numrecs else 0
    return out, max(fixed_end, last)
