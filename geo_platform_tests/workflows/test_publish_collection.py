"""``publish_collection`` without Dagster: files in two UTM zones reprojected to EPSG:3857 and
mosaicked, updated incrementally, published in pgstac with a mosaic asset and search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform as warp_transform
from rio_cogeo.cogeo import cog_validate

from geo_platform.lib.errors import GeoPlatformError
from geo_platform.lib.raster.collection import collection_id_for, collection_silver_prefix
from geo_platform.lib.raster.mosaic import tiles_for_point, validate_mosaic
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.store import pgstac
from geo_platform.store.blobs.local import LocalBlobStore
from geo_platform.workflows.publish_collection import (
    CollectionPublished,
    CollectionSettings,
    publish_collection,
)

# (epsg, easting, northing): two files each side of the UTM 32/33 boundary (12 E) at ~48 N.
SCENES = [
    (32632, 720000, 5330000),
    (32632, 720000, 5305400),
    (32633, 280000, 5330000),
    (32633, 280000, 5305400),
]


def scene(path: Path, epsg: int, x: float, y: float, seed: int) -> Path:
    """A 256 x 256 uint16 scene with 100 m pixels whose top-left corner is (x, y) in UTM."""
    rng = np.random.default_rng(seed)
    data = (rng.integers(100, 200, (256, 256)) + np.arange(256)[None, :]).astype("uint16")
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=256,
        height=256,
        count=1,
        dtype="uint16",
        crs=f"EPSG:{epsg}",
        transform=from_origin(x, y, 100, 100),
        nodata=0,
    ) as dst:
        dst.write(data[None])
    return path


def upload_scenes(store: LocalBlobStore, prefix: str, tmp: Path) -> None:
    """The four ``SCENES`` and a marker asking for EPSG:3857, under bronze ``prefix``."""
    for i, (epsg, x, y) in enumerate(SCENES):
        src = scene(tmp / f"s{i}.tif", epsg, x, y, i)
        store.upload_file("bronze", f"{prefix}utm{epsg % 100}_{i}.tif", src)
    store.upload_bytes("bronze", f"{prefix}_collection.json", b'{"target_crs": "EPSG:3857"}')


@pytest.fixture
def collection(blob_store, bronze_folder, tmp_path, drop_collection) -> str:
    prefix = f"{bronze_folder}/scenes/"
    upload_scenes(blob_store, prefix, tmp_path)
    drop_collection(collection_id_for(prefix))
    return prefix


@pytest.mark.slow
def test_two_utm_zones_reprojected_mosaicked_and_updated(
    blob_store, pgstac_connect, collection, tmp_path
) -> None:
    store, prefix = blob_store, collection
    settings = CollectionSettings()
    out = publish_collection(store, pgstac_connect, settings, prefix, run_id="r1", workers=2)
    assert isinstance(out, CollectionPublished)
    assert out.built == 4 and out.mosaic_mode == "full" and not out.failed
    assert out.target_crs == "EPSG:3857" and out.metadata["members"] == 4
    root = Path(store.root) / "silver" / collection_silver_prefix(prefix)
    mosaic = json.loads((root / "mosaic.json").read_text())
    validate_mosaic(mosaic)
    hrefs = {a for v in mosaic["tiles"].values() for a in v}
    assert len(hrefs) == 4
    for href in hrefs:
        assert cog_validate(href)[0]
        with rasterio.open(href) as ds:
            assert ds.crs.to_epsg() == 3857
    items = [json.loads(p.read_text()) for p in sorted((root / "stac").glob("*.json"))]
    assert len(items) == 4
    for item in items:
        validate_stac(item)
    # a point inside each source scene resolves to that scene's COG
    for i, (epsg, x, y) in enumerate(SCENES):
        (lon,), (lat,) = warp_transform(f"EPSG:{epsg}", "EPSG:4326", [x + 12800], [y - 12800])
        assert any(f"utm{epsg % 100}_{i}" in h for h in tiles_for_point(mosaic, lon, lat))
    cid = collection_id_for(prefix)
    with pgstac_connect() as conn:
        assert len(pgstac.item_ids(conn, cid)) == 4
        coll = pgstac.get_collection(conn, cid)
        assert coll["assets"]["mosaic"]["href"] == out.mosaic_href
        search = coll["geo_platform:mosaic_searches"]["mosaic"]
        assert search == out.mosaic_search
        row = conn.execute("SELECT metadata FROM pgstac.searches WHERE hash = %s", (search,))
        assert row.fetchone()[0]["type"] == "mosaic"
    # a new file later: only it is processed, the mosaic is updated in place
    extra = scene(tmp_path / "new.tif", 32633, 305600, 5330000, 9)
    store.upload_file("bronze", f"{prefix}utm33_new.tif", extra)
    again = publish_collection(store, pgstac_connect, settings, prefix, run_id="r2", workers=1)
    assert again.built == 1 and again.unchanged == 4 and again.members == 5
    assert again.mosaic_mode == "incremental"
    updated = json.loads((root / "mosaic.json").read_text())
    assert updated["version"] == "1.0.1"
    assert len({a for v in updated["tiles"].values() for a in v}) == 5


def test_a_removed_member_leaves_silver_the_mosaic_and_pgstac(
    blob_store, pgstac_connect, collection
) -> None:
    store, prefix = blob_store, collection
    settings = CollectionSettings()
    publish_collection(store, pgstac_connect, settings, prefix, run_id="r1", workers=1)
    gone = f"{prefix}utm32_0.tif"
    store.delete("bronze", gone)
    out = publish_collection(store, pgstac_connect, settings, prefix, run_id="r2", workers=1)
    assert (out.removed, out.members, out.built, out.unchanged) == (1, 3, 0, 3)
    root = Path(store.root) / "silver" / collection_silver_prefix(prefix)
    mosaic = json.loads((root / "mosaic.json").read_text())
    hrefs = {a for v in mosaic["tiles"].values() for a in v}
    assert len(hrefs) == 3 and not any("utm32_0" in h for h in hrefs)
    assert len(list((root / "stac").glob("*.json"))) == 3
    with pgstac_connect() as conn:
        assert len(pgstac.item_ids(conn, collection_id_for(prefix))) == 3


def test_an_empty_folder_is_an_error(blob_store, pgstac_connect, bronze_folder) -> None:
    with pytest.raises(GeoPlatformError, match="no raster files"):
        publish_collection(
            blob_store, pgstac_connect, CollectionSettings(), f"{bronze_folder}/none/", run_id="r"
        )
    assert list(blob_store.list_blobs("silver")) == []
