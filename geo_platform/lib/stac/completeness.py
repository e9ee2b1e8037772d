"""Metadata completeness of a STAC item: a 0-100 score and the list of what is missing.

Why: a catalogue is only as useful as what it says about its data. A raster whose date is the
upload time, whose licence is "other" and whose bands have no unit can be found but not trusted.
The score makes such gaps visible per item (stored in the item as
``geo_platform:completeness`` and ``geo_platform:completeness_missing``) and over time (numeric
metadata on the silver assets, and the quality report).

Each criterion has a weight and applies to rasters, vectors or both; the score is the satisfied
weight over the applicable weight, rounded. A collection (optional) supplies the licence,
providers and keywords that STAC lets items inherit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from geo_platform.lib.stac_ext import (
    CATEGORICAL,
    COMPLETENESS,
    COMPLETENESS_MISSING,
    DATETIME_SOURCE,
    SOURCE_SHA256,
)

COMPLETENESS_PROPERTY = COMPLETENESS
MISSING_PROPERTY = COMPLETENESS_MISSING
VAGUE_LICENSES = frozenset({"", "other", "proprietary", "various"})
REAL_DATETIME_PREFIX = "metadata:"

Item = dict[str, Any]
Check = Callable[[Item, Item], "str | None"]  # (item, collection) -> what is missing, or None


@dataclass(frozen=True)
class Criterion:
    name: str
    weight: int
    kinds: frozenset[str]
    check: Check


def item_kind(item: Item) -> str:
    """'raster', 'vector' or 'other', from what the item carries."""
    props = item.get("properties", {})
    if "table:columns" in props:
        return "vector"
    if "proj:transform" in props or any(
        "geotiff" in str(a.get("type", "")) for a in item.get("assets", {}).values()
    ):
        return "raster"
    return "other"


def _data_bands(item: Item) -> list[dict[str, Any]]:
    """Bands of the data assets (analysis first; the visual tier's bands are synthetic)."""
    bands: list[dict[str, Any]] = []
    for asset in item.get("assets", {}).values():
        if "data" in asset.get("roles", []):
            bands.extend(asset.get("bands") or asset.get("raster:bands") or [])
            if bands:
                break
    return bands


def _title(item: Item, coll: Item) -> str | None:
    props = item.get("properties", {})
    return None if props.get("title") or props.get("description") else "title or description"


def _datetime(item: Item, coll: Item) -> str | None:
    props = item.get("properties", {})
    if not (props.get("datetime") or (props.get("start_datetime") and props.get("end_datetime"))):
        return "datetime"
    source = props.get(DATETIME_SOURCE)
    if source is None or str(source).startswith(REAL_DATETIME_PREFIX):
        return None
    return f"datetime from the data's metadata (now: {source})"


def _license(item: Item, coll: Item) -> str | None:
    value = item.get("properties", {}).get("license") or coll.get("license") or ""
    links = [*item.get("links", []), *coll.get("links", [])]
    if str(value).lower() not in VAGUE_LICENSES:
        return None
    if value and any(link.get("rel") == "license" for link in links):
        return None  # "other"/"proprietary" with a link to the licence text is complete
    return f"license (now: {value!r})" if value else "license"


def _providers(item: Item, coll: Item) -> str | None:
    found = item.get("properties", {}).get("providers") or coll.get("providers")
    return None if found else "providers"


def _geometry(item: Item, coll: Item) -> str | None:
    return None if item.get("geometry") and item.get("bbox") else "geometry and bbox"


def _crs(item: Item, coll: Item) -> str | None:
    props = item.get("properties", {})
    if props.get("proj:code") or props.get("proj:wkt2") or props.get("proj:projjson"):
        return None
    return "CRS (proj:code)"


def _provenance(item: Item, coll: Item) -> str | None:
    props = item.get("properties", {})
    gaps = [k for k in (SOURCE_SHA256, "processing:lineage") if not props.get(k)]
    return f"provenance ({', '.join(gaps)})" if gaps else None


def _checksums(item: Item, coll: Item) -> str | None:
    files = {
        key: a
        for key, a in item.get("assets", {}).items()
        if not str(a.get("href", "")).startswith("postgresql:")
    }
    lacking = sorted(k for k, a in files.items() if not a.get("file:checksum"))
    return f"file:checksum on {', '.join(lacking)}" if lacking else None


def _share(entries: list[dict[str, Any]], key: str, label: str, unit: str = "bands") -> str | None:
    have = sum(1 for b in entries if b.get(key))
    if not entries:
        return f"{label} (no {unit[:-1]} information)"
    return None if have == len(entries) else f"{label} ({have}/{len(entries)} {unit})"


def _band_descriptions(item: Item, coll: Item) -> str | None:
    return _share(_data_bands(item), "description", "band descriptions")


def _units(item: Item, coll: Item) -> str | None:
    props = item.get("properties", {})
    bands = _data_bands(item)
    if props.get(CATEGORICAL) or all(b.get("data_type") == "uint8" for b in bands):
        return None  # class codes and 8-bit pictures have no physical unit
    return _share(bands, "unit", "units")


def _statistics(item: Item, coll: Item) -> str | None:
    return _share(_data_bands(item), "statistics", "band statistics")


def _sensor(item: Item, coll: Item) -> str | None:
    props = item.get("properties", {})
    if not any(b.get("eo:common_name") for b in _data_bands(item)):
        return None  # not imagery (a DEM, a classification): no sensor to name
    return None if props.get("platform") or props.get("instruments") else "platform/instruments"


def _thumbnail(item: Item, coll: Item) -> str | None:
    assets = item.get("assets", {}).values()
    return None if any("thumbnail" in a.get("roles", []) for a in assets) else "thumbnail"


def _columns(item: Item, coll: Item) -> str | None:
    cols = [c for c in item.get("properties", {}).get("table:columns", []) if c["name"] != "geom"]
    if not cols:
        return "table:columns"
    return _share(cols, "description", "column descriptions", "columns")


def _row_count(item: Item, coll: Item) -> str | None:
    return None if "table:row_count" in item.get("properties", {}) else "table:row_count"


_ALL = frozenset({"raster", "vector", "other"})
_R, _V = frozenset({"raster"}), frozenset({"vector"})
CRITERIA: tuple[Criterion, ...] = (
    Criterion("datetime", 3, _ALL, _datetime),
    Criterion("license", 2, _ALL, _license),
    Criterion("providers", 2, _ALL, _providers),
    Criterion("geometry", 2, _ALL, _geometry),
    Criterion("crs", 2, _ALL, _crs),
    Criterion("title", 1, _ALL, _title),
    Criterion("provenance", 1, _ALL, _provenance),
    Criterion("checksums", 1, _ALL, _checksums),
    Criterion("band_descriptions", 2, _R, _band_descriptions),
    Criterion("units", 2, _R, _units),
    Criterion("statistics", 1, _R, _statistics),
    Criterion("sensor", 1, _R, _sensor),
    Criterion("thumbnail", 1, _R, _thumbnail),
    Criterion("column_descriptions", 1, _V, _columns),
    Criterion("row_count", 1, _V, _row_count),
)


def completeness(
    item: Item, collection: Item | None = None, criteria: Iterable[Criterion] = CRITERIA
) -> tuple[int, list[str]]:
    """(score 0-100, what is missing) for a STAC item dict; ``collection`` gives inherited
    licence and providers. Our own completeness properties are ignored."""
    kind = item_kind(item)
    coll = collection or {}
    total = got = 0
    missing: list[str] = []
    for criterion in criteria:
        if kind not in criterion.kinds:
            continue
        total += criterion.weight
        gap = criterion.check(item, coll)
        if gap is None:
            got += criterion.weight
        else:
            missing.append(gap)
    score = round(100 * got / total) if total else 100
    return score, missing


def with_completeness(item: Item, collection: Item | None = None) -> Item:
    """``item`` with its score and gaps stored in its properties (modified in place)."""
    score, missing = completeness(item, collection)
    props = item.setdefault("properties", {})
    props[COMPLETENESS_PROPERTY] = score
    props[MISSING_PROPERTY] = missing
    return item
