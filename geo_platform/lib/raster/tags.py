"""Sensor metadata from raster tags: acquisition datetime, instrument, software.

GDAL exposes TIFF tags (``TIFFTAG_DATETIME``, ``TIFFTAG_SOFTWARE``...), EXIF tags (``EXIF_*``, in
the default domain for JPEG and in the ``EXIF`` domain for TIFF), product tags written by
processors (``ACQUISITIONDATETIME``, ``DATE_ACQUIRED``, ``SENSING_TIME``...) and per-band GRIB
times (epoch seconds). The datetime is taken from the first key present in ``DATETIME_KEYS``
(most specific first: an acquisition time beats the TIFF "image created" time), so the STAC
item says *which* tag it came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

DATETIME_KEYS: tuple[str, ...] = (
    "EXIF_DateTimeOriginal",
    "EXIF_DateTimeDigitized",
    "ACQUISITIONDATETIME",
    "ACQUISITION_DATETIME",
    "ACQUISITION_DATE",
    "DATE_ACQUIRED",
    "SENSING_TIME",
    "IMAGE_DATE",
    "DATETIME",
    "GRIB_VALID_TIME",
    "TIFFTAG_DATETIME",
    "EXIF_DateTime",
)
"""Keys tried in order (dataset tags, then band 1 tags) for the item datetime."""

SENSOR_KEYS: dict[str, tuple[str, ...]] = {
    "instrument": ("INSTRUMENT", "SENSOR", "SENSOR_ID", "EXIF_Model", "TIFFTAG_MODEL"),
    "platform": ("PLATFORM", "SATELLITE", "SPACECRAFT_ID", "MISSION"),
    "make": ("EXIF_Make", "TIFFTAG_MAKE"),
    "software": ("TIFFTAG_SOFTWARE", "EXIF_Software", "PROCESSING_SOFTWARE"),
    "artist": ("TIFFTAG_ARTIST", "EXIF_Artist"),
    "copyright": ("TIFFTAG_COPYRIGHT", "EXIF_Copyright"),
    "description": ("TIFFTAG_IMAGEDESCRIPTION", "EXIF_ImageDescription"),
    "host_computer": ("TIFFTAG_HOSTCOMPUTER",),
}
"""STAC-facing sensor fields and the tags that feed them (first present wins)."""

MAX_TAG_CHARS = 2000
"""Long free-text tags (JSON blobs in image descriptions) are cut to keep STAC items small."""

_EXIF_LIKE = re.compile(r"^(\d{4})[:\-/](\d{2})[:\-/](\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?")
_EPOCH = re.compile(r"^\s*(-?\d{9,11})(?:\s*sec.*)?$")


def parse_datetime(value: str) -> datetime | None:
    """Parse the date formats found in raster tags; naive times are taken as UTC, times with
    another offset are converted to UTC.

    Handles EXIF/TIFF ``YYYY:MM:DD HH:MM:SS``, ISO 8601 (with or without zone, ``Z``), plain
    dates and epoch seconds (GRIB ``1631980800`` or ``1631980800 sec UTC``). Returns None for
    anything else, including all-zero EXIF placeholders.
    """
    text = (value or "").strip().strip("\x00")
    if not text:
        return None
    epoch = _EPOCH.match(text)
    if epoch:
        try:
            return datetime.fromtimestamp(int(epoch.group(1)), tz=UTC)
        except (ValueError, OverflowError, OSError):  # before year 1 or beyond the platform's
            return None
    parsed: datetime | None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = _parse_exif_like(text)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)  # STAC wants UTC ("Z"); the instant is kept
    except (ValueError, OverflowError):
        return None


def _parse_exif_like(text: str) -> datetime | None:
    match = _EXIF_LIKE.match(text)
    if not match:
        return None
    parts = [int(p) if p else 0 for p in match.groups()]
    try:
        return datetime(*parts)  # type: ignore[arg-type]
    except ValueError:  # "0000:00:00 00:00:00" and friends
        return None


def find_datetime(
    tags: Mapping[str, str], band_tags: Mapping[str, str] | None = None
) -> tuple[datetime | None, str | None]:
    """The acquisition datetime and the tag it came from, or ``(None, None)``."""
    for source in (tags, band_tags or {}):
        upper = {k.upper(): (k, v) for k, v in source.items()}
        for key in DATETIME_KEYS:
            hit = upper.get(key.upper())
            if hit is None:
                continue
            parsed = parse_datetime(hit[1])
            if parsed is not None:
                return parsed, hit[0]
    return None, None


def sensor_metadata(tags: Mapping[str, str]) -> dict[str, str]:
    """Instrument, platform, software and similar fields found in the tags (cut to 2000 chars)."""
    upper = {k.upper(): v for k, v in tags.items()}
    out: dict[str, str] = {}
    for field, keys in SENSOR_KEYS.items():
        for key in keys:
            value = upper.get(key.upper(), "").strip().strip("\x00")
            if value:
                out[field] = value[:MAX_TAG_CHARS]
                break
    return out


def gps_hint(tags: dict[str, str]) -> str:
    """For a photo whose EXIF holds where the camera was (a drone or phone picture)."""
    lat, lon = tags.get("EXIF_GPSLatitude"), tags.get("EXIF_GPSLongitude")
    if not (lat and lon):
        return ""
    where = f"{_dms(lat)}{tags.get('EXIF_GPSLatitudeRef', '')} {_dms(lon)}"
    where += tags.get("EXIF_GPSLongitudeRef", "")
    return (
        f"; its EXIF GPS position ({where}) is where the camera was, not the ground the "
        "picture covers: orthorectify the photos first (e.g. OpenDroneMap) and upload the result"
    )


def _dms(value: str) -> str:
    """'(52) (5) (10)' -> '52.0861' (degrees, minutes, seconds as GDAL gives EXIF rationals)."""
    try:
        d, m, s = (float(p.strip("() ")) for p in value.split(") (")[:3])
    except ValueError:
        return value
    return f"{d + m / 60 + s / 3600:.4f}"
