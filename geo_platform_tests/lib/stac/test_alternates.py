"""The tiler's /vsiaz/ alternates: which assets get one, what it names, and that items stay valid.

Also the store glue (``store.tiler_access``) on both backends: an Azure store (Azurite) adds the
alternates for its container's hrefs, a local store leaves items as they are.
"""

from __future__ import annotations

import copy
from typing import Any

from geo_platform.lib.stac.alternates import (
    VSIAZ,
    blob_path_of,
    vsiaz_alternate,
    with_vsiaz_alternates,
)
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.store.blobs.azure import AzureBlobStore
from geo_platform.store.blobs.local import LocalBlobStore
from geo_platform.store.tiler_access import with_tiler_access

BASE = "https://acct.blob.core.windows.net/silver/"


def _item(assets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": [],
        "id": "dem",
        "geometry": {"type": "Point", "coordinates": [10.0, 45.0]},
        "bbox": [10.0, 45.0, 10.0, 45.0],
        "properties": {"datetime": "2021-06-15T10:30:00Z"},
        "links": [],
        "assets": assets,
    }


def test_blob_path_of_decodes_the_url_and_refuses_other_places() -> None:
    assert blob_path_of(BASE + "a/b%20c%23d.tif", BASE) == "a/b c#d.tif"
    assert blob_path_of(BASE + "a/x.tif?sv=2024&sig=s", BASE) == "a/x.tif"  # a SAS is not path
    assert blob_path_of("https://acct.blob.core.windows.net/silver-prod/a.tif", BASE) is None
    assert blob_path_of("postgresql://db/geo?table=geo.t", BASE) is None
    assert blob_path_of(BASE, BASE) is None
    assert blob_path_of(BASE + "a.tif", "") is None


def test_blob_assets_get_the_vsiaz_alternate_others_do_not() -> None:
    item = _item(
        {
            "analysis": {"href": BASE + "dem/x%20y/analysis.tif", "roles": ["data"]},
            "table": {"href": "postgresql://db/geo?table=geo.t", "roles": ["data"]},
            "other": {"href": "https://elsewhere.example/a.tif"},
        }
    )
    before = copy.deepcopy(item)
    out = with_vsiaz_alternates(item, "silver", BASE)
    assert item == before  # pure: the input is not touched
    assert out["assets"]["analysis"]["alternate"] == vsiaz_alternate(
        "silver", "dem/x y/analysis.tif"
    )
    assert out["assets"]["analysis"]["alternate"][VSIAZ]["href"] == (
        "/vsiaz/silver/dem/x y/analysis.tif"
    )
    assert out["assets"]["analysis"]["href"] == BASE + "dem/x%20y/analysis.tif"  # href kept
    assert "alternate" not in out["assets"]["table"]
    assert "alternate" not in out["assets"]["other"]
    validate_stac(out)  # core STAC allows the extra asset field
    assert with_vsiaz_alternates(out, "silver", BASE) == out  # idempotent


def test_retargeting_replaces_a_stale_vsiaz_alternate_and_keeps_others() -> None:
    prod = "https://acct.blob.core.windows.net/silver-prod/"
    staged = with_vsiaz_alternates(_item({"a": {"href": BASE + "p/a.tif"}}), "silver", BASE)
    staged["assets"]["a"]["alternate"]["s3"] = {"href": "s3://mirror/p/a.tif"}
    staged["assets"]["a"]["href"] = prod + "c/v1/p/a.tif"  # promoted: href rewritten
    out = with_vsiaz_alternates(staged, "silver-prod", prod)
    assert out["assets"]["a"]["alternate"] == {
        **vsiaz_alternate("silver-prod", "c/v1/p/a.tif"),
        "s3": {"href": "s3://mirror/p/a.tif"},
    }
    # An asset that no longer is a blob of the container loses its (now wrong) vsiaz alternate.
    elsewhere = with_vsiaz_alternates(staged, "other", "https://x.example/other/")
    assert elsewhere["assets"]["a"]["alternate"] == {"s3": {"href": "s3://mirror/p/a.tif"}}
    bare = with_vsiaz_alternates(
        with_vsiaz_alternates(_item({"a": {"href": BASE + "a.tif"}}), "silver", BASE),
        "other",
        "https://x.example/other/",
    )
    assert "alternate" not in bare["assets"]["a"]


def test_store_glue_adds_alternates_on_azure_only(azurite_connection_string: str, tmp_path) -> None:
    azure = AzureBlobStore(connection_string=azurite_connection_string)
    href = azure.href("silver", "d/analysis.tif")
    [item] = with_tiler_access(azure, "silver", [_item({"analysis": {"href": href}})])
    assert item["assets"]["analysis"]["alternate"][VSIAZ]["href"] == "/vsiaz/silver/d/analysis.tif"
    local = LocalBlobStore(root=str(tmp_path))
    plain = _item({"analysis": {"href": local.href("silver", "d/analysis.tif")}})
    assert with_tiler_access(local, "silver", [plain]) == [plain]
