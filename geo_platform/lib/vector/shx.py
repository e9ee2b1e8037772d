"""Shapefiles delivered without their ``.shx`` index (a ``.shp``, ``.dbf`` and ``.prj`` sent by
mail, a zip that lost one file): GDAL refuses them ("Unable to open ... .shx"), yet the index
holds nothing the ``.shp`` does not: each record's offset and length. It is rebuilt here, in a
private folder beside links to (or, from a zip, copies of) the Shapefile's other parts; bronze
is never written. A ``.shp`` whose records do not add up to its length is refused as truncated.
"""

from __future__ import annotations

import posixpath
import shutil
import struct
from pathlib import Path

from geo_platform.lib.errors import UnreadableFileError
from geo_platform.lib.gdal_paths import LinkDir, names_beside

_HEADER = 100
_FILE_CODE = 9994


def write_shx(shp: Path, shx: Path, display: str) -> int:
    """Write the index of ``shp`` to ``shx``; the number of records."""
    size = shp.stat().st_size
    entries = []
    with shp.open("rb") as fh:
        header = fh.read(_HEADER)
        if len(header) < _HEADER or struct.unpack_from(">i", header)[0] != _FILE_CODE:
            raise UnreadableFileError("not a Shapefile .shp (bad header)", path=display)
        pos = _HEADER
        while pos + 8 <= size:
            fh.seek(pos)
            _number, words = struct.unpack(">ii", fh.read(8))
            if words < 0 or pos + 8 + 2 * words > size:
                break
            entries.append(struct.pack(">ii", pos // 2, words))
            pos += 8 + 2 * words
    if pos != size:
        raise UnreadableFileError(
            f"the .shp is truncated or damaged at byte {pos} of {size}, and its .shx index is "
            "missing: it cannot be read",
            path=display,
        )
    length = struct.pack(">i", (_HEADER + 8 * len(entries)) // 2)
    shx.write_bytes(header[:24] + length + header[28:] + b"".join(entries))
    return len(entries)


def indexed(path: Path, display: str) -> tuple[Path, LinkDir | None]:
    """A ``.shp`` GDAL can open: ``path`` itself when its ``.shx`` lies beside it, else a link
    in a private folder, with links to its other parts and the ``.shx`` rebuilt."""
    stem = path.stem.lower()
    beside = (path.parent / n for n in names_beside(path, stem + "."))
    parts = [p for p in beside if p.stem.lower() == stem]
    if any(p.suffix.lower() == ".shx" for p in parts):
        return path, None
    holder = LinkDir()
    link = holder.path / "source.shp"
    link.symlink_to(path.resolve())
    for p in parts:
        target = holder.path / ("source" + p.suffix.lower())
        if not target.exists():
            target.symlink_to(p.resolve())
    write_shx(path, holder.path / "source.shx", display)
    return link, holder


def lacks_index(inner_shp: str, names: list[str]) -> bool:
    """True when the zip member ``inner_shp`` has no ``.shx`` among ``names``."""
    stem = posixpath.splitext(inner_shp)[0].lower()
    return stem + ".shx" not in {n.lower() for n in names}


def extracted(
    zip_path: Path, inner_shp: str, names: list[str], display: str
) -> tuple[Path, LinkDir]:
    """The parts of the Shapefile ``inner_shp`` of a zip copied out into a private folder (the
    zip's bomb limits already hold for them) under one stem, the ``.shx`` rebuilt if missing."""
    from geo_platform.lib.vector.archive import open_member

    stem = posixpath.splitext(inner_shp)[0].lower()
    holder = LinkDir()
    for member in names:
        base, ext = posixpath.splitext(member)
        if base.lower() == stem and ext:
            target = holder.path / ("source" + ext.lower())
            with open_member(zip_path, member) as (fh, _size), target.open("wb") as out:
                shutil.copyfileobj(fh, out, 1 << 20)
    shp = holder.path / "source.shp"
    if not (holder.path / "source.shx").exists():
        write_shx(shp, holder.path / "source.shx", display)
    return shp, holder


def stems_differ(inner_shp: str, names: list[str]) -> bool:
    """True when a part of the Shapefile ``inner_shp`` is named with its stem in another case
    (``Villes.shp`` beside ``VILLES.dbf``): GDAL, reading the zip in place, would not find it."""
    stem = posixpath.splitext(inner_shp)[0]
    return any(
        posixpath.splitext(n)[0] != stem and posixpath.splitext(n)[0].lower() == stem.lower()
        for n in names
    )
