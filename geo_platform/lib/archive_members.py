"""What an archive holds, judged from its member names: a zip or tar recognised by its content
(``content.content_kind``), a ``.zip`` or ``.7z`` listed from its ends (``lib.archive_kind``),
and the members that are no data (``__MACOSX``, an office document's parts, a picture no world
file places)."""

from __future__ import annotations

import posixpath
import struct

from geo_platform.lib.file_kinds import listed_roles
from geo_platform.lib.types import BlobClass

_ZIP_RASTER_MEMBERS = (".tif", ".tiff", ".hgt", ".jp2", ".img", ".asc", ".nc", ".grib", ".grb2",
                       ".dt0", ".dt1", ".dt2", ".bil", ".flt", ".bsq", ".bip", ".sdat", ".rst",
                       ".ers", ".grd", ".ecw", ".h5", ".hdf5", ".he5", ".nc4", ".grb", ".grib2",
                       ".kea", ".ntf", ".nitf", ".gtif", ".geotiff", ".cog", ".j2k", ".bt",
                       ".ter", ".dem", ".sid", ".xyz")  # fmt: skip
_ZIP_VECTOR_MEMBERS = (".shp", ".gpkg", ".sqlite", ".geojson", ".json", ".kml", ".fgb",
                       ".gdbtable", ".gml", ".gpx", ".csv", ".parquet", ".gdb/", ".tab",
                       ".mif")  # fmt: skip
_DOCUMENT_MEMBERS = ("[content_types].xml", "mimetype", "meta-inf/")


def is_document_archive(names: list[str]) -> bool:
    """True when zip member names are those of an office document or package (.docx, .xlsx,
    .odt, .jar...) rather than a folder of data files."""
    return any(n.lower().startswith(_DOCUMENT_MEMBERS) for n in names)


def zip_member_names(head: bytes, limit: int = 200) -> list[str]:
    """Names of the zip members whose local headers lie within ``head`` (in archive order)."""
    names: list[str] = []
    pos = 0
    while len(names) < limit and head[pos : pos + 4] == b"PK\x03\x04" and pos + 30 <= len(head):
        flags, _method = struct.unpack_from("<HH", head, pos + 6)
        csize, _usize, nlen, xlen = struct.unpack_from("<IIHH", head, pos + 18)
        raw = head[pos + 30 : pos + 30 + nlen]
        names.append(raw.decode("utf-8" if flags & 0x800 else "cp437", errors="replace"))
        if flags & 0x8 or csize == 0xFFFFFFFF:
            break  # sizes follow the data (streamed zip) or zip64: cannot skip to the next one
        pos += 30 + nlen + xlen + csize
    return names


_PICTURES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
_PLACED_BY = (".wld", ".pgw", ".pngw", ".jgw", ".jpgw", ".jpegw", ".gfw", ".gifw", ".aux.xml",
              ".tab")  # fmt: skip


def is_unplaced_picture(member: str, lowered: set[str]) -> bool:
    """A picture (PNG, JPEG...) in an archive that no world file or ``.aux.xml`` among the
    members (``lowered``: their names in lowercase) places on the map: a preview, a legend, an
    icon, not a raster to publish."""
    stem, ext = posixpath.splitext(member.lower())
    return ext in _PICTURES and not any(
        stem + p in lowered or member.lower() + p in lowered for p in _PLACED_BY
    )


def is_archive_noise(member: str) -> bool:
    """Archive members that are never data: macOS resource forks (``__MACOSX/``, ``._name``)
    and other hidden files or folders."""
    return any(part == "__MACOSX" or part.startswith(".") for part in member.split("/") if part)


def tar_kind(members: list[str]) -> tuple[BlobClass, str]:
    """(kind, reason) of a tar from the member names its first bytes show: vector members make
    it a vector, anything else a raster (``lib.tarred``)."""
    names = [n.lower() for n in members if not is_archive_noise(n)]
    if any(n.endswith(_ZIP_VECTOR_MEMBERS) or ".gdb/" in n for n in names):
        return "vector", "recognised by its content (a tar holding vector data)"
    return "raster", "recognised by its content (a tar archive, taken as a raster delivery)"


def zip_kind(members: list[str]) -> tuple[BlobClass, str]:
    """(kind, reason) of a zip archive from its member names (see the module docstring);
    archive noise (``__MACOSX/._roads.shp``) does not count. A picture placed by a world
    file, an ``.aux.xml`` or a MapInfo ``.tab`` is a raster (that ``.tab`` is no vector)."""
    names = [n.lower() for n in members if not is_archive_noise(n)]
    roles = listed_roles(names)
    envi = "raster" in roles.values()  # ENVI's extensionless data file
    lowered = set(names)
    placed = any(not is_unplaced_picture(n, lowered) for n in names if n.endswith(_PICTURES))
    vector = any(
        (n.endswith(_ZIP_VECTOR_MEMBERS) and roles.get(n) != "sidecar") or ".gdb/" in n
        for n in names
    )
    if (envi or placed or any(n.endswith(_ZIP_RASTER_MEMBERS) for n in names)) and not vector:
        return "raster", "recognised by its content (a zip holding a raster)"
    if vector:
        return "vector", "recognised by its content (a zip holding vector data)"
    if is_document_archive(names):
        return "unsupported", "a zip archive of an office document or package (.docx, .odt...)"
    if names:
        shown = ", ".join(posixpath.basename(n.rstrip("/")) for n in names[:3])
        return "vector", f"a zip archive ({shown}...), taken as a vector source"
    return "vector", "a zip archive, taken as a vector source"
