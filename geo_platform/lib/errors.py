"""One error hierarchy for the platform.

Every error names the file (or blob) it is about and the problem, so that a failed Dagster run
tells the user what to fix. ``retryable`` separates transient failures (network, storage
throttling, a database that went away) from permanent ones (bad input): retry policies only
retry the former.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
import tempfile
from pathlib import Path


class GeoPlatformError(Exception):
    """Base class. ``path`` is the file or blob the error is about, when there is one."""

    retryable: bool = False

    def __init__(self, message: str, path: str | None = None) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


# --- permanent errors: bad input -------------------------------------------------------------
class InputError(GeoPlatformError):
    """The input file itself is the problem; retrying will not help."""


class EmptyFileError(InputError):
    """A zero-byte file."""


class UnreadableFileError(InputError):
    """GDAL/OGR cannot open or fully read the file (truncated, corrupt, wrong content)."""


class UnsupportedFormatError(InputError):
    """The file is readable but not a format the platform publishes."""


class FormatMismatchError(InputError):
    """The content does not match what the extension says."""


class MissingCRSError(InputError):
    """The dataset has no coordinate reference system and none was configured to assume."""


class InvalidCRSError(InputError):
    """The CRS is present but PROJ cannot use it."""


class NotGeoreferencedError(InputError):
    """A raster without a geotransform (or with GCPs only)."""


class EmptyDatasetError(InputError):
    """A layer without features, or a raster whose every pixel is nodata."""


class UnknownLayerError(InputError):
    """A configured layer name does not exist in the file."""


class TooLargeError(InputError):
    """Dimensions or sizes beyond the configured limits (memory, zip bombs)."""


class UnsafeArchiveError(InputError):
    """An archive with path-traversal entries or suspicious compression ratios."""


class UnsafePathError(InputError):
    """A blob path that would escape its container root."""


class DecodingError(InputError):
    """Text that cannot be decoded with the declared or detected encoding."""


class NoGeometryError(InputError):
    """No geometry to publish: a CSV without coordinate columns, an attribute-only layer, or an
    archive without any vector file."""


class CoordinateRangeError(InputError):
    """Coordinates outside the valid range of their CRS (e.g. latitude beyond +-90 in a CSV)."""


class NameClashError(InputError):
    """Two bronze files would publish to the same output (``roads.geojson`` and ``roads.gpkg``
    in one folder both make table ``<folder>_roads``; ``A.tif`` and ``a.tif`` one silver
    folder): the second is refused, not written over the first's data."""


def without_local_paths(message: str, blob: str, *local: str | Path) -> str:
    """``message`` (a GDAL/OGR error text, typically) with the worker's local paths replaced by
    the name of the blob they hold, so that no error shows a temporary folder.

    ``local`` are the local copy of the blob and any link or ``/vsizip/`` path to it: each is
    replaced in its own and resolved forms, a ``/vsizip/`` path keeping its member
    (``/vsizip//tmp/x/a.zip/m.shp`` -> ``roads/a.zip/m.shp``); any path left under the
    temporary folder (a link folder, a copy made on the way) becomes the blob name too.
    """
    forms: set[str] = set()
    for item in local:
        text = str(item)
        if text.startswith("/vsizip/"):
            text = _vsizip_archive(text)
        if text:
            forms.add(text)
            forms.update(str(p) for p in _resolved(text))
    for form in sorted(forms, key=len, reverse=True):
        for wrapped in (f"/vsizip/{{{form}}}", f"/vsizip/{form}", form):
            message = message.replace(wrapped, blob)
    folder = posixpath.dirname(blob)  # a sibling the message names (``roads.shx``): its blob
    for parent in sorted({posixpath.dirname(f) for f in forms if f.startswith("/")}, key=len,
                         reverse=True):  # fmt: skip
        if parent not in ("", "/"):
            sibling = rf"{re.escape(parent)}/([^\s'\"{{}}:;,/]+)"
            message = re.sub(sibling, lambda m: posixpath.join(folder, m.group(1)), message)
    for tmp in _temp_roots():
        tail = r"(?:/[^\s'\"{}:;,]*(?<![.)])|(?![\w.-]))"  # a path, not the punctuation after it
        pattern = rf"(?:/vsi\w+/)?\{{?{re.escape(tmp)}{tail}\}}?"
        message = re.sub(pattern, lambda _match: blob, message)
    return message


def _vsizip_archive(gdal_path: str) -> str:
    """The archive of a ``/vsizip/`` path (``/vsizip/{archive}/m`` or ``/vsizip/a.zip/m``)."""
    rest = gdal_path[len("/vsizip/") :]
    if rest.startswith("{"):
        return rest[1:].partition("}")[0]
    found = re.match(r"(.*?\.(?:zip|kmz))(?:/|$)", rest, re.IGNORECASE)
    return found.group(1) if found else rest


def _resolved(text: str) -> list[Path]:
    try:
        path = Path(text)
        return [path.resolve()] if path.is_absolute() else []
    except (OSError, RuntimeError):
        return []


def _temp_roots() -> list[str]:
    roots = {tempfile.gettempdir(), os.path.realpath(tempfile.gettempdir()), "/tmp"}
    return sorted((r.rstrip("/") for r in roots if r and r != "/"), key=len, reverse=True)


_NOT_RECOGNISED = ("not recognized as", "not recognised as", "not a supported")


_PROPRIETARY = {
    ".ecw": "ECW (ERDAS Compressed Wavelets) needs Hexagon's proprietary ECW SDK, which the "
    "platform's GDAL does not include: export it as GeoTIFF or JPEG2000 (QGIS or ERDAS software "
    "with ECW support can)",
    ".sid": "MrSID needs Extensis' proprietary MrSID SDK, which the platform's GDAL does not "
    "include: export it as GeoTIFF or JPEG2000 (GeoExpress or a GDAL built with MrSID support "
    "can)",
    ".map": "PCRaster .map is not supported by this build (its GDAL lacks the PCRaster "
    "driver); convert to GeoTIFF (gdal_translate dem.map dem.tif, or PCRaster's own tools)",
}
"""Raster formats a proprietary SDK or a driver the platform's GDAL may lack reads: named when
GDAL recognises the file as nothing (a ``.map`` is a raster only when its content is
PCRaster's, ``lib.content``)."""


def proprietary_format(*names: str | Path) -> str | None:
    """What to say of a file GDAL does not recognise when one of its ``names`` (the blob, the
    GDAL path of a zip member, GDAL's message naming it) ends in a proprietary extension."""
    lowered = [str(n).lower().rstrip("'\". ") for n in names]
    for ext, why in _PROPRIETARY.items():
        if any(n.endswith(ext) for n in lowered):
            return why
    return None


def gdal_input_error(
    exc: BaseException, blob: str, what: str, *local: str | Path
) -> FormatMismatchError | UnreadableFileError:
    """A GDAL/OGR failure to open or read blob ``blob`` (as ``what``: 'raster' or 'vector')
    as the platform's error, its text without local paths (``without_local_paths``)
    and without GDAL's driver-prefix hint: content that no driver recognises is a
    ``FormatMismatchError``, anything else an ``UnreadableFileError``."""
    text = without_local_paths(str(exc), blob, *local).replace("\n", " ")
    text = text.split("; It might help to specify")[0].strip()[:500]
    if any(marker in text for marker in _NOT_RECOGNISED):
        why = proprietary_format(blob, *local, text)
        return FormatMismatchError(why or f"GDAL recognises no {what} format in it ({text})", blob)
    return UnreadableFileError(f"GDAL cannot read it as {what} data: {text}", path=blob)


class ValidationError(GeoPlatformError):
    """An output failed validation (COG layout, STAC schema, geometry validity)."""


class ConfigError(GeoPlatformError):
    """The platform is configured inconsistently."""


class NotFoundError(GeoPlatformError):
    """A blob, STAC item, collection or table that was expected does not exist."""


# --- transient errors: retry with backoff ----------------------------------------------------
class TransientError(GeoPlatformError):
    """A failure that may go away on retry."""

    retryable = True


class StorageUnavailableError(TransientError):
    """Blob storage unreachable or throttling."""


class DatabaseUnavailableError(TransientError):
    """The database connection failed or was lost."""


# SQLSTATE classes worth a retry: connection exception (08), transaction rollback such as a
# serialization failure or deadlock (40), insufficient resources (53), operator intervention
# such as a server shutdown or a cancelled query (57), and "lock not available" (55P03).
# Other database errors (syntax, missing table, limits exceeded) are permanent.
_RETRYABLE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57"})
_RETRYABLE_SQLSTATES = frozenset({"55P03"})
# HTTP statuses that mean "busy or briefly broken": timeout, throttling, server errors.
RETRYABLE_HTTP_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_RETRYABLE_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EPIPE,
        errno.EAGAIN,
    }
)
_EAI_AGAIN = -3  # socket.EAI_AGAIN on Linux and macOS
# Library exceptions recognised by class name (anywhere in the MRO), so that this module does
# not import psycopg, azure or requests: connection-level failures only.
_TRANSIENT_CLASS_NAMES = frozenset(
    {
        "ServiceRequestError",  # azure-core: the request never got an answer
        "ServiceResponseError",  # azure-core: the connection broke while reading the answer
        "ServiceRequestTimeoutError",
        "ServiceResponseTimeoutError",
        "IncompleteReadError",
        "ConnectTimeout",  # httpx / requests
        "ReadTimeout",
        "ConnectError",
        "RemoteProtocolError",
        "CPLE_HttpResponseError",  # GDAL /vsicurl/ HTTP errors (rasterio)
    }
)


def _mro_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _http_status(exc: BaseException) -> int | None:
    for attr in ("status_code", "code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 100 <= value <= 599:
            return value
    return None


def _classify(exc: BaseException) -> bool | None:
    """True/False when ``exc`` itself is recognised as transient/permanent, None if unknown."""
    if isinstance(exc, GeoPlatformError):
        return exc.retryable
    names = _mro_names(exc)
    if type(exc).__module__.startswith("sqlalchemy"):
        # SQLAlchemy wraps the driver's error (its __cause__): judge that one when present.
        return None if exc.__cause__ is not None else "OperationalError" in names
    if "OperationalError" in names:
        # psycopg: no SQLSTATE means the client lost or never got a connection.
        state = getattr(exc, "sqlstate", None)
        if not state:
            return True
        return state[:2] in _RETRYABLE_SQLSTATE_CLASSES or state in _RETRYABLE_SQLSTATES
    if "DatabaseError" in names or "InterfaceError" in names:
        return False  # psycopg errors other than operational ones: bad SQL, bad data, misuse
    if "HttpResponseError" in names or "HTTPError" in names:
        status = _http_status(exc)
        return status in RETRYABLE_HTTP_STATUS if status is not None else None
    if names & _TRANSIENT_CLASS_NAMES:
        return True
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if "URLError" in names:  # urllib: judged by its reason (refused, timeout, TLS, DNS)
        reason = getattr(exc, "reason", None)
        return _classify(reason) is True if isinstance(reason, BaseException) else True
    if "gaierror" in names:  # DNS: only "temporary failure in name resolution" is transient
        return getattr(exc, "errno", None) == _EAI_AGAIN
    if isinstance(exc, OSError) and exc.errno in _RETRYABLE_ERRNOS:
        return True
    return None


def is_retryable(exc: BaseException) -> bool:
    """True for errors a retry policy should retry (transient infrastructure problems).

    Transient: network failures and timeouts, storage throttling and server errors (HTTP 408,
    429, 5xx), a database connection that failed or was lost, deadlocks and serialization
    failures, and the platform's ``TransientError`` subclasses. Permanent: bad input
    (``InputError``), validation and configuration errors, SQL errors, anything unknown.
    An unrecognised wrapper is judged by its cause (``raise X from transient``), so a library
    that wraps a connection error in its own exception type is still retried.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        verdict = _classify(current)
        if verdict is not None:
            return verdict
        current = current.__cause__
    return False


def error_kind(exc: BaseException) -> str:
    """'transient' or 'permanent', for logs, metadata and notifications."""
    return "transient" if is_retryable(exc) else "permanent"
