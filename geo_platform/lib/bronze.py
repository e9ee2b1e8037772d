"""Bronze layer: what a blob is, and what the sensor should do about a listing.

Pure pieces, used by the sensor, by ``geo-platform ingest --wait`` and by the bronze assets:

- ``classify`` decides from the name (and size) whether a blob is a raster, a vector, a sidecar
  of another file (``.aux.xml``, ``.jgw``, a shapefile's ``.dbf``...) or unsupported; a name the
  platform cannot take (``..`` segments, not UTF-8) is unsupported, and an unknown or missing
  extension makes the blob a *candidate* whose first bytes decide (``needs_content``);
- ``classify_content`` decides for a candidate from its first bytes (see ``lib.content`` for
  the rule: the extension is only a hint, content decides);
- ``plan_tick`` compares a listing with the state the previous tick saved and says which
  partitions are new, which changed (new etag), which disappeared, and which blobs to report.
  No single blob can stop it: a blob it cannot judge is reported and skipped.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from geo_platform.lib.archive_kind import archive_kind, judged_by_members
from geo_platform.lib.archive_members import is_archive_noise
from geo_platform.lib.compressed import COMPRESSED_EXTENSIONS
from geo_platform.lib.content import VRT_ALONE, content_kind, sniff_format
from geo_platform.lib.errors import is_retryable
from geo_platform.lib.file_kinds import (
    COMPRESSED_VECTORS,
    RASTER_EXTENSIONS,
    SIDECARS,
    VECTOR_EXTENSIONS,
    extension,
    listed_roles,
    sidecar_names,
    sidecar_stem,
)
from geo_platform.lib.naming import blob_name_problem, display_name
from geo_platform.lib.types import BlobClass, BlobInfo, DataKind

__all__ = ["Classification", "TickPlan", "classify", "classify_content", "is_archive_noise",
           "plan_tick", "sidecar_names", "sidecar_stem", "sniff_format"]  # fmt: skip


@dataclass(frozen=True)
class Classification:
    kind: BlobClass
    reason: str = ""
    needs_content: bool = False
    """An unknown or missing extension: the blob's first bytes decide (``classify_content``)."""


def classify(path: str, size: int | None = None) -> Classification:
    """What the platform will do with a blob, judged by its name and size.

    Zipped SRTM tiles (``.hgt.zip``) and zips named after a raster (``dem.tif.zip``) are
    rasters; other zips are vectors (Shapefile, FileGDB). A name the platform cannot take is
    unsupported, and so is a ``.vrt`` (it points at files not beside it). An unknown or missing
    extension is unsupported *by name* with ``needs_content`` set: the sensor then looks at the
    content (``classify_content``); so is a ``.map`` without a ``.tab`` beside it
    (``classify_listed``): a MapInfo sidecar by name, a PCRaster raster by content.
    """
    problem = blob_name_problem(path)
    if problem:
        return Classification("unsupported", problem)
    name = posixpath.basename(path)
    ext = extension(path)
    if not name or name.startswith(".") or name.startswith("~$"):
        return Classification("unsupported", "hidden or temporary file")
    if size == 0:
        return Classification("unsupported", "zero-byte file")
    if ext in {".hgt.zip"} or (ext == ".zip" and _inner_extension(name) in RASTER_EXTENSIONS):
        return Classification("raster")
    compressed = ext in COMPRESSED_EXTENSIONS  # roads.geojson.gz, dem.asc.bz2, a.gpkg.xz
    if ext in {".gdb.zip"} or (compressed and _inner_extension(name) in COMPRESSED_VECTORS):
        return Classification("vector")
    if compressed and _inner_extension(name) in RASTER_EXTENSIONS:
        return Classification("raster")
    if ext == ".map":  # a MapInfo table's geometry, or a PCRaster raster: content decides
        return Classification("sidecar", "a MapInfo .map without its .tab", needs_content=True)
    if ext == ".vrt":
        return Classification("unsupported", VRT_ALONE)
    if ext in SIDECARS:
        return Classification("sidecar", f"sidecar file ({ext}) of another file")
    if ext in RASTER_EXTENSIONS:
        return Classification("raster")
    if ext == ".json":  # GeoJSON, or a portal's metadata.json beside the data: content decides
        return Classification("vector", "a .json file", needs_content=True)
    if ext in VECTOR_EXTENSIONS:
        return Classification("vector")
    reason = f"unknown extension {ext!r}" if ext else "no file extension"
    return Classification("unsupported", reason, needs_content=True)


def _inner_extension(name: str) -> str:
    """'dem.tif.zip' -> '.tif' (the extension before the archive's own)."""
    return posixpath.splitext(posixpath.splitext(name.lower())[0])[1]


def classify_content(blob: BlobInfo, head: bytes) -> Classification:
    """The class of a candidate blob (``needs_content``) from its first bytes. A ``.map`` is a
    raster when it is PCRaster's (its CSF header), else a MapInfo table's part (a sidecar)."""
    kind, reason = content_kind(head, posixpath.basename(blob.path), blob.size)
    if kind != "raster" and extension(blob.path) == ".map":
        return Classification("sidecar", "a MapInfo .map without its .tab")
    if kind == "unsupported" and extension(blob.path) == ".json":
        reason = reason.replace("unknown extension, and its content", "its content")
    return Classification(kind, "" if kind in ("raster", "vector") else reason)


def classify_listed(blob: BlobInfo, roles: Mapping[str, str]) -> Classification:
    """``classify``, aware of what is listed beside the blob (``roles``: ``listed_roles`` of
    the listing): the data file of an ENVI ``.hdr`` is a raster, that of an ER Mapper ``.ers``
    its sidecar."""
    cls = classify(blob.path, blob.size)
    role = roles.get(blob.path)
    if role == "raster" and (cls.kind == "sidecar" or cls.needs_content):
        return Classification("raster")
    if role == "sidecar" and (cls.needs_content or cls.kind == "vector"):  # a raster's .tab
        return Classification("sidecar")
    return cls


# --- sensor planning -------------------------------------------------------------------------
@dataclass
class TickPlan:
    """What one sensor tick should do. Keys are blob paths; ``state`` is the next cursor state."""

    new: dict[DataKind, list[BlobInfo]] = field(
        default_factory=lambda: {"raster": [], "vector": []}
    )
    changed: dict[DataKind, list[BlobInfo]] = field(
        default_factory=lambda: {"raster": [], "vector": []}
    )
    removed: dict[str, str] = field(default_factory=dict)  # path -> kind ("raster"/"vector")
    unsupported: list[tuple[BlobInfo, str]] = field(default_factory=list)  # newly seen only
    retry: list[tuple[BlobInfo, str]] = field(default_factory=list)
    """Blobs skipped this tick for a reason that may pass (left out of the state: judged again
    next tick, and reported again while the reason lasts)."""
    sidecars: int = 0
    deferred: int = 0
    listed: int = 0
    sniffed: int = 0
    zips_read: int = 0  # .zip blobs whose member list was read (``read_tail``)
    state: dict[str, str] = field(default_factory=dict)


def _etag_digest(etag: str) -> str:
    return hashlib.sha1(etag.encode("utf-8", "backslashreplace")).hexdigest()[:10]


HeadReader = Callable[[BlobInfo], bytes]
"""Reads the first bytes of a blob (``content.HEAD_BYTES``), for candidates."""
_LETTERS: dict[str, DataKind] = {"r": "raster", "v": "vector"}


class _Unread(Exception):
    """A blob's bytes could not be read for a reason that will not pass."""


def _read(blob: BlobInfo, read: HeadReader) -> bytes:
    """``read(blob)``; a failure that may pass skips the blob this tick (``_Skip``)."""
    try:
        return read(blob)
    except Exception as exc:
        if is_retryable(exc):
            raise _Skip(f"could not read part of it (will retry): {exc}") from exc
        raise _Unread(str(exc)) from exc


class _Skip(Exception):
    """This blob is left out of this tick (deferred or retried), with an optional reason."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Planner:
    state: dict[str, str]
    max_new: int
    in_collection: Callable[[str], bool] | None
    read_head: HeadReader | None
    max_sniffs: int
    read_tail: HeadReader | None = None  # the last ``zip_kind.TAIL_BYTES`` of a .zip or .7z
    max_zip_reads: int = 1000
    roles: dict[str, str] = field(default_factory=dict)  # ``listed_roles`` of the listing
    plan: TickPlan = field(default_factory=TickPlan)
    n_new: int = 0
    touched: list[str] = field(default_factory=list)  # "<path>@<digest>" of new/changed sidecars
    unchanged: list[tuple[BlobInfo, DataKind]] = field(default_factory=list)

    def add(self, blob: BlobInfo) -> None:
        self.plan.listed += 1
        prev = self.state.get(blob.path)
        try:
            self._add(blob, _etag_digest(blob.etag), prev)
            return
        except _Skip as skip:
            if skip.reason:
                self.plan.retry.append((blob, skip.reason))
            else:
                self.plan.deferred += 1
        except Exception as exc:  # no blob can stop a tick: report it, judge it again next tick
            self.plan.retry.append((blob, f"could not be judged: {type(exc).__name__}: {exc}"))
        if prev is not None:  # skipped, not gone: never reported as removed
            self.plan.state[blob.path] = prev

    def _add(self, blob: BlobInfo, digest: str, prev: str | None) -> None:
        problem = blob_name_problem(blob.path)
        if problem:
            return self._unsupported(blob, digest, prev, problem)
        if self.in_collection is not None and self._member(blob.path):
            self.plan.state[blob.path] = "c" + digest
            return None
        cls = classify_listed(blob, self.roles)
        letter = "u"  # unsupported by name ('n': by content, kept until the etag changes)
        if self.read_tail and judged_by_members(blob.path, cls.kind):
            cls = Classification(self._archive_kind(blob, prev, self.read_tail))
        if cls.needs_content:
            cls = self._by_content(blob, cls, digest, prev)
            letter = "u" if cls.needs_content else "n"
        if cls.kind == "sidecar":
            self.plan.sidecars += 1
            if prev != "s" + digest:
                self.touched.append(f"{blob.path}@{digest}")
            self.plan.state[blob.path] = "s" + digest
            return None
        if cls.kind == "unsupported":
            return self._unsupported(blob, digest, prev, cls.reason, letter)
        return self._partition(blob, cls.kind, digest, prev)

    def _member(self, path: str) -> bool:
        assert self.in_collection is not None
        try:
            return self.in_collection(path)
        except Exception as exc:
            raise _Skip(f"cannot tell whether it belongs to a raster collection: {exc}") from exc

    def _by_content(
        self, blob: BlobInfo, cls: Classification, digest: str, prev: str | None
    ) -> Classification:
        """Candidates are read once per etag; a kind already decided is kept on a new etag."""
        if prev is not None and prev[0] in _LETTERS:
            return Classification(_LETTERS[prev[0]])
        if prev == "n" + digest:
            return Classification("unsupported", cls.reason)  # judged by content already
        if prev == "s" + digest and cls.kind == "sidecar":
            return Classification("sidecar")  # a .map that is no PCRaster: not read every tick
        if self.read_head is None:
            return cls
        if self.plan.sniffed >= self.max_sniffs:
            raise _Skip()
        self.plan.sniffed += 1
        try:
            return classify_content(blob, _read(blob, self.read_head))
        except _Unread as exc:
            return Classification("unsupported", f"{cls.reason}; could not read it: {exc}")

    def _archive_kind(self, blob: BlobInfo, prev: str | None, read_tail: HeadReader) -> DataKind:
        """A ``.zip``'s or ``.7z``'s kind from its member list, read once (``max_zip_reads``
        per tick; a 7z's first bytes too); a kind already decided is kept on a new etag."""
        if prev is not None and prev[0] in _LETTERS:
            return _LETTERS[prev[0]]
        if self.plan.zips_read >= self.max_zip_reads:
            raise _Skip()
        self.plan.zips_read += 1
        try:
            head = self.read_head
            first = (lambda: _read(blob, head)) if head else None
            return archive_kind(blob.path, blob.size, _read(blob, read_tail), first)
        except _Unread:
            return "vector"  # the vector pipeline reports what is wrong with the file

    def _unsupported(
        self, blob: BlobInfo, digest: str, prev: str | None, reason: str, letter: str = "u"
    ) -> None:
        if prev != letter + digest:
            self.plan.unsupported.append((blob, reason))
        self.plan.state[blob.path] = letter + digest

    def _partition(self, blob: BlobInfo, kind: BlobClass, digest: str, prev: str | None) -> None:
        assert kind in ("raster", "vector")
        if prev is None or prev[0] not in _LETTERS:
            if self.n_new >= self.max_new:
                raise _Skip()
            self.n_new += 1
            self.plan.new[kind].append(blob)
        elif prev[1:] != digest:
            self.plan.changed[kind].append(blob)
        else:
            self.unchanged.append((blob, kind))
        self.plan.state[blob.path] = kind[0] + digest


def plan_tick(
    listing: Iterable[BlobInfo],
    state: dict[str, str],
    max_new: int = 25_000,
    in_collection: Callable[[str], bool] | None = None,
    read_head: HeadReader | None = None,
    max_sniffs: int = 100,
    unlisted: Callable[[str], bool] | None = None,
    read_tail: HeadReader | None = None,
    max_zip_reads: int = 1000,
) -> TickPlan:
    """Compare a bronze listing with the previous state.

    ``state`` maps blob path -> "<kind-letter><etag digest>" ('r', 'v' for partitions, 'u' for
    reported unsupported blobs, 'n' for candidates whose content was not recognised, 's' for
    sidecars, 'c' for members of a raster collection, which the collection asset publishes,
    not the per-file pipeline). New blobs beyond ``max_new`` and candidates beyond
    ``max_sniffs`` content reads are deferred to the next tick (left out
    of the new state so they count as new again).

    No blob stops the tick: an unsafe name is reported as unsupported; a blob whose collection
    marker or content cannot be read now is skipped and reported (``retry``), then judged
    again next tick. ``unlisted(path)`` is True for paths in parts of the container the
    listing could not cover (it failed there): their state is kept and they are never reported
    as removed, so a listing error never looks like deletions. With ``read_tail``, a new
    ``.zip`` is listed from its last bytes, a ``.7z`` from its first and last (at most
    ``max_zip_reads`` per tick, the others wait): holding rasters and no vector makes it a
    raster, else it is a vector (``lib.archive_kind``).
    """
    listing = list(listing)  # ENVI and ER Mapper data files are told by the header beside them
    roles = listed_roles(b.path for b in listing)
    planner = _Planner(
        state, max_new, in_collection, read_head, max_sniffs, read_tail, max_zip_reads, roles=roles
    )
    for blob in listing:
        planner.add(blob)
    plan = planner.plan
    for path, prev in state.items():
        if path in plan.state:
            continue
        if unlisted is not None and unlisted(path):
            plan.state[path] = prev
        elif prev[0] in _LETTERS:
            plan.removed[path] = _LETTERS[prev[0]]
        elif prev[0] == "s":
            planner.touched.append(f"{path}@removed")
    _rerun_for_sidecars(plan, planner.unchanged, planner.touched)
    return plan


def _rerun_for_sidecars(
    plan: TickPlan, unchanged: list[tuple[BlobInfo, DataKind]], touched: list[str]
) -> None:
    """A file whose sidecar arrived, changed or went away since the last tick runs again (a
    ``.dbf`` after its ``.shp``, a ``.prj`` added to fix a missing CRS, a world file), as the
    version ``<etag>+sidecars:<digest>`` (not the version already published)."""
    if not touched:
        return
    by_folder: dict[str, list[str]] = {}
    for entry in touched:
        by_folder.setdefault(posixpath.dirname(entry.rpartition("@")[0]), []).append(entry)
    for blob, kind in unchanged:
        near = by_folder.get(posixpath.dirname(blob.path), [])
        mine = sorted(e for e in near if sidecar_names(blob.path, [e.rpartition("@")[0]]))
        if mine:
            digest = hashlib.sha1("\n".join(mine).encode()).hexdigest()[:10]
            plan.changed[kind].append(replace(blob, etag=f"{blob.etag}+sidecars:{digest}"))


def state_entry(kind: DataKind, etag: str) -> str:
    """The state a partition blob of ``kind`` at ``etag`` has in ``plan_tick``'s cursor."""
    return kind[0] + _etag_digest(etag)


def reportable(items: Iterable[tuple[BlobInfo, str]], limit: int) -> dict[str, str]:
    """{printable blob name: reason} for observations and logs (at most ``limit`` entries)."""
    out: dict[str, str] = {}
    for blob, reason in items:
        if len(out) >= limit:
            break
        out[display_name(blob.path)] = reason
    return out
