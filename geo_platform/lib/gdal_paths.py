"""Local paths as GDAL must see them: no file name ever reaches GDAL as syntax.

Bronze names may hold any character the blob store allows (``;``, ``,``, ``#``, ``!``, ``?``,
spaces, quotes, braces...). Two readers would take some of them as syntax:

- pyogrio parses a path as a URI before GDAL sees it: ``a;b.gpkg`` is cut at the ``;`` (URI
  parameters), ``a!b.gpkg`` at the ``!`` (archive member), and a ``.zip`` suffix adds
  ``/vsizip/``. Such files are read through a symlink with a plain name (``gdal_safe``).
- GDAL's ``/vsizip/`` finds the archive inside a path by its ``.zip`` extension: an archive
  named otherwise is given in braces, ``/vsizip/{/path/archive}/member`` (``vsizip``).

rasterio takes an absolute local path literally, so raster files need only ``vsizip``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from pathlib import Path

from geo_platform.lib.errors import UnsupportedFormatError

ARCHIVE_SUFFIXES = (".zip", ".kmz")
"""Archive extensions GDAL's ``/vsizip/`` recognises in a plain path."""


class LinkDir:
    """A private temporary folder of symlinks, deleted when the last object holding it goes
    away (keep it referenced, e.g. as ``LayerSource.keepalive``, while GDAL reads)."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="geo_platform_"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.path, True)


def names_beside(path: Path, prefix: str) -> list[str]:
    """The names of the other entries of ``path``'s folder that start with ``prefix``, case
    aside: a file's sidecars. One listing of plain names: a bronze folder of the local store
    holds every file of the folder, and this runs once per file."""
    low = prefix.lower()
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    return [n for n in names if n != path.name and n.lower().startswith(low)]


def pyogrio_reads_literally(path: str) -> bool:
    """True when pyogrio hands ``path`` to GDAL unchanged (no URI or archive syntax in it)."""
    from pyogrio.util import vsi_path

    return vsi_path(path) == path


def gdal_safe(path: Path, suffix: str | None = None) -> tuple[Path, LinkDir | None]:
    """(a path readers take literally, the folder to keep alive or None).

    The file itself when its name is plain and its extension is ``suffix`` (default: its own);
    else a symlink named ``source<suffix>``, with links for the files sharing its stem (a
    Shapefile's ``.shx``/``.dbf``/``.prj``, a raster's world file) beside it. ``suffix`` gives
    a file recognised by its content the extension its GDAL driver expects (``.csv``).
    """
    real = path.resolve()
    wanted = suffix if suffix is not None else path.suffix
    if pyogrio_reads_literally(str(real)) and path.suffix.lower() == wanted.lower():
        return real, None
    holder = LinkDir()
    stem = path.stem.lower()
    link = holder.path / ("source" + wanted)
    link.symlink_to(real)
    for p in path.parent.iterdir():
        sibling = holder.path / ("source" + p.suffix)
        if p.stem.lower() == stem and p != path and not sibling.exists():
            sibling.symlink_to(p.resolve())
    return link, holder


def split_nested(member: str) -> tuple[str, str | None]:
    """(zip member, path inside it) when ``member`` lies in a zip inside the zip
    (``parts/roads.zip/roads.shp`` -> ``parts/roads.zip``, ``roads.shp``); else (member, None)."""
    parts = member.split("/")
    for i, segment in enumerate(parts[:-1]):
        if segment.lower().endswith(".zip"):
            return "/".join(parts[: i + 1]), "/".join(parts[i + 1 :])
    return member, None


def vsizip(archive: Path, member: str = "") -> str:
    """The GDAL path of ``member`` inside the zip ``archive`` (the archive itself if empty).

    ``/vsizip/<archive>/<member>`` when the archive's name ends in ``.zip`` or ``.kmz``;
    otherwise (an archive recognised by its content) the brace form GDAL reads for any name.
    A member inside a zip in the zip (``split_nested``) is read through both:
    ``/vsizip/{/vsizip/<archive>/<inner.zip>}/<member>``.
    """
    outer, inner = split_nested(member)
    if inner is not None:
        base = vsizip(archive, outer)
        if "{" in base or "}" in base:
            raise UnsupportedFormatError(
                f"zip member {outer!r}: a zip in a zip whose path holds braces cannot be "
                "opened by GDAL",
                path=archive.name,
            )
        return f"/vsizip/{{{base}}}/{inner}"
    text = str(archive.resolve())
    tail = f"/{member}" if member else ""
    if text.lower().endswith(ARCHIVE_SUFFIXES):
        return f"/vsizip/{text}{tail}"
    if "{" in text or "}" in text:
        raise UnsupportedFormatError(
            "a zip archive without a .zip extension whose path contains braces cannot be "
            "opened by GDAL; name it *.zip",
            path=archive.name,
        )
    return f"/vsizip/{{{text}}}{tail}"


def split_vsizip(gdal_path: str) -> tuple[Path, str] | None:
    """``vsizip`` reversed: (archive, member) of a ``/vsizip/`` path, or None."""
    if not gdal_path.startswith("/vsizip/"):
        return None
    rest = gdal_path[len("/vsizip/") :]
    if rest.startswith("{/vsizip/"):  # a member of a zip in the zip
        braced, _, member = rest[1:].rpartition("}")
        outer = split_vsizip(braced)
        if outer is None:
            return None
        return outer[0], f"{outer[1]}/{member.lstrip('/')}"
    if rest.startswith("{"):
        archive, _, member = rest[1:].partition("}")
        return Path(archive), member.lstrip("/")
    parts = rest.split("/")
    for i in range(1, len(parts) + 1):  # the first archive on the way, as GDAL does
        candidate = "/".join(parts[:i])
        if candidate.lower().endswith(ARCHIVE_SUFFIXES) and Path(candidate).is_file():
            return Path(candidate), "/".join(parts[i:])
    return None


def readable_member_name(name: str) -> str:
    """A zip member's name as its author wrote it. Zips made by Info-ZIP ``zip`` or macOS
    store UTF-8 names without the UTF-8 flag, which Python (and GDAL, ``CPL_ZIP_ENCODING``)
    then decode as CP437: ``straßen`` reads ``stra├ƒen``. Such a name is re-read as UTF-8
    when its bytes are valid UTF-8 (as 7-Zip and unzip do); any other name is returned as is.
    For labels and messages only: GDAL and ``zipfile`` open the member by the name they
    decoded."""
    try:
        fixed = name.encode("cp437").decode("utf-8")
    except UnicodeError:
        return name
    return fixed
