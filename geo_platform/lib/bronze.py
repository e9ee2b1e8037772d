"""Bronze layer: what a blob is, and what the sensor should do about a listing.

Three pure pieces, used by the sensor, by ``geo-platform ingest --wait`` and by the bronze assets:

- ``classify`` decides from the name (and size) whether a blob is a raster, a vector, a sidecar
  of another file (``.aux.xml``, ``.jgw``, a shapefile's ``.dbf``...) or unsupported;
- ``sniff_format`` looks at the first bytes, because extensions lie;
- ``plan_tick`` compares a listing with the state the previous tick saved and says which
  partitions are new, which changed (new etag), which disappeared, and which blobs to report.
"""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from geo_platform.lib.errors import EmptyFileError
from geo_platform.lib.types import BlobClass, BlobInfo, DataKind

RASTER_EXTENSIONS = frozenset(
    {".tif", ".tiff", ".gtif", ".geotiff", ".jp2", ".j2k", ".img", ".grib", ".grib2", ".grb",
     ".grb2", ".hgt", ".asc", ".nc", ".png", ".jpg", ".jpeg", ".webp", ".bil", ".dem", ".ecw"}
)  # fmt: skip
VECTOR_EXTENSIONS = frozenset(
    {".geojson", ".json", ".geojsonl", ".geojsons", ".ndjson", ".gpkg", ".shp", ".zip", ".csv",
     ".kml", ".kmz", ".fgb", ".parquet", ".geoparquet", ".gml", ".gpx"}
)  # fmt: skip
# Companions of another file: never a partition of their own.
SHAPEFILE_SIDECARS = frozenset(
    {".dbf", ".shx", ".prj", ".cpg", ".sbn", ".sbx", ".qix", ".fix", ".shp.xml", ".atx", ".ain",
     ".aih"}
)  # fmt: skip
RASTER_SIDECARS = frozenset(
    {".aux.xml", ".ovr", ".jgw", ".jpgw", ".tfw", ".tifw", ".tiffw", ".wld", ".pgw", ".pngw",
     ".j2w", ".msk", ".rrd", ".aux", ".hdr", ".xml", ".idx", ".md5", ".sha256"}
)  # fmt: skip
SIDECARS = SHAPEFILE_SIDECARS | RASTER_SIDECARS
MULTI_EXTENSIONS = (".aux.xml", ".shp.xml", ".hgt.zip", ".gdb.zip", ".tar.gz")


def extension(path: str) -> str:
    """Lowercase extension, aware of double extensions such as '.aux.xml' and '.hgt.zip'."""
    name = posixpath.basename(path).lower()
    for multi in MULTI_EXTENSIONS:
        if name.endswith(multi) and len(name) > len(multi):
            return multi
    return posixpath.splitext(name)[1]


@dataclass(frozen=True)
class Classification:
    kind: BlobClass
    reason: str = ""


def classify(path: str, size: int | None = None) -> Classification:
    """What the platform will do with a blob, judged by its name and size.

    Zipped SRTM tiles (``.hgt.zip``) are rasters; other zips are vectors (shapefile, FileGDB).
    """
    name = posixpath.basename(path)
    ext = extension(path)
    if not name or name.startswith(".") or name.startswith("~$"):
        return Classification("unsupported", "hidden or temporary file")
    if size == 0:
        return Classification("unsupported", "zero-byte file")
    if ext in {".hgt.zip"}:
        return Classification("raster")
    if ext in {".gdb.zip"}:
        return Classification("vector")
    if ext in SIDECARS:
        return Classification("sidecar", f"sidecar file ({ext}) of another file")
    if ext in RASTER_EXTENSIONS:
        return Classification("raster")
    if ext in VECTOR_EXTENSIONS:
        return Classification("vector")
    if not ext:
        return Classification("unsupported", "no file extension")
    return Classification("unsupported", f"unsupported extension {ext!r}")


def is_archive_noise(member: str) -> bool:
    """Archive members that are never data: macOS resource forks (``__MACOSX/``, ``._name``)
    and other hidden files or folders."""
    return any(part == "__MACOSX" or part.startswith(".") for part in member.split("/") if part)


def sidecar_names(path: str, existing: Iterable[str]) -> list[str]:
    """Blobs next to ``path`` that belong to it (same stem): a shapefile's parts, a world file."""
    folder = posixpath.dirname(path)
    stem = posixpath.splitext(posixpath.basename(path))[0].lower()
    out = []
    for other in existing:
        if other == path or posixpath.dirname(other) != folder:
            continue
        base = posixpath.basename(other).lower()
        ext = extension(other)
        if ext in SIDECARS and (base.startswith(stem + ".")):
            out.append(other)
    return sorted(out)


# --- content sniffing --------------------------------------------------------------------------
_MAGIC: list[tuple[bytes, int, str]] = [
    (b"II*\x00", 0, "GTiff"),
    (b"MM\x00*", 0, "GTiff"),
    (b"II+\x00", 0, "GTiff"),  # BigTIFF
    (b"MM\x00+", 0, "GTiff"),
    (b"\x00\x00\x00\x0cjP  ", 0, "JP2OpenJPEG"),
    (b"\xff\x4f\xff\x51", 0, "JP2OpenJPEG"),  # raw J2K codestream
    (b"GRIB", 0, "GRIB"),
    (b"EHFA_HEADER_TAG", 0, "HFA"),
    (b"PK\x03\x04", 0, "ZIP"),
    (b"PK\x05\x06", 0, "ZIP"),  # empty zip
    (b"SQLite format 3\x00", 0, "GPKG"),
    (b"fgb\x03", 0, "FlatGeobuf"),
    (b"PAR1", 0, "Parquet"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"\x00\x00\x27\x0a", 0, "ESRI Shapefile"),
    (b"CDF\x01", 0, "netCDF"),
    (b"CDF\x02", 0, "netCDF"),
    (b"\x89HDF\r\n\x1a\n", 0, "netCDF"),
    (b"RIFF", 0, "WEBP"),
    (b"\x1f\x8b", 0, "GZIP"),
]
SRTM_SIZES = {2884802: "SRTMHGT", 25934402: "SRTMHGT"}


def sniff_format(path: Path) -> str:
    """The file format judged from its content ('GTiff', 'GPKG', 'ZIP', 'GeoJSON', 'KML', 'CSV',
    'SRTMHGT', 'text', 'unknown'). Raises ``EmptyFileError`` for a zero-byte file."""
    size = path.stat().st_size
    if size == 0:
        raise EmptyFileError("the file is empty (0 bytes)", path=path.name)
    with path.open("rb") as fh:
        head = fh.read(4096)
    for magic, offset, fmt in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return fmt
    if size in SRTM_SIZES and path.suffix.lower() == ".hgt":
        return SRTM_SIZES[size]
    return _sniff_text(head)


def _sniff_text(head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        return "unknown"
    try:
        sample = text.decode("utf-8")
    except UnicodeDecodeError:
        try:
            sample = text.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes everything
            return "unknown"
        if sum(ch < " " and ch not in "\t\r\n" for ch in sample) > len(sample) // 20:
            return "unknown"
    lowered = sample[:2000].lower()
    if sample[0] in "{[":
        first_line = sample.splitlines()[0] if sample.splitlines() else sample
        if sample[0] == "{" and first_line.rstrip().endswith("}") and "\n{" in sample:
            return "GeoJSONSeq"
        return "GeoJSON"
    if sample[0] == "\x1e":
        return "GeoJSONSeq"
    if lowered.startswith("<?xml") or lowered.startswith("<"):
        if "<kml" in lowered:
            return "KML"
        if "<gpx" in lowered:
            return "GPX"
        if "<vrtdataset" in lowered:
            return "VRT"
        if "gml" in lowered:
            return "GML"
        return "XML"
    if lowered.startswith("ncols") or lowered.startswith("nrows"):
        return "AAIGrid"
    first = lowered.splitlines()[0] if lowered else ""
    if any(sep in first for sep in (",", ";", "\t", "|")):
        return "CSV"
    return "text"


def sha256_file(path: Path, chunk: int = 4 << 20) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


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
    sidecars: int = 0
    deferred: int = 0
    listed: int = 0
    state: dict[str, str] = field(default_factory=dict)


def _etag_digest(etag: str) -> str:
    return hashlib.sha1(etag.encode()).hexdigest()[:10]


def plan_tick(
    listing: Iterable[BlobInfo],
    state: dict[str, str],
    max_new: int = 25_000,
    in_collection: Callable[[str], bool] | None = None,
) -> TickPlan:
    """Compare a bronze listing with the previous state.

    ``state`` maps blob path -> "<kind-letter><etag digest>" ('r', 'v' for partitions, 'u' for
    reported unsupported blobs, 's' for sidecars, 'c' for members of a raster collection, which
    the collection asset publishes, not the per-file pipeline). New blobs beyond ``max_new`` are
    deferred to the next tick (left out of the new state so they count as new again).
    """
    plan = TickPlan()
    letters: dict[str, DataKind] = {"r": "raster", "v": "vector"}
    n_new = 0
    for blob in listing:
        plan.listed += 1
        cls = classify(blob.path, blob.size)
        digest = _etag_digest(blob.etag)
        prev = state.get(blob.path)
        if in_collection is not None and in_collection(blob.path):
            plan.state[blob.path] = "c" + digest
            continue
        if cls.kind == "sidecar":
            plan.sidecars += 1
            plan.state[blob.path] = "s" + digest
            continue
        if cls.kind == "unsupported":
            if prev != "u" + digest:
                plan.unsupported.append((blob, cls.reason))
            plan.state[blob.path] = "u" + digest
            continue
        kind: DataKind = cls.kind
        letter = kind[0]
        if prev is None or prev[0] not in letters:
            if n_new >= max_new:
                plan.deferred += 1
                continue
            n_new += 1
            plan.new[kind].append(blob)
        elif prev[1:] != digest:
            plan.changed[kind].append(blob)
        plan.state[blob.path] = letter + digest
    for path, prev in state.items():
        if path not in plan.state and prev[0] in letters:
            plan.removed[path] = letters[prev[0]]
    return plan


def encode_state(state: dict[str, str]) -> str:
    """Compact cursor text: zlib-compressed JSON, base64 (about 20 bytes per blob)."""
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return "z1:" + base64.b64encode(zlib.compress(raw, 6)).decode()


def decode_state(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    if not cursor.startswith("z1:"):
        raise ValueError("unknown bronze sensor cursor format")
    data: dict[str, str] = json.loads(zlib.decompress(base64.b64decode(cursor[3:])))
    return data
