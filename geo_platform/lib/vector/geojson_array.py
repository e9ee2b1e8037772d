"""A JSON array of GeoJSON Features (``[{"type": "Feature", ...}, ...]``), as some web APIs and
scripts export them.

It is not a GeoJSON text (RFC 7946 asks for a FeatureCollection), and GDAL recognises no
format in it: it failed with "GDAL recognises no vector format". Such a file is read from a
copy wrapped as a FeatureCollection: its bytes are copied unchanged between
``{"type": "FeatureCollection", "features": `` and ``}``, so nothing is parsed here and every
check of the loader applies to its features as to any GeoJSON's. The copy lives in a private
temporary folder, deleted with the last layer that reads it (``gdal_paths.LinkDir``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from geo_platform.lib.gdal_paths import LinkDir

HEAD_BYTES = 65_536
_BOM = b"\xef\xbb\xbf"
_FEATURE = re.compile(rb'"type"\s*:\s*"Feature"\s*[,}]')
_OPEN = b'{"type": "FeatureCollection", "features": '


class Wrapped:
    """The FeatureCollection copy of an array of Features (``path``), kept with its folder."""

    def __init__(self, folder: LinkDir, name: str) -> None:
        self.folder = folder
        self.path = folder.path / name


def is_array(path: Path) -> bool:
    """True when ``path`` is a JSON array of objects whose head holds a GeoJSON Feature's
    ``"type": "Feature"``."""
    with path.open("rb") as fh:
        body = fh.read(HEAD_BYTES).removeprefix(_BOM).lstrip()
    if not body.startswith(b"[") or not body[1:].lstrip().startswith(b"{"):
        return False
    return _FEATURE.search(body) is not None


def if_array(path: Path) -> Wrapped | None:
    """The wrapped copy when ``path`` is such an array (``is_array``), else None."""
    if not is_array(path):
        return None
    with path.open("rb") as fh:
        skip = len(_BOM) if fh.read(len(_BOM)) == _BOM else 0
    holder = Wrapped(LinkDir(), path.name)
    with path.open("rb") as src, holder.path.open("wb") as dst:
        src.seek(skip)
        dst.write(_OPEN)
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.write(b"}")
    return holder
