"""CSV members of a zip that also holds other vector files (a Shapefile, a GeoPackage...).

Such a CSV is often an attribute table or a code list beside the data, but it may as well be
a layer of its own: the wells of a delivery whose parcels are a Shapefile, as a CSV of
latitudes and longitudes. One whose header names coordinate or WKT columns, or whose first row
holds WKT or hex WKB (``content.csv_header_has_geometry``), publishes as a layer; the others
are named among what the file does not publish (``left_out``), never dropped silently. A zip of
CSVs alone is read as before (``archive.find_vectors``: each CSV is a layer).
"""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path

from geo_platform.lib.bronze import is_archive_noise
from geo_platform.lib.content import csv_header_has_geometry
from geo_platform.lib.errors import InputError
from geo_platform.lib.gdal_paths import readable_member_name
from geo_platform.lib.vector.archive import ArchiveVector, find_vectors, open_member

HEAD = 1 << 16
_TABLES = (".csv", ".tsv")


def tables_beside(
    path: Path, names: list[str], found: list[ArchiveVector]
) -> tuple[list[ArchiveVector], list[str]]:
    """(the CSV members with coordinates, the CSV members without) of a zip whose vectors
    ``found`` include other files than CSVs; ([], []) when they do not."""
    if all(v.driver == "CSV" for v in found):
        return [], []
    taken = {v.inner_path for v in found}
    located: list[ArchiveVector] = []
    others: list[str] = []
    for name in names:
        if name in taken or is_archive_noise(name) or not name.lower().endswith(_TABLES):
            continue
        with open_member(path, name) as (stream, _size):
            head = stream.read(HEAD)
        if csv_header_has_geometry(head):
            stem = posixpath.splitext(posixpath.basename(name))[0]
            located.append(ArchiveVector(name, "CSV", readable_member_name(stem)))
        else:
            others.append(name)
    return located, others


def tables_without_coordinates(path: Path) -> list[str]:
    """The CSV members of the zip at ``path`` left out as tables without coordinates."""
    if not zipfile.is_zipfile(path):
        return []
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    try:
        found = find_vectors(names, str(path))
    except InputError:
        return []
    return tables_beside(path, names, found)[1]
