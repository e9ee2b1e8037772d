"""One error hierarchy for the platform.

Every error names the file (or blob) it is about and the problem, so that a failed Dagster run
tells the user what to fix. ``retryable`` separates transient failures (network, storage
throttling, a database that went away) from permanent ones (bad input): retry policies only
retry the former.
"""

from __future__ import annotations


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


def is_retryable(exc: BaseException) -> bool:
    """True for errors a retry policy should retry (transient infrastructure problems)."""
    if isinstance(exc, GeoPlatformError):
        return exc.retryable
    # Connection-level errors from libraries we use, recognised without importing them eagerly.
    name = type(exc).__name__
    return name in {
        "OperationalError",
        "ServiceRequestError",
        "ServiceResponseError",
    } or isinstance(exc, ConnectionError | TimeoutError)
