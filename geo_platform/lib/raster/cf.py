"""CF conventions as GDAL reports them: coordinate values, time units, dimension kinds.

GDAL's netCDF driver exposes a variable's attributes as ``<var>#<attr>`` dataset tags, its extra
(non-spatial) dimensions as ``NETCDF_DIM_EXTRA={time,level}`` (outermost first) with
``NETCDF_DIM_<dim>_VALUES={0,1,2}``, and each band's coordinates as ``NETCDF_DIM_<dim>`` band
tags. This module turns those strings into values: numbers, decoded times (``units = "days
since 2020-01-01"`` in the standard, gregorian or proleptic_gregorian calendar) and the kind of
each dimension (temporal, vertical or other), as the STAC datacube extension wants them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DIM_EXTRA = "NETCDF_DIM_EXTRA"
CF_CALENDARS = frozenset({"standard", "gregorian", "proleptic_gregorian", ""})
"""Calendars whose dates are Python datetimes (the others, noleap or 360_day, are not)."""

_UNIT_SECONDS = {
    "second": 1.0,
    "sec": 1.0,
    "s": 1.0,
    "minute": 60.0,
    "min": 60.0,
    "hour": 3600.0,
    "hr": 3600.0,
    "h": 3600.0,
    "day": 86400.0,
    "d": 86400.0,
    "week": 7 * 86400.0,
}
_SINCE = re.compile(r"^\s*([A-Za-z]+?)s?\s+since\s+(.+?)\s*$")
_REF = re.compile(
    r"^(-?\d{1,4})-(\d{1,2})-(\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(\.\d*)?)?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{1,2}(?::?\d{2})?)?$"
)
_VERTICAL_NAMES = frozenset(
    {"air_pressure", "altitude", "height", "depth", "model_level_number", "pressure"}
)
_PRESSURE_UNITS = frozenset({"pa", "hpa", "kpa", "mbar", "millibar", "bar", "atm"})


@dataclass(frozen=True)
class Dimension:
    """A non-spatial dimension of a variable, in the order of the file (outermost first).

    ``kind`` is "temporal" (``values`` are ISO 8601 UTC strings), "vertical" or "other"
    (``values`` are numbers, or strings where the file has labels)."""

    name: str
    kind: str
    values: tuple[float | str, ...]
    unit: str | None = None
    description: str | None = None


def list_values(text: str | None) -> list[str]:
    """``{a,b,c}`` (GDAL's list notation) -> ``["a", "b", "c"]``."""
    inner = (text or "").strip().removeprefix("{").removesuffix("}")
    return [v.strip() for v in inner.split(",") if v.strip()]


def number(text: str | None) -> float | None:
    """A float from an attribute string, or None (``"1e20"``, ``"-32767"``; not ``"abc"``)."""
    try:
        return float(str(text).strip().rstrip("fFdDlL")) if text is not None else None
    except ValueError:
        return None


def reference_time(text: str) -> datetime | None:
    """The reference instant of CF time units (``1900-01-01``, ``2020-1-1 0:0:0``, ``...Z``)."""
    m = _REF.match(text.strip())
    if not m:
        return None
    year, month, day, hh, mm, ss, frac, zone = m.groups()
    try:
        ref = datetime(
            int(year), int(month), int(day), int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=UTC
        )
    except ValueError:
        return None
    if frac:
        ref += timedelta(seconds=float(frac))
    if zone and zone not in ("Z", "UTC", "GMT"):
        sign = -1 if zone.startswith("-") else 1
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2] if len(digits) > 2 else digits), int(digits[2:] or 0)
        ref -= sign * timedelta(hours=hours, minutes=minutes)
    return ref


def time_decoder(units: str | None, calendar: str | None) -> tuple[datetime, float] | None:
    """(reference, seconds per unit) of CF time ``units``, or None when they are not a time
    axis Python dates can express (no ``since``, months/years, a non-standard calendar)."""
    if not units or (calendar or "").strip().lower() not in CF_CALENDARS:
        return None
    m = _SINCE.match(units)
    if not m:
        return None
    seconds = _UNIT_SECONDS.get(m.group(1).lower())
    ref = reference_time(m.group(2))
    if seconds is None or ref is None:
        return None
    return ref, seconds


def decode_time(value: float, decoder: tuple[datetime, float]) -> datetime | None:
    """The instant ``value`` units after the reference, or None out of Python's range."""
    ref, seconds = decoder
    try:
        return ref + timedelta(seconds=value * seconds)
    except (OverflowError, ValueError):
        return None


def iso(value: datetime) -> str:
    """ISO 8601 in UTC with ``Z``, as STAC writes instants."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """``iso`` reversed: an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def attrs_of(tags: Mapping[str, str], variable: str) -> dict[str, str]:
    """The attributes of ``variable`` among a netCDF dataset's ``<var>#<attr>`` tags."""
    head = variable + "#"
    return {k[len(head) :]: v for k, v in tags.items() if k.startswith(head)}


def dimension_kind(name: str, attrs: Mapping[str, str], is_time: bool) -> str:
    """ "temporal" for a decodable time axis, "vertical" for a CF Z axis (``axis="Z"``,
    ``positive``, a pressure unit or a vertical standard name), else "other"."""
    if is_time:
        return "temporal"
    standard = attrs.get("standard_name", "").lower()
    unit = attrs.get("units", "").strip().lower()
    if (
        attrs.get("axis", "").upper() == "Z"
        or "positive" in attrs
        or standard in _VERTICAL_NAMES
        or unit in _PRESSURE_UNITS
        or name.lower() in ("level", "lev", "plev", "depth", "height", "z")
    ):
        return "vertical"
    return "other"


def netcdf_dimensions(tags: Mapping[str, str]) -> list[Dimension]:
    """The extra dimensions of a netCDF variable dataset (``NETCDF_DIM_EXTRA``), outermost
    first, with their values decoded (times as ISO strings when the units allow)."""
    out = []
    for name in list_values(tags.get(DIM_EXTRA)):
        attrs = attrs_of(tags, name)
        raw = [number(v) for v in list_values(tags.get(f"NETCDF_DIM_{name}_VALUES"))]
        values: list[float | str] = [v for v in raw if v is not None]
        decoder = time_decoder(attrs.get("units"), attrs.get("calendar"))
        times = [decode_time(float(v), decoder) for v in values] if decoder else []
        is_time = bool(times) and all(t is not None for t in times)
        if is_time:
            values = [iso(t) for t in times if t is not None]
        out.append(
            Dimension(
                name=name,
                kind=dimension_kind(name, attrs, is_time),
                values=tuple(values),
                unit=None if is_time else attrs.get("units") or None,
                description=attrs.get("long_name") or None,
            )
        )
    return out


def band_coordinates(
    band_tags: Mapping[str, str], dims: Sequence[Dimension], tags: Mapping[str, str]
) -> tuple[float | str, ...]:
    """One band's coordinate along each of ``dims`` (decoded like the dimension's values)."""
    coords: list[float | str] = []
    for dim in dims:
        raw = number(band_tags.get(f"NETCDF_DIM_{dim.name}"))
        if raw is None:
            coords.append("")
            continue
        if dim.kind == "temporal":
            attrs = attrs_of(tags, dim.name)
            decoder = time_decoder(attrs.get("units"), attrs.get("calendar"))
            when = decode_time(raw, decoder) if decoder else None
            coords.append(iso(when) if when else raw)
        else:
            coords.append(raw)
    return tuple(coords)


def label(dims: Sequence[Dimension], coords: Sequence[float | str]) -> str:
    """A band's name from its coordinates: ``time=2020-01-01T00:00:00Z level=850``."""
    parts = []
    for dim, value in zip(dims, coords, strict=True):
        text = f"{value:g}" if isinstance(value, float) else str(value)
        parts.append(f"{dim.name}={text}")
    return " ".join(parts)


def grid_mapping_crs(tags: Mapping[str, str], reference: str) -> str | None:
    """WKT of the CF grid mapping variable ``reference`` names, read by PROJ
    (``pyproj.CRS.from_cf``; WGS 84 when the mapping gives no ellipsoid, which GDAL will not
    assume), or None when there is no such mapping or PROJ cannot read it. For grid mappings
    GDAL could not read itself: a rotated pole (``rotated_latitude_longitude``) with only its
    pole, as regional climate models write it."""
    name = reference.split(":")[0].strip()
    params: dict[str, object] = dict(attrs_of(tags, name)) if name else {}
    if "grid_mapping_name" not in params:
        return None
    for key, value in params.items():
        numbers = str(value).replace(",", " ").split()
        try:
            floats = [float(n) for n in numbers]
        except ValueError:
            continue
        params[key] = floats[0] if len(floats) == 1 else floats
    try:
        from pyproj import CRS

        return str(CRS.from_cf(params).to_wkt())
    except Exception:
        return None
