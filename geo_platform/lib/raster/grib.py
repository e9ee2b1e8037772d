"""GRIB messages grouped into variables.

GDAL opens a GRIB file as one dataset with a band per message, whatever each message holds:
the GFS sample has radar reflectivity on two hybrid levels, composite reflectivity, visibility
and both wind components. Its band tags say what each band is: ``GRIB_ELEMENT`` (``REFD``),
``GRIB_SHORT_NAME`` (``1-HYBL``: level value and level type), ``GRIB_VALID_TIME`` (epoch
seconds), ``GRIB_UNIT`` (``[dB]``) and ``GRIB_COMMENT``. A variable is one element on one level
type; its bands are its levels and valid times, in file order.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from geo_platform.lib.raster import cf
from geo_platform.lib.raster.cf import Dimension
from geo_platform.lib.raster.tags import parse_datetime

_QUOTED = re.compile(r'"([^"]+)"')
_LEVEL_UNIT = re.compile(r"^\s*[-+.\deE]+\[([^\]]*)\]")  # '85000[Pa] ISBL="Isobaric surface"'


@dataclass(frozen=True)
class GribGroup:
    """The bands (1-based) of one element on one level type, with their coordinates along
    ``dims`` (valid time, then level)."""

    name: str
    bands: tuple[int, ...]
    dims: tuple[Dimension, ...]
    coords: tuple[tuple[float | str, ...], ...]
    unit: str | None
    description: str | None


def _level(tags: Mapping[str, str]) -> tuple[str, float | str]:
    """(level type, level value) from ``GRIB_SHORT_NAME`` such as ``850-ISBL`` or ``0-SFC``."""
    short = tags.get("GRIB_SHORT_NAME", "")
    value, _, kind = short.partition("-")
    number = cf.number(value)
    return (kind or short), (number if number is not None else value)


def _time(tags: Mapping[str, str]) -> str:
    when = parse_datetime(tags.get("GRIB_VALID_TIME", ""))
    return cf.iso(when) if when else ""


def _dimensions(
    times: list[str], levels: list[float | str], description: str, kind: str
) -> tuple[Dimension, ...]:
    """Valid time (when the messages have one) and level; the level's unit and name come from
    GDAL's band description (``85000[Pa] ISBL="Isobaric surface"``)."""
    dims = []
    if any(times):
        dims.append(Dimension("time", "temporal", tuple(dict.fromkeys(t for t in times if t))))
    name, unit = _QUOTED.search(description), _LEVEL_UNIT.match(description)
    dims.append(
        Dimension(
            "level",
            "vertical",
            tuple(dict.fromkeys(levels)),
            unit=unit.group(1) if unit and unit.group(1) != "-" else None,
            description=name.group(1) if name else kind or None,
        )
    )
    return tuple(dims)


def grib_groups(
    band_tags: Sequence[Mapping[str, str]], descriptions: Sequence[str | None]
) -> list[GribGroup]:
    """The variables of a GRIB file from its bands' tags (and GDAL's band descriptions)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, tags in enumerate(band_tags, start=1):
        element = tags.get("GRIB_ELEMENT") or f"band{i}"
        groups.setdefault((element, _level(tags)[0]), []).append(i)
    per_element = Counter(element for element, _ in groups)
    out = []
    for (element, kind), bands in groups.items():
        name = element if per_element[element] == 1 else f"{element}_{kind}"
        first = band_tags[bands[0] - 1]
        times = [_time(band_tags[b - 1]) for b in bands]
        levels = [_level(band_tags[b - 1])[1] for b in bands]
        dims = _dimensions(times, levels, descriptions[bands[0] - 1] or "", kind)
        coords = tuple(
            ((t, lv) if any(times) else (lv,)) for t, lv in zip(times, levels, strict=True)
        )
        unit = first.get("GRIB_UNIT", "").strip().strip("[]") or None
        comment = first.get("GRIB_COMMENT", "")
        description = re.sub(r"\s*\[[^\]]*\]\s*$", "", comment) or None
        out.append(GribGroup(name, tuple(bands), dims, coords, unit, description))
    return out
