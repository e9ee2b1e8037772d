"""What a ``.zip`` blob holds, judged from its last bytes: rasters or vectors.

A zip's table of contents (its central directory) sits at its end, so the sensor reads the
last ``TAIL_BYTES`` of a new ``.zip`` blob (one ranged request, like the first bytes of a file
without extension) and lists its members without downloading it. A zip whose data members are
rasters (``scan.zip`` holding ``scan/scan.tif`` and its ``.tfw``) goes to the raster pipeline
(a README or other non-data file beside them does not count), by the rule a zip recognised by
its content follows (``archive_members.zip_kind``); any other zip (Shapefiles, a FileGDB, a mix of
rasters and vectors, or a table of contents that does not fit in the tail) stays a vector, as
its extension says. A zip of zips is judged by what the zips inside it hold, as far as its
first bytes show them, and a Zarr store in a zip is a raster. Zips named after a raster
(``dem.tif.zip``, ``N45E006.hgt.zip``) are rasters by name already (``bronze.classify``).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

from geo_platform.lib.archive_members import is_archive_noise, nested_member_names, zip_kind
from geo_platform.lib.types import DataKind

TAIL_BYTES = 256 * 1024
"""How much of a zip's end the sensor reads: the table of contents of about 3,000 members."""


class Ends(io.RawIOBase):
    """A read-only file of ``size`` bytes of which only the first ``len(head)`` and the last
    ``len(tail)`` are known; reading between them raises ``NotInEnds``."""

    def __init__(self, head: bytes, tail: bytes, size: int) -> None:
        self.head, self.tail, self.size, self.pos = head, tail, size, 0
        self.start = size - len(tail)
        if 0 < self.start <= len(head):  # they meet: the whole file is known
            self.head = head[: self.start] + tail

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        self.pos = base + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, n: int | None = -1) -> bytes:
        end = self.size if n is None or n < 0 else min(self.size, self.pos + n)
        if end <= len(self.head):
            out = self.head[self.pos : end]
        elif self.pos >= self.start:
            out = self.tail[self.pos - self.start : end - self.start]
        elif end > self.pos:
            raise NotInEnds
        else:
            out = b""
        self.pos += len(out)
        return out

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class NotInEnds(Exception):
    pass


def members_from_tail(tail: bytes, size: int) -> list[str] | None:
    """The member names of a zip of ``size`` bytes ending with ``tail``, or None when it is
    not a zip or its table of contents does not fit in ``tail`` (ZIP64 included)."""
    try:
        with zipfile.ZipFile(Ends(b"", tail, size)) as archive:
            return archive.namelist()
    except (NotInEnds, zipfile.BadZipFile, ValueError, OSError, EOFError):
        return None


def kind_from_tail(
    tail: bytes, size: int, read_head: Callable[[], bytes] | None = None
) -> DataKind:
    """Raster when the members listed in ``tail`` make the zip a raster by the rule zips
    recognised by content follow (``archive_members.zip_kind``), else vector (also when they cannot
    be listed). A zip holding zips (and no raster besides) is judged with the members of the
    zips inside it that its first bytes show (``read_head``, read only then;
    ``archive_members.nested_member_names``): zipped rasters make it a raster."""
    members = members_from_tail(tail, size)
    if members is None:
        return "vector"
    kind = zip_kind(members)[0]
    if kind != "raster" and read_head is not None and _holds_zips(members):
        head = tail if len(tail) >= size else read_head()  # a small zip is all in its tail
        kind = zip_kind(members + nested_member_names(head))[0]
    return "raster" if kind == "raster" else "vector"


def _holds_zips(members: list[str]) -> bool:
    return any(m.lower().endswith(".zip") and not is_archive_noise(m) for m in members)
