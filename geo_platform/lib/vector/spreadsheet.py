"""Spreadsheets (Excel ``.xlsx``, OpenDocument ``.ods``) with coordinate or WKT columns.

Each sheet is a table, read by GDAL's XLSX/ODS driver with its first row as the header, and is
handed to the CSV rules (``csvsource``) through a temporary UTF-8 CSV copy: the same column
detection (lat/lon in several languages, or a WKT column, or the configured columns), the same
CRS rule (WGS84 lon/lat assumed only when the coordinates fit, recorded as assumed) and the same
errors. A sheet without coordinate columns (a legend, notes) is left out when another sheet has
them; when none has, the file fails with ``NoGeometryError`` naming every sheet. The workbook
is a zip: it passes the zip bomb checks before GDAL opens it.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyogrio

from geo_platform.lib.errors import EmptyDatasetError, NoGeometryError
from geo_platform.lib.vector import csvsource
from geo_platform.lib.vector.options import VectorOptions

DRIVERS = {"xlsx": "XLSX", "ods": "ODS"}
FORMATS = {driver: fmt for fmt, driver in DRIVERS.items()}  # "XLSX" -> "xlsx"


def _sheets(gdal_path: str) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [str(name) for name, _ in pyogrio.list_layers(gdal_path)]


def _as_csv(gdal_path: str, sheet: str) -> csvsource.TempCopy | None:
    """The sheet as a temporary UTF-8 CSV, its first row the header, every cell as text;
    None for a sheet without rows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, table = pyogrio.read_arrow(gdal_path, layer=sheet, HEADERS="FORCE")
    if table.num_rows == 0 or table.num_columns == 0:
        return None
    table = pa.table({n: table.column(i).cast(pa.string()) for i, n in
                      enumerate(_unique(table.column_names))})  # fmt: skip
    fd, tmp = tempfile.mkstemp(suffix=".csv", prefix="geo_platform_")
    os.close(fd)
    holder = csvsource.TempCopy(tmp)
    pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_style="needed"))
    return holder


def _unique(names: list[str]) -> list[str]:
    """Header names as the CSV rules expect them unique; the CSV reader renames repeats."""
    return [n if names.index(n) == i else f"{n}_{i + 1}" for i, n in enumerate(names)]


def spreadsheet_layers(base: Any, fmt: str, options: VectorOptions) -> list[Any]:
    """The sheets of a workbook that hold coordinates, each a CSV layer named after its sheet."""
    driver = DRIVERS[fmt]
    layers: list[Any] = []
    refused: dict[str, str] = {}
    for sheet in _sheets(base.gdal_path):
        holder = _as_csv(base.gdal_path, sheet)
        if holder is None:
            refused[sheet] = "the sheet has no rows"
            continue
        as_csv = replace(base, gdal_path=holder.path, keepalive=holder, name=sheet)
        try:
            (layer,) = csvsource.csv_layers(as_csv, options)
        except (NoGeometryError, EmptyDatasetError) as exc:
            refused[sheet] = str(exc).removeprefix(f"{base.display}: ")
            continue
        layers.append(replace(layer, driver=driver))
    if layers:
        return layers
    detail = "; ".join(f"sheet {s!r}: {why}" for s, why in refused.items()) or "no sheets"
    raise NoGeometryError(f"no sheet holds coordinates ({detail})", path=base.display)
