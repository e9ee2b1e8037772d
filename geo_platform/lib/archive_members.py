"""What an archive holds, judged from its member names: a zip or tar recognised by its content
(``content.content_kind``), a ``.zip`` or ``.7z`` listed from its ends (``lib.archive_kind``),
the members that are no data (``__MACOSX``, an office document's parts, a picture no world
file places), the Zarr stores in a zip, and the members of a zip inside a zip."""

from __future__ import annotations

import copy
import posixpath
import struct
import zipfile
import zlib
from collections.abc import Iterator

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
_INNER_HEAD_BYTES = 256 * 1024  # of an inner zip decoded from a zip's first bytes
_BOMB_BYTES = 10 * 2**20  # a larger member that expands 200x is a bomb (``raster.opening``)


def is_document_archive(names: list[str]) -> bool:
    """True when zip member names are those of an office document or package (.docx, .xlsx,
    .odt, .jar...) rather than a folder of data files."""
    return any(n.lower().startswith(_DOCUMENT_MEMBERS) for n in names)


def _local_headers(head: bytes, limit: int) -> Iterator[tuple[str, int, bytes]]:
    """(name, compression method, data as far as ``head`` holds it) of the zip members whose
    local headers lie within ``head``, in archive order."""
    pos = count = 0
    while count < limit and head[pos : pos + 4] == b"PK\x03\x04" and pos + 30 <= len(head):
        flags, method = struct.unpack_from("<HH", head, pos + 6)
        csize, _usize, nlen, xlen = struct.unpack_from("<IIHH", head, pos + 18)
        raw = head[pos + 30 : pos + 30 + nlen]
        start = pos + 30 + nlen + xlen
        streamed = bool(flags & 0x8) or csize == 0xFFFFFFFF
        data = head[start:] if streamed else head[start : start + csize]
        yield raw.decode("utf-8" if flags & 0x800 else "cp437", errors="replace"), method, data
        count += 1
        if streamed:
            break  # sizes follow the data (streamed zip) or zip64: cannot skip to the next one
        pos = start + csize


def zip_member_names(head: bytes, limit: int = 200) -> list[str]:
    """Names of the zip members whose local headers lie within ``head`` (in archive order)."""
    return [name for name, _, _ in _local_headers(head, limit)]


def nested_member_names(head: bytes, limit: int = 200) -> list[str]:
    """``<inner.zip>/<member>`` for the members of the zips inside a zip that its first bytes
    ``head`` show: each inner zip (stored or deflated) as far as ``head`` holds it, its own
    first members. Enough to tell a zip of zipped rasters from one of zipped Shapefiles
    without the whole file (a zip's table of contents lies at its end)."""
    out: list[str] = []
    for name, method, data in _local_headers(head, limit):
        if not name.lower().endswith(".zip") or is_archive_noise(name):
            continue
        inner = data if method == 0 else b""
        if method == 8:  # deflated: the start of the stream decodes alone
            try:
                inner = zlib.decompressobj(-15).decompress(data, _INNER_HEAD_BYTES)
            except zlib.error:
                inner = b""
        out += [f"{name}/{member}" for member in zip_member_names(inner, limit)]
    return out


def nested_infos(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The files of ``archive``, a zip inside it (one level: ``inner.zip``) replaced by its own
    files, named ``<inner.zip>/<member>`` (``gdal_paths.vsizip`` reads them through both). An
    inner zip that cannot be read, or that expands as a zip bomb does (listing it would inflate
    it all), stays a member as it is."""
    out: list[zipfile.ZipInfo] = []
    for info in archive.infolist():
        if info.is_dir():
            continue
        inner: list[zipfile.ZipInfo] = []
        zipped = info.filename.lower().endswith(".zip") and not is_archive_noise(info.filename)
        bomb = info.file_size > _BOMB_BYTES and info.file_size > 200 * max(info.compress_size, 1)
        if zipped and not bomb:
            try:
                with archive.open(info) as raw, zipfile.ZipFile(raw) as nested:
                    inner = [_within(info.filename, i) for i in nested.infolist() if not i.is_dir()]
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError):
                inner = []
        out += inner or [info]
    return out


def _within(outer: str, info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    nested = copy.copy(info)
    nested.filename = f"{outer}/{info.filename}"
    return nested


ZARR_METADATA = frozenset({".zgroup", ".zarray", "zarr.json"})
"""The members that make a folder a Zarr store (v2 group or array, v3 node)."""


def zarr_stores(members: list[str]) -> list[str]:
    """The Zarr stores among an archive's members: each store's folder (``dem.zarr``), or ''
    for a store at the archive's root (as Zarr's own ``ZipStore`` writes it). A store is one
    raster, which GDAL's Zarr driver opens through ``/vsizip/``; its members are its parts."""
    folders = {posixpath.dirname(m) for m in members if posixpath.basename(m) in ZARR_METADATA}
    stores: list[str] = []
    for folder in sorted(folders, key=lambda f: (len(f.split("/")) if f else 0, f)):
        if not is_archive_noise(folder) and not any(in_store(folder, s) for s in stores):
            stores.append(folder)
    return stores


def in_store(member: str, store: str) -> bool:
    """True when ``member`` is (a part of) the Zarr store ``store`` (``zarr_stores``)."""
    return store == "" or member == store or member.startswith(store + "/")


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
    file, an ``.aux.xml`` or a MapInfo ``.tab`` is a raster (that ``.tab`` is no vector), and
    so is a Zarr store (``zarr_stores``). Members of a zip inside the zip count when listed
    (``inner.zip/a.tif``: ``nested_member_names``, ``nested_infos``)."""
    stores = zarr_stores(members)  # their parts are no vector (``zarr.json``) and no noise
    names = [
        n.lower()
        for n in members
        if not is_archive_noise(n) and not any(in_store(n, s) for s in stores)
    ]
    roles = listed_roles(names)
    envi = "raster" in roles.values()  # ENVI's extensionless data file
    lowered = set(names)
    placed = any(not is_unplaced_picture(n, lowered) for n in names if n.endswith(_PICTURES))
    vector = any(
        (n.endswith(_ZIP_VECTOR_MEMBERS) and roles.get(n) != "sidecar") or ".gdb/" in n
        for n in names
    )
    rasters = envi or placed or bool(stores) or any(n.endswith(_ZIP_RASTER_MEMBERS) for n in names)
    if rasters and not vector:
        return "raster", "recognised by its content (a zip holding a raster)"
    if vector:
        return "vector", "recognised by its content (a zip holding vector data)"
    if is_document_archive(names):
        return "unsupported", "a zip archive of an office document or package (.docx, .odt...)"
    if names:
        shown = ", ".join(posixpath.basename(n.rstrip("/")) for n in names[:3])
        return "vector", f"a zip archive ({shown}...), taken as a vector source"
    return "vector", "a zip archive, taken as a vector source"
