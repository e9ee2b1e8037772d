"""The text encoding of a Shapefile's DBF, where GDAL's own choice would corrupt or refuse it.

GDAL takes a DBF's encoding from its ``.cpg``, else from the language driver id (LDID, byte 29
of the header). Two of its choices go wrong on real files:

- LDID 0x57 (ESRI's "ANSI", what ArcGIS writes) and a ``.cpg`` saying ``ISO-8859-1`` are read
  as ISO-8859-1. Such files are Windows text (cp1252) in practice: the en dash, curly quotes,
  euro sign and oe ligature of "l’Église – Cœur" would become invisible C1 control characters
  (U+0080..U+009F), silently. They are read as CP1252, which decodes every other byte the same
  way; unless the records hold one of the five bytes CP1252 leaves undefined (then GDAL's
  ISO-8859-1 stands).
- A ``.cpg`` GDAL does not understand (``ANSI 1252``, written by some ESRI tools) leaves the
  bytes undecoded. A code page however it is spelled (``ANSI 1252``, ``windows-1252``,
  ``CP 1251``) is read as that code page; an unknown name whose records are not UTF-8 fails
  with a ``DecodingError`` quoting the ``.cpg`` (it used to fail later, not naming it).

The ``encoding`` option, when set, wins over all of this.
"""

from __future__ import annotations

import codecs
import posixpath
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO

from geo_platform.lib.errors import DecodingError
from geo_platform.lib.vector.archive import open_member
from geo_platform.lib.vector.options import gdal_encoding

Opener = Callable[[], AbstractContextManager[IO[bytes]]]

LDID_ANSI = 0x57  # ESRI "ANSI": the Windows code page, which GDAL reads as ISO-8859-1
CP1252_UNDEFINED = b"\x81\x8d\x8f\x90\x9d"
_CODE_PAGE = re.compile(r"(?:ANSI|WINDOWS|WIN|CP|MS)?[-_ ]*(\d{3,5})")  # "ANSI 1252", "1251"
_LATIN1_NAMES = re.compile(r"(ISO[-_ ]*)?8859[-_ ]*1|LATIN[-_ ]*1|L1|ANSI")  # ANSI: as LDID 0x57
_CHUNK = 1 << 20


def shapefile_encoding(
    option: str | None, cpg: bytes | None, dbf: Opener, display: str
) -> str | None:
    """The encoding GDAL is to read the DBF with (GDAL's spelling), or None for GDAL's own
    choice. ``cpg`` is the ``.cpg``'s content (None without one); ``dbf`` opens the DBF;
    ``display`` names the file in errors."""
    if option:
        return gdal_encoding(option)
    declared = (cpg or b"").decode("latin-1").strip().strip("\x00").strip()
    if not declared:
        with dbf() as fh:
            head = fh.read(32)
        if len(head) > 29 and head[29] == LDID_ANSI:
            return _cp1252_unless_undefined(dbf)
        return None
    name = declared.upper()
    if _LATIN1_NAMES.fullmatch(name):
        return _cp1252_unless_undefined(dbf)
    page = _CODE_PAGE.fullmatch(name)
    if page and _python_knows(f"cp{page.group(1)}"):
        return gdal_encoding(f"cp{page.group(1)}")
    if name.startswith("LDID/") or _python_knows(declared) or _records_are_utf8(dbf):
        return None  # GDAL's own reading (an LDID, a name it knows) or nothing to decode
    raise DecodingError(
        f"the Shapefile's .cpg names the encoding {declared!r}, which is not one GDAL or Python "
        "knows, and the DBF's text is not UTF-8; fix the .cpg (e.g. 'UTF-8', '1252') or set the "
        "vector encoding option (e.g. cp1252) for this file",
        path=display,
    )


def loose_encoding(shp: Path, option: str | None, display: str) -> str | None:
    """``shapefile_encoding`` of a loose ``.shp`` (its ``.dbf`` and ``.cpg`` beside it)."""
    stem = shp.stem.lower()
    parts = {p.suffix.lower(): p for p in shp.parent.iterdir() if p.stem.lower() == stem}
    cpg = parts[".cpg"].read_bytes()[:256] if ".cpg" in parts else None
    dbf = parts[".dbf"]
    return shapefile_encoding(option, cpg, lambda: dbf.open("rb"), display)


def member_encoding(
    zip_path: Path, shp_member: str, names: list[str], option: str | None, display: str
) -> str | None:
    """``shapefile_encoding`` of a Shapefile in a zip (``names``: the zip's members)."""
    stem = posixpath.splitext(shp_member)[0].lower()
    parts = {posixpath.splitext(n)[1].lower(): n for n in names
             if posixpath.splitext(n)[0].lower() == stem}  # fmt: skip
    if ".dbf" not in parts:
        return None  # refused on its own (``archive``)
    cpg = None
    if ".cpg" in parts:
        with open_member(zip_path, parts[".cpg"]) as (fh, _size):
            cpg = fh.read(256)

    @contextmanager
    def dbf() -> Iterator[IO[bytes]]:
        with open_member(zip_path, parts[".dbf"]) as (fh, _size):
            yield fh

    return shapefile_encoding(option, cpg, dbf, display)


def _records(dbf: Opener) -> Iterator[bytes]:
    """The DBF's records (everything after its header), in chunks."""
    with dbf() as fh:
        head = fh.read(32)
        if len(head) < 32:
            return
        fh.read(max(0, int.from_bytes(head[8:10], "little") - 32))
        while chunk := fh.read(_CHUNK):
            yield chunk


def _cp1252_unless_undefined(dbf: Opener) -> str | None:
    """CP1252, or None (GDAL's ISO-8859-1) when a record holds a byte CP1252 does not define."""
    for chunk in _records(dbf):
        if any(b in chunk for b in CP1252_UNDEFINED):
            return None
    return "CP1252"


def _records_are_utf8(dbf: Opener) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for chunk in _records(dbf):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _python_knows(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True
