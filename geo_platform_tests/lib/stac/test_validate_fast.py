"""The fast validation path (fastjsonschema) agrees with jsonschema, the reference.

``validate_stac`` accepts an object when fastjsonschema accepts it and otherwise lets jsonschema
decide. That is only sound if fastjsonschema never accepts what jsonschema rejects: these tests
compare both on real raster items and on broken variants of them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from geo_platform.lib.raster.cog import CogBuildResult
from geo_platform.lib.stac.raster_item import build_raster_item
from geo_platform.lib.stac.validate import (
    _core_schema_url,
    _fast_accepts,
    _fast_validator,
    _registry,
    _validator,
    validate_stac,
)
from geo_platform.lib.types import Provenance
from geo_platform_tests.lib.raster.conftest import built_shared  # noqa: F401  (fixture)

PROV = Provenance(source_blob="bronze/x.tif", source_etag="0x8", run_id="r", code_version="c")
KINDS = ["rgb_uint8/", "dem_float32/", "palette/", "multiband_uint16/", "antimeridian/"]


def _items(built_shared: Callable[[str], CogBuildResult]) -> list[dict[str, Any]]:  # noqa: F811
    from geo_platform_tests.lib.raster.test_inspect import PUBLISHABLE

    items = []
    chosen = [next(r for r in PUBLISHABLE if r.startswith(k)) for k in KINDS]
    for rel in chosen:
        result = built_shared(rel)
        hrefs = {k: f"https://silver.example/{k}.tif" for k in result.published()}
        hrefs["thumbnail"] = "https://silver.example/thumbnail.png"
        item = build_raster_item(
            result, item_id="x", collection_id="c", hrefs=hrefs, provenance=PROV
        )
        items.append(item.to_dict())
    return items


def _reference_valid(obj: dict[str, Any]) -> bool:
    urls = [_core_schema_url(obj), *obj.get("stac_extensions", [])]
    return all(not list(_validator(u).iter_errors(obj)) for u in urls)


def _fast_valid(obj: dict[str, Any]) -> bool:
    urls = [_core_schema_url(obj), *obj.get("stac_extensions", [])]
    return all(_fast_accepts(u, obj) for u in urls)


def _breakages(item: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []

    def broken(name: str, change: Callable[[dict[str, Any]], None]) -> None:
        c = copy.deepcopy(item)
        change(c)
        out.append((name, c))

    broken("no datetime", lambda c: c["properties"].pop("datetime"))
    broken("bbox of 3", lambda c: c.__setitem__("bbox", c["bbox"][:3]))
    broken("geometry type", lambda c: c["geometry"].__setitem__("type", "Polygonal"))
    broken("asset without href", lambda c: next(iter(c["assets"].values())).pop("href"))
    broken("epsg as text", lambda c: c["properties"].__setitem__("proj:code", 4326))
    broken("file size as text", lambda c: next(iter(c["assets"].values())).update(
        {"file:size": "big"}
    ))  # fmt: skip
    broken("band data type", lambda c: c["assets"]["analysis"]["bands"][0].__setitem__(
        "data_type", "int3"
    ))  # fmt: skip
    broken("links not a list", lambda c: c.__setitem__("links", {}))
    broken("processing level", lambda c: c["properties"].__setitem__("processing:level", 3))
    broken("id as number", lambda c: c.__setitem__("id", 7))
    return out


def test_fast_validators_compile_for_every_vendored_schema() -> None:
    _, by_url = _registry()
    schemas = [u for u in by_url if "stacspec" in u or "stac-extensions" in u]
    assert schemas
    assert all(_fast_validator(u) is not None for u in schemas), [
        u for u in schemas if _fast_validator(u) is None
    ]


def test_fast_path_agrees_with_jsonschema(built_shared) -> None:  # noqa: F811
    items = _items(built_shared)
    assert items
    for item in items:
        assert _reference_valid(item) and _fast_valid(item), item["id"]
        validate_stac(item)
        for name, bad in _breakages(item):
            assert not _reference_valid(bad), f"breakage '{name}' is not invalid"
            assert not _fast_valid(bad), f"fast path accepted '{name}'"
            with pytest.raises(Exception, match="STAC validation failed"):
                validate_stac(bad)


_CACHE_PROBE = """
import json, sys
import fastjsonschema
from geo_platform.lib.errors import ValidationError
from geo_platform.lib.stac import validate as v
if sys.argv[1] == "cached-only":  # any validator now must come from the cache
    fastjsonschema.compile_to_code = None
item = json.loads(sys.argv[2])
urls = [v._core_schema_url(item), *item["stac_extensions"]]
bad = dict(item, bbox=item["bbox"][:3])
try:
    v.validate_stac(bad)
    refused = False
except ValidationError:
    refused = True
print(json.dumps({"fast": [v._fast_accepts(u, item) for u in urls], "refused": refused}))
"""

ITEM = {
    "type": "Feature",
    "stac_version": "1.0.0",
    "stac_extensions": ["https://stac-extensions.github.io/projection/v1.1.0/schema.json"],
    "id": "x",
    "geometry": {"type": "Point", "coordinates": [1.0, 2.0]},
    "bbox": [1.0, 2.0, 1.0, 2.0],
    "properties": {"datetime": "2026-01-01T00:00:00Z", "proj:epsg": 4326},
    "links": [],
    "assets": {"data": {"href": "https://silver.example/x.tif"}},
}


def _probe(mode: str, cache: str) -> dict[str, Any]:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "GEO_PLATFORM_CACHE_DIR": cache}
    out = subprocess.run(
        [sys.executable, "-c", _CACHE_PROBE, mode, json.dumps(ITEM)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def test_compiled_validators_are_cached_on_disk_and_give_the_same_verdicts(tmp_path) -> None:
    cache = tmp_path / "cache"
    first = _probe("compile", str(cache))
    assert first == {"fast": [True, True], "refused": True}
    files = sorted((cache / "stac-validators").glob("*.marshal"))
    assert len(files) == 2  # the item schema and the projection extension
    # A new process (generation disabled) validates from the cache alone, with the same verdicts.
    assert _probe("cached-only", str(cache)) == first


def test_a_corrupt_or_unwritable_cache_only_costs_time(tmp_path) -> None:
    cache = tmp_path / "cache"
    _probe("compile", str(cache))
    files = sorted((cache / "stac-validators").glob("*.marshal"))
    for f in files:
        f.write_bytes(b"not marshal data")
    assert _probe("compile", str(cache)) == {"fast": [True, True], "refused": True}
    assert all(f.read_bytes() != b"not marshal data" for f in files)  # regenerated
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory would be")
    assert _probe("compile", str(blocked)) == {"fast": [True, True], "refused": True}
    assert _probe("compile", "off") == {"fast": [True, True], "refused": True}
    assert not (tmp_path / "off").exists()
