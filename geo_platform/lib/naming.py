"""The one sanitizer for every name derived from a file name.

Table names, STAC collection and item ids, silver blob paths and Dagster partition keys all come
from bronze blob paths, which can hold anything (spaces, quotes, unicode, ``..``, control
characters, very long names). Names are made deterministic and readable; when sanitizing loses
information, a short hash of the original is appended so that two different sources never map
to the same name.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import unicodedata

from anyascii import anyascii

from geo_platform.lib.errors import UnsafePathError

PG_MAX_IDENTIFIER_BYTES = 63
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NON_WORD = re.compile(r"[^a-z0-9]+")

# Words that are reserved in PostgreSQL (and awkward as bare identifiers); a suffix avoids them.
_PG_RESERVED = frozenset(
    [
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "authorization",
        "binary",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "collation",
        "column",
        "concurrently",
        "constraint",
        "create",
        "cross",
        "current_catalog",
        "current_date",
        "current_role",
        "current_schema",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "freeze",
        "from",
        "full",
        "grant",
        "group",
        "having",
        "ilike",
        "in",
        "initially",
        "inner",
        "intersect",
        "into",
        "is",
        "isnull",
        "join",
        "lateral",
        "leading",
        "left",
        "like",
        "limit",
        "localtime",
        "localtimestamp",
        "natural",
        "not",
        "notnull",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "outer",
        "overlaps",
        "placing",
        "primary",
        "references",
        "returning",
        "right",
        "select",
        "session_user",
        "similar",
        "some",
        "symmetric",
        "system_user",
        "table",
        "tablesample",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "verbose",
        "when",
        "where",
        "window",
        "with",
    ]
)


def short_hash(text: str, length: int = 8) -> str:
    """A stable hex digest of ``text`` (not for security)."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def ascii_fold(text: str) -> str:
    """Letters in ASCII: accents and other marks dropped ('Hněvošický' -> 'Hnevosicky'), other
    letters transliterated by ``anyascii`` ('Straße' -> 'Strasse', 'Łódź' -> 'Lodz',
    'Москва' -> 'Moskva', 'Αθήνα' -> 'Athina', '東京' -> 'DongJing'); what is not a letter or
    a digit in any script (an emoji, a degree sign) is dropped."""
    if text.isascii():
        return text
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        if ch.isascii():
            out.append(ch)
        elif unicodedata.category(ch)[0] in "LN":  # letters, digits
            out.append(anyascii(ch))
    return "".join(out)


def slugify(text: str, sep: str = "_", max_bytes: int | None = None, keep: str = "") -> str:
    """Lowercase ASCII words joined by ``sep``; appends a hash when the result is lossy.

    The result is never empty and never longer than ``max_bytes``.
    """
    folded = ascii_fold(text).lower()
    pattern = re.compile(f"[^a-z0-9{re.escape(keep)}]+") if keep else _NON_WORD
    slug = pattern.sub(sep, folded).strip(sep + keep)
    # Lowercasing and folder separators count as lossless (readable names); anything else that
    # changed gets a hash so that "a b" and "a_b" never map to the same name.
    lossless = slug == text.lower().replace("/", sep)
    if not slug:
        slug = "x"
    suffix = "" if lossless else sep + short_hash(text)
    if max_bytes is not None and len(slug) + len(suffix) > max_bytes:
        suffix = sep + short_hash(text)
        slug = slug[: max_bytes - len(suffix)].rstrip(sep) or "x"
    return slug + suffix


def pg_identifier(text: str, max_bytes: int = PG_MAX_IDENTIFIER_BYTES) -> str:
    """A safe, lowercase PostgreSQL identifier (always quote it with ``sql.Identifier`` too)."""
    name = slugify(text, "_", max_bytes)
    if name[0].isdigit():
        name = ("t_" + name)[:max_bytes]
    if name in _PG_RESERVED:
        name = name + "_"
    return name


def ident_with_suffix(base: str, suffix: str) -> str:
    """``base + suffix`` within PostgreSQL's 63-byte limit (hash keeps truncations distinct)."""
    name = base + suffix
    if len(name.encode()) <= PG_MAX_IDENTIFIER_BYTES:
        return name
    tail = "_" + short_hash(base) + suffix
    return base.encode()[: PG_MAX_IDENTIFIER_BYTES - len(tail)].decode("utf-8", "ignore") + tail


# PostgreSQL's system column names: a user column cannot have them (DuplicateColumn).
PG_SYSTEM_COLUMNS = frozenset({"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"})


def unique_pg_identifiers(names: list[str]) -> list[str]:
    """Sanitize a list of column names, keeping them unique and in order.

    Reserved words and system column names (``xmin``, ``ctid``...) get a ``_`` suffix.
    """
    out: list[str] = []
    seen: set[str] = set()
    for raw in names:
        base = pg_identifier(raw or "column")
        if base in PG_SYSTEM_COLUMNS:
            base += "_"
        candidate, n = base, 1
        while candidate in seen:
            n += 1
            tail = f"_{n}"
            candidate = base[: PG_MAX_IDENTIFIER_BYTES - len(tail)] + tail
        seen.add(candidate)
        out.append(candidate)
    return out


def normalize_blob_path(path: str) -> str:
    """A clean relative blob path, or ``UnsafePathError`` for one that escapes its root."""
    if not path or "\x00" in path:
        raise UnsafePathError("empty or NUL-containing blob path", path=repr(path))
    p = path.replace("\\", "/")
    if p.startswith("/") or re.match(r"^[A-Za-z]:/", p):
        raise UnsafePathError("absolute blob paths are not allowed", path=path)
    parts = [seg for seg in p.split("/") if seg not in ("", ".")]
    if any(seg == ".." for seg in parts):
        raise UnsafePathError("'..' segments are not allowed in blob paths", path=path)
    if not parts:
        raise UnsafePathError("empty blob path", path=path)
    return "/".join(parts)


def blob_name_problem(path: str) -> str | None:
    """Why the platform cannot take a blob under this name, or None when it can.

    A listing can return names the platform must not address: ``..`` segments (Azure turns
    the ``\\`` of an uploaded ``a\\..\\b.kml`` into ``/``), names that are not their own clean
    form (``a//b``, ``./a``, a backslash), or bytes that are not UTF-8 (a local folder). Such a
    blob is reported and skipped; it never stops the blobs listed with it.
    """
    if _plainly_clean(path):
        return None
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "the name is not valid UTF-8"
    try:
        clean = normalize_blob_path(path)
    except UnsafePathError as exc:
        return f"unsafe name: {exc.message}"
    if clean != path:
        return f"unsafe name: not in its clean form ({clean!r})"
    return None


def _plainly_clean(path: str) -> bool:
    """A fast yes for the usual name (the sensor judges every blob of a listing, every tick)."""
    return (
        path.isascii()
        and "\\" not in path
        and "//" not in path
        and "/." not in path
        and "\x00" not in path
        and path[:1] not in ("", "/", ".")
        and not path.endswith("/")
        and path[1:2] != ":"
    )


def display_name(path: str) -> str:
    """A blob name safe to print and store (undecodable characters shown as escapes)."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8")


# --- partition keys <-> blob paths -----------------------------------------------------------
# Dagster rejects partition keys containing "..." or control characters (and "," breaks CLI
# lists). Percent-escape exactly those, reversibly; ordinary names stay as they are.
def partition_key_for_blob(blob_path: str) -> str:
    out = []
    for ch in blob_path:
        if ch == "%" or ch == "," or _CONTROL.match(ch):
            out.append(f"%{ord(ch):02X}")
        else:
            out.append(ch)
    key = "".join(out)
    while "..." in key:
        key = key.replace("...", "..%2E", 1)
    return key


def blob_for_partition_key(key: str) -> str:
    def _unescape(m: re.Match[str]) -> str:
        return chr(int(m.group(1), 16))

    return re.sub(r"%([0-9A-F]{2})", _unescape, key)


# --- datasets, collections, items, tables ----------------------------------------------------
def dataset_of(blob_path: str) -> str:
    """The dataset a blob belongs to: its folder path ('' for the container root)."""
    return posixpath.dirname(blob_path)


def collection_id(blob_path: str, prefix: str = "") -> str:
    """STAC collection id of the dataset of ``blob_path`` ('rasters/dem/x.tif' -> 'rasters-dem')."""
    dataset = dataset_of(blob_path) or "root"
    return slugify(prefix + dataset, "-", 120)


def item_id(blob_path: str, suffix: str = "") -> str:
    """STAC item id of a bronze file, unique in its collection.

    'A.tif' -> 'a.tif'; 'a b.tif' -> 'a-b.tif-<hash>' (a hash whenever sanitizing lost something).
    """
    name = posixpath.basename(blob_path) + suffix
    return slugify(name, "-", 200, keep="._-")


def table_name(blob_path: str, layer: str | None = None, multi_layer: bool = False) -> str:
    """PostGIS table name for a bronze vector (and layer, when the file has several).

    '<folder>_<stem>' and '<folder>_<stem>__<layer>', lowercase ASCII; a hash of the source is
    appended when sanitizing lost anything or the name had to be shortened to 63 bytes.
    """
    stem = posixpath.basename(blob_path)
    # dem.tif.zip, roads.geojson.gz, city.osm.pbf
    for ext in (".zip", ".gz", ".bz2", ".xz", ".zst", ".pbf"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
    stem = posixpath.splitext(stem)[0] or stem
    parts = [*dataset_of(blob_path).split("/"), stem]
    raw = "_".join(p for p in parts if p)
    if multi_layer and layer:
        raw = f"{raw}__{layer}"
    folded = "_".join(_NON_WORD.sub("_", ascii_fold(p).lower()).strip("_") for p in raw.split("_"))
    name = re.sub(r"_{3,}", "__", folded).strip("_") or "t"
    lossless = name == raw.lower()
    if name[0].isdigit():
        name, lossless = "t_" + name, False
    if name in _PG_RESERVED:
        name += "_"
    if not lossless or len(name) > PG_MAX_IDENTIFIER_BYTES:
        tail = "_" + short_hash(blob_path + ("\x00" + layer if multi_layer and layer else ""))
        name = name[: PG_MAX_IDENTIFIER_BYTES - len(tail)].rstrip("_") + tail
    return name


def silver_prefix(blob_path: str) -> str:
    """Folder in the silver container for outputs derived from one bronze blob."""
    dataset = dataset_of(blob_path)
    parts = [slugify(seg, "-", 80) for seg in dataset.split("/") if seg]
    parts.append(item_id(blob_path))
    return "/".join(parts)


def distinct_bases(bases: list[str]) -> list[str]:
    """Table bases made distinct (in layer order, so stable for an unchanged file): a layer
    whose name folds to another's (KML folders ``A`` and ``a``) gets ``_2``, ``_3``...
    Zip members whose layers share a name are told apart earlier (``read._zip_layers``)."""
    out: list[str] = []
    for base in bases:
        name, n = base, 1
        while name in out:
            n += 1
            name = ident_with_suffix(base, f"_{n}")
        out.append(name)
    return out
