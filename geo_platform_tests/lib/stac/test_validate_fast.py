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
