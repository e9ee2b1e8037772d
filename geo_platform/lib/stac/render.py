"""Band combinations for multispectral rasters, as STAC render-extension entries.

Why: a 4- to 13-band image has no single picture; users want true colour, false colour
(vegetation red), NDVI and friends without knowing band numbers. ``render_entries(item)`` derives
them from the item's own band metadata (``eo:common_name``, band names, the sensor), and
``render_links`` turns each into a titiler map URL for the UI.

Entry format: the render extension v2.0.0 fields (``title``, ``assets``, ``expression``,
``rescale``, ``colormap_name``, ``nodata``, ``resampling``) with titiler 2 / rio-tiler 9 band
names: with ``assets=["analysis"]`` the asset's bands are ``b1..bN``, so true colour of a
Sentinel-2 stack is ``expression="b4;b3;b2"``. Every entry validates as a pystac ``Render``.

Where they live: in the STAC render extension (v2.0.0, ``RENDER_EXTENSION``): an item's
``properties.renders``, and a collection's ``renders`` (``with_collection_renders``: the
combinations its raster items share, with one stretch wide enough for all of them, and
``item_assets`` naming the assets they read, which the extension requires of a collection).
titiler-pgstac reads them from there: an item's ``/renders/{name}`` and a collection's or a
registered search's ``/info`` list a TileJSON per render name (``store/mosaic_search.py``
registers the collection's raster mosaic with the collection's renders as its defaults). Items
published before keep the former ``geo_platform:renders`` until republished; ``item_renders``
reads either. The extension's schema is vendored (``schemas/render``) and validated offline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from geo_platform.lib.stac_ext import CATEGORICAL, RENDERS

RENDER_EXTENSION = "https://stac-extensions.github.io/render/v2.0.0/schema.json"
RENDERS_PROPERTY = "renders"
LEGACY_RENDERS_PROPERTY = RENDERS  # ``geo_platform:renders``, before the render extension
DATA_ASSET = "analysis"

# Band codes of well-known sensors -> eo common names (only used when the item names the
# platform, since band numbers mean different things on different sensors).
_SENSOR_BANDS: dict[str, dict[str, str]] = {
    "sentinel-2": {
        "b01": "coastal",
        "b02": "blue",
        "b03": "green",
        "b04": "red",
        "b05": "rededge071",
        "b06": "rededge075",
        "b07": "rededge078",
        "b08": "nir",
        "b8a": "nir08",
        "b09": "nir09",
        "b10": "cirrus",
        "b11": "swir16",
        "b12": "swir22",
    },
    "landsat": {
        "b1": "coastal",
        "b2": "blue",
        "b3": "green",
        "b4": "red",
        "b5": "nir08",
        "b6": "swir16",
        "b7": "swir22",
        "b8": "pan",
        "b9": "cirrus",
        "b10": "lwir11",
        "b11": "lwir12",
    },
}
_WORDS = {
    "near infrared": "nir",
    "near-infrared": "nir",
    "nir": "nir",
    "red": "red",
    "green": "green",
    "blue": "blue",
    "swir1": "swir16",
    "swir2": "swir22",
    "swir16": "swir16",
    "swir22": "swir22",
    "nir08": "nir08",
    "coastal": "coastal",
}
_NIR = ("nir", "nir08", "nir09")
_SWIR = ("swir22", "swir16")


def _asset_bands(item: Mapping[str, Any], asset: str) -> list[dict[str, Any]]:
    a = item.get("assets", {}).get(asset) or {}
    return list(a.get("bands") or a.get("raster:bands") or [])


def _sensor_table(item: Mapping[str, Any]) -> dict[str, str]:
    platform = str(item.get("properties", {}).get("platform", "")).lower()
    for key, table in _SENSOR_BANDS.items():
        if platform.startswith(key):
            return table
    return {}


def band_roles(item: Mapping[str, Any], asset: str = DATA_ASSET) -> dict[str, int]:
    """eo common name -> 1-based band index in ``asset`` (first band wins per name)."""
    sensor = _sensor_table(item)
    roles: dict[str, int] = {}
    for index, band in enumerate(_asset_bands(item, asset), start=1):
        name = band.get("eo:common_name")
        if not name:
            label = str(band.get("description") or band.get("name") or "").strip().lower()
            code = label.replace("band", "b").replace("_", "").replace(" ", "")
            name = _WORDS.get(label) or sensor.get(code) or sensor.get(label)
        if name and name not in roles:
            roles[name] = index
    return roles


def _first(roles: Mapping[str, int], names: tuple[str, ...]) -> int | None:
    return next((roles[n] for n in names if n in roles), None)


def _stretch(bands: list[dict[str, Any]], indexes: list[int]) -> list[float] | None:
    """One [low, high] for ``indexes``: mean +- 2 stddev within min/max, shared by the bands
    (a shared stretch keeps colours balanced); the full range for 8-bit data."""
    chosen = [bands[i - 1] for i in indexes]
    if all(b.get("data_type") == "uint8" for b in chosen):
        return [0.0, 255.0]
    lows, highs = [], []
    for band in chosen:
        s = band.get("statistics") or {}
        if not {"minimum", "maximum"} <= set(s):
            return None
        mean, sd = s.get("mean"), s.get("stddev")
        low, high = float(s["minimum"]), float(s["maximum"])
        if mean is not None and sd is not None:
            low, high = max(low, mean - 2 * sd), min(high, mean + 2 * sd)
        lows.append(low)
        highs.append(high)
    low, high = min(lows), max(highs)
    return [round(low, 6), round(high, 6)] if high > low else None


def _composite(
    title: str, bands: list[dict[str, Any]], idx: list[int], asset: str
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "title": title,
        "assets": [asset],
        "expression": ";".join(f"b{i}" for i in idx),
    }
    stretch = _stretch(bands, idx)
    if stretch is not None:
        entry["rescale"] = [stretch] * len(idx)
    return entry


def _index(title: str, a: int, b: int, cmap: str, asset: str) -> dict[str, Any]:
    return {
        "title": title,
        "assets": [asset],
        "expression": f"(b{a}-b{b})/(b{a}+b{b})",
        "rescale": [[-1.0, 1.0]],
        "colormap_name": cmap,
    }


def render_entries(item: Mapping[str, Any], asset: str = DATA_ASSET) -> dict[str, dict[str, Any]]:
    """Render entries for ``item`` by its bands: true colour (red, green, blue), false colour
    (nir, red, green), SWIR (swir22, nir, red), NDVI, NDWI and NBR where the bands exist; for
    multiband data without common names the first three bands; for one continuous band a
    colour ramp. Empty for categorical rasters and items without band metadata."""
    props = item.get("properties", {})
    bands = _asset_bands(item, asset)
    if not bands or props.get(CATEGORICAL):
        return {}
    roles = band_roles(item, asset)
    red, green, blue = roles.get("red"), roles.get("green"), roles.get("blue")
    nir, swir = _first(roles, _NIR), _first(roles, _SWIR)
    out: dict[str, dict[str, Any]] = {}
    if red and green and blue:
        out["true-color"] = _composite("True colour", bands, [red, green, blue], asset)
    if nir and red and green:
        out["false-color"] = _composite("False colour (infrared)", bands, [nir, red, green], asset)
    if swir and nir and red:
        out["swir"] = _composite("Short-wave infrared", bands, [swir, nir, red], asset)
    if nir and red:
        out["ndvi"] = _index("NDVI (vegetation)", nir, red, "rdylgn", asset)
    if green and nir:
        out["ndwi"] = _index("NDWI (water)", green, nir, "rdbu", asset)
    if nir and swir:
        out["nbr"] = _index("NBR (burn ratio)", nir, swir, "rdylgn", asset)
    if not out and len(bands) >= 3:
        out["bands-1-2-3"] = _composite("Bands 1, 2, 3", bands, [1, 2, 3], asset)
    if len(bands) == 1 and bands[0].get("data_type") != "uint8":
        ramp = _composite("Colour ramp", bands, [1], asset)
        ramp.pop("expression")
        ramp["colormap_name"] = "viridis"
        out["colormap"] = ramp
    for entry in out.values():
        nodata = bands[0].get("nodata")
        if isinstance(nodata, int | float) and not isinstance(nodata, bool):
            entry["nodata"] = nodata
    return out


def _declare(obj: dict[str, Any]) -> None:
    extensions = obj.setdefault("stac_extensions", [])
    if RENDER_EXTENSION not in extensions:
        extensions.append(RENDER_EXTENSION)


def apply_renders(item: dict[str, Any], renders: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Store ``renders`` (default: ``render_entries(item)``) as the item's render-extension
    ``renders`` and declare the extension; no-op when empty."""
    entries = dict(renders) if renders is not None else render_entries(item)
    if entries:
        props = item.setdefault("properties", {})
        props.pop(LEGACY_RENDERS_PROPERTY, None)
        props[RENDERS_PROPERTY] = entries
        _declare(item)
    return item


def item_renders(item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """An item's renders: the render extension's, else the former ``geo_platform:renders``."""
    props = item.get("properties") or {}
    found = props.get(RENDERS_PROPERTY) or props.get(LEGACY_RENDERS_PROPERTY) or {}
    return dict(found) if isinstance(found, Mapping) else {}


def _same_bands(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keys = ("assets", "expression", "colormap_name")
    return all(a.get(k) == b.get(k) for k in keys)


def _widen(a: list[list[float]] | None, b: list[list[float]] | None) -> list[list[float]] | None:
    """Per band, one range covering both (None when either has none: titiler then stretches
    nothing, which is what one of the items asked for)."""
    if not a or not b or len(a) != len(b):
        return None
    return [[min(x[0], y[0]), max(x[1], y[1])] for x, y in zip(a, b, strict=True)]


def merge_renders(
    current: Mapping[str, Any], items: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Collection renders: ``current`` plus every render of ``items``. A name already there
    with the same bands keeps it and widens its stretch to cover the new item (one stretch for
    the whole mosaic), and drops its ``nodata`` when the items' differ (titiler then takes each
    COG's own); a name whose bands differ between items (another sensor's layout) keeps the
    first definition."""
    out: dict[str, dict[str, Any]] = {k: dict(v) for k, v in current.items()}
    for item in items:
        for name, entry in item_renders(item).items():
            known = out.get(name)
            if known is None:
                out[name] = dict(entry)
            elif _same_bands(known, entry):
                rescale = _widen(known.get("rescale"), entry.get("rescale"))
                if rescale is None:
                    known.pop("rescale", None)
                else:
                    known["rescale"] = rescale
                if known.get("nodata") != entry.get("nodata"):
                    known.pop("nodata", None)  # each COG's own nodata applies
    return out


def _item_asset(asset: Mapping[str, Any]) -> dict[str, Any]:
    """What every item's asset of that name shares (no href, no per-file fields)."""
    keep = ("type", "roles", "title")
    return {k: asset[k] for k in keep if k in asset}


def with_collection_renders(
    collection: Mapping[str, Any], items: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """``collection`` with its render-extension ``renders`` merged with those of ``items``
    (``merge_renders``), ``item_assets`` for the assets they read, and the extension declared.
    Unchanged (a copy) when there are no renders at all."""
    out = json.loads(json.dumps(collection))
    renders = merge_renders(out.get(RENDERS_PROPERTY) or {}, items)
    if not renders:
        return out
    out[RENDERS_PROPERTY] = renders
    used = {a for entry in renders.values() for a in entry.get("assets") or []}
    item_assets = out.setdefault("item_assets", {})
    for item in items:
        for key, asset in (item.get("assets") or {}).items():
            described = _item_asset(asset)
            if key in used and key not in item_assets and len(described) >= 2:
                item_assets[key] = described
    _declare(out)
    return out


def render_query(entry: Mapping[str, Any]) -> str:
    """titiler query string for one entry (``rescale`` as repeated ``lo,hi``)."""
    params: list[tuple[str, str]] = [("assets", a) for a in entry.get("assets", [])]
    for key in ("expression", "colormap_name", "color_formula", "resampling"):
        if entry.get(key) is not None:
            params.append((key, str(entry[key])))
    if entry.get("nodata") is not None:
        params.append(("nodata", str(entry["nodata"])))
    for low, high in entry.get("rescale") or []:
        params.append(("rescale", f"{low:g},{high:g}"))
    return urlencode(params)


def render_links(
    tiler_url: str, collection_id: str, item_id: str, renders: Mapping[str, Mapping[str, Any]]
) -> dict[str, str]:
    """Map-viewer URL of each render on a titiler-pgstac server (``geo-platform serve``)."""
    c, i = quote(collection_id, safe=""), quote(item_id, safe="")
    base = f"{tiler_url.rstrip('/')}/collections/{c}/items/{i}/WebMercatorQuad/map.html"
    return {name: f"{base}?{render_query(entry)}" for name, entry in renders.items()}
