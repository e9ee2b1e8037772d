"""Spreadsheets (Excel ``.xlsx``, OpenDocument ``.ods``) with coordinate or WKT columns.

Each sheet is a table, read by GDAL's XLSX/ODS driver with its first row as the header, and is
handed to the CSV rules (``csvsource``) through a temporary UTF-8 CSV copy: the same column
detection (lat/lon in several languages, or a WKT column, or the configured columns), the same
CRS rule (WGS84 lon/lat assumed only when the coordinates fit, recorded as assumed) and the same
errors. A sheet without coordinate columns (a legend, notes) is left out when another sheet has
them; when none has, the file fails with ``NoGeometryError`` naming every sheet. The workbook
is a zip: it passes the zip bomb checks before GDAL opens it.

Every sheet's first row is its header, whatever its position (``_first_row_headers``): GDAL's
XLSX driver reads the last sheet while it opens the workbook, before the open option
``HEADERS=FORCE`` reaches the dataset, so that sheet needs the configuration option too.
"""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
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
_HEADERS_OPTION = {"XLSX": "OGR_XLSX_HEADERS", "ODS": "OGR_ODS_HEADERS"}
_HEADERS_LOCK = threading.Lock()


def _sheets(gdal_path: str) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [str(name) for name, _ in pyogrio.list_layers(gdal_path)]


@contextmanager
def _first_row_headers(driver: str) -> Iterator[None]:
    """GDAL takes the first row of every sheet as its header while this holds.

    The open option ``HEADERS=FORCE`` alone misses a sheet: the XLSX driver reads the last one
    inside its ``Open`` (to drop trailing empty sheets), and GDAL attaches the open options to
    the dataset only once ``Open`` has returned. That sheet's header is then decided by the
    configuration option ``OGR_XLSX_HEADERS``, else guessed (a first row of text over a second
    row holding a number): a last sheet of text cells, as every CSV converted to a workbook has,
    came back as Field1, Field2... and was left out for want of coordinate columns. So the
    configuration option is set too. Pyogrio sets it for the whole process (GDAL's
    thread-local setter is not exposed): the lock keeps two readers from restoring it under
    each other, and the previous value (or none) is restored after the read."""
    name = _HEADERS_OPTION[driver]
    with _HEADERS_LOCK:
        previous = pyogrio.get_gdal_config_option(name)
        pyogrio.set_gdal_config_options({name: "FORCE"})
        try:
            yield
        finally:
            pyogrio.set_gdal_config_options({name: previous})


def _as_csv(gdal_path: str, sheet: str, driver: str) -> csvsource.TempCopy | None:
    """The sheet as a temporary UTF-8 CSV, its first row the header, every cell as text;
    None for a sheet without rows."""
    with warnings.catch_warnings(), _first_row_headers(driver):
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
    kinds: dict[str, str] = {}
    for sheet in _sheets(base.gdal_path):
        holder = _as_csv(base.gdal_path, sheet, driver)
        if holder is None:
            refused[sheet], kinds[sheet] = "the sheet has no rows", EmptyDatasetError.__name__
            continue
        as_csv = replace(base, gdal_path=holder.path, keepalive=holder, name=sheet)
        try:
            (layer,) = csvsource.csv_layers(as_csv, options)
        except (NoGeometryError, EmptyDatasetError) as exc:
            why = str(exc).removeprefix(f"{base.display}: ")
            refused[sheet] = why.replace("the CSV has", "it has").replace("CSV has", "it has")
            kinds[sheet] = type(exc).__name__
            continue
        layers.append(replace(layer, driver=driver))
    if layers:  # the other sheets are named among the file's layers not published
        left = tuple((s, f"{kinds[s]}: sheet not published: {why}") for s, why in refused.items())
        return [replace(layers[0], left_out=left), *layers[1:]]
    detail = "; ".join(f"sheet {s!r}: {why}" for s, why in refused.items()) or "no sheets"
    raise NoGeometryError(f"no sheet holds coordinates ({detail})", path=base.display)
