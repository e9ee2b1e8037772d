"""``publish_tiled`` without Dagster: a large raster becomes lossless tiles, visual tiles, a
MosaicJSON per tier, a thumbnail and one valid STAC item per tile in silver; the items and the
mosaic then publish in pgstac (real local blob store and pgstac)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest
import rasterio
from affine import Affine
from PIL import Image
from rasterio.warp import transform as warp_transform
from rio_cogeo.cogeo import cog_validate

from geo_platform.lib import naming
from geo_platform.lib.raster.inspect import inspect_raster
from geo_platform.lib.raster.mosaic import tiles_for_point, validate_mosaic
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.tiling import TilingOptions
from geo_platform.lib.raster.tiling.visual import VISUAL_FOLDER
from geo_platform.lib.raster.validate import validate_cog
from geo_platform.lib.stac.raster_mosaic import RASTER_ONLY, mosaic_search
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.stac_ext import MOSAIC_SEARCHES
from geo_platform.store import pgstac
from geo_platform.store.blobs.local import LocalBlobStore
from geo_platform.store.bronze import bronze_local_copy
from geo_platform.store.catalog import publish_sources
from geo_platform.store.mosaic_search import attach_mosaic, detach_mosaics
from geo_platform.store.silver import source_provenance, stac_items
from geo_platform.workflows.catalog import attach_mosaics
from geo_platform.workflows.publish_tiled import TiledPublished, publish_tiled
from geo_platform_tests.lib.raster.synth import gradient, write_tif
from geo_platform_tests.lib.raster.test_tiling import write_source


def publish(
    tmp_path: Path, src: Path, raster: RasterOptions | None
) -> tuple[TiledPublished, Path, list[dict]]:
    """Upload ``src`` to bronze and publish it as 512-pixel tiles; (result, silver folder,
    the items in silver)."""
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    for container in ("bronze", "silver"):
        store.ensure_container(container)
    blob = f"t{uuid.uuid4().hex[:6]}/big/{src.name}"
    store.upload_file("bronze", blob, src)
    bronze = store.stat("bronze", blob)
    assert bronze is not None
    with bronze_local_copy(store, "bronze", blob) as local:
        out = publish_tiled(
            store,
            silver_container="silver",
            blob=blob,
            bronze=bronze,
            local=local,
            info=inspect_raster(local, blob),
            provenance=source_provenance(
                store, "bronze", blob, bronze, local, run_id="r", code_version="t"
            ),
            options=TilingOptions(threshold_pixels=1, tile_size=512, workers=2),
            raster=raster,
            work_root=str(tmp_path / "work"),
        )
    silver = Path(store.root) / "silver" / naming.silver_prefix(blob)
    return out, silver, stac_items(store, "silver", blob)


def test_published_visual_tiles_mosaic_thumbnail_and_items(tmp_path: Path) -> None:
    out, silver, items = publish(tmp_path, write_source(tmp_path / "dem.tif"), None)
    meta = out.metadata
    assert meta["tiles"] == 16 and meta["visual_tiles_built"] == 16
    assert "linear stretch" in meta["visualization"]
    assert out.mosaics["mosaic-visual"] == meta["visual_mosaic_href"]
    assert all(ok for ok, _ in out.checks.values())
    visual = sorted((silver / "visual").glob("*.tif"))
    assert [p.stem for p in visual] == sorted(p.stem for p in (silver / "tiles").glob("*.tif"))
    for path in visual:
        validate_cog(path)
    with Image.open(silver / "thumbnail.png") as img:
        assert (img.format, img.size) == ("PNG", (256, 225))
    mosaic = json.loads((silver / "mosaic-visual.json").read_text())
    validate_mosaic(mosaic)
    assert len(items) == 16
    item = next(i for i in items if i["id"].endswith("_r002_c001"))
    assets = item["assets"]
    assert assets["visualization"]["href"].endswith("/visual/" + item["id"] + ".tif")
    assert (
        assets["visualization"]["file:size"]
        == (silver / "visual" / f"{item['id']}.tif").stat().st_size
    )
    assert assets["thumbnail"]["href"].endswith("/thumbnail.png")
    assert assets["mosaic-visual"]["href"].endswith("/mosaic-visual.json")
    validate_stac(item)
    # The visual mosaic resolves a point inside this tile to this tile's visual COG.
    with rasterio.open(silver / "visual" / f"{item['id']}.tif") as ds:
        x, y = ds.xy(ds.height // 2, ds.width // 2)
        lon, lat = warp_transform(ds.crs, "EPSG:4326", [x], [y])
    assert assets["visualization"]["href"] in tiles_for_point(mosaic, lon[0], lat[0])


def test_visualization_not_requested_or_impossible(tmp_path: Path) -> None:
    src = write_tif(tmp_path / "six.tif", gradient(6, 600, 700), tiled=True)
    out, silver, items = publish(tmp_path, src, None)
    assert "6 bands without" in out.metadata["visualization"]
    assert set(out.mosaics) == {"mosaic"}
    assert not (silver / "mosaic-visual.json").exists()
    assert not list(silver.glob("visual/*.tif"))
    assert (silver / "thumbnail.png").is_file()  # band 1 preview
    assert all("visualization" not in i["assets"] and "thumbnail" in i["assets"] for i in items)
    out, silver, items = publish(
        tmp_path, write_source(tmp_path / "dem.tif"), RasterOptions(tiers=("analysis",))
    )
    assert out.metadata["visualization"] == "not requested"
    assert all("visualization" not in i["assets"] for i in items)


@pytest.mark.slow
def test_tiles_mosaic_and_items_publish_in_pgstac(tmp_path: Path, pg_dsn: str) -> None:
    """Moved from defs/test_collections.py (test_large_raster_published_as_tiles_mosaic_and_items):
    the catalog publishes the tile items from silver as they are and the mosaic attaches to the
    collection with a pgstac search over the raster's tiles."""
    out, silver, items = publish(tmp_path, write_source(tmp_path / "scene.tif"), None)
    assert out.metadata["tiles"] == 16 and out.metadata["tiles_built"] == 16
    tiles = sorted((silver / "tiles").glob("*.tif"))
    assert len(tiles) == 16
    for tile in tiles:
        ok, errors, _ = cog_validate(str(tile))
        assert ok, errors
    validate_mosaic(json.loads((silver / "mosaic.json").read_text()))
    assert sorted(i["id"] for i in items) == sorted(out.item_ids) and len(items) == 16
    for item in items:
        validate_stac(item)
    try:
        with psycopg.connect(pg_dsn) as conn:
            publish_sources(conn, {out.blob: items}, "raster")
            parent = naming.item_id(out.blob)
            search = attach_mosaic(
                conn, out.collection_id, str(silver / "mosaic.json"), parent_item=parent
            )
            conn.commit()
            coll = pgstac.get_collection(conn, out.collection_id)
            assert coll["assets"][f"mosaic-{parent}"]["href"].endswith("mosaic.json")
            row = conn.execute("SELECT search FROM pgstac.searches WHERE hash = %s", (search,))
            raster_only, by_parent = row.fetchone()[0]["filter"]["args"]  # rasters of parent
            assert by_parent["args"][1] == parent and raster_only == RASTER_ONLY
            query = {**mosaic_search(out.collection_id, parent), "limit": 100}
            found = conn.execute("SELECT pgstac.search(%s::jsonb)", (json.dumps(query),))
            assert len(found.fetchone()[0]["features"]) == 16  # every tile is a raster item
            assert len(pgstac.item_ids(conn, out.collection_id)) == 16
            # Republished without tiles (a smaller file, another threshold): the tiles' mosaic
            # asset and search leave the collection, where they stayed and found nothing.
            for name in ("mosaic.json", "mosaic-visual.json"):
                (silver / name).unlink(missing_ok=True)
            store = LocalBlobStore(root=str(tmp_path / "blobs"))
            assert attach_mosaics(conn, store, "silver", [out.blob]) == []
            coll = pgstac.get_collection(conn, out.collection_id)
            assert f"mosaic-{parent}" not in (coll.get("assets") or {})
            assert f"mosaic-{parent}" not in (coll.get(MOSAIC_SEARCHES) or {})
            validate_stac(coll)
            assert not detach_mosaics(conn, out.collection_id, parent)  # nothing left to do
    finally:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("SELECT pgstac.delete_collection(%s)", (out.collection_id,))


def test_tiled_visual_tiles_mask_a_transparent_palette_entry(tmp_path: Path) -> None:
    """The tiles are GeoTIFFs, whose colour tables lose a palette's alpha: the visual tiles
    read it from the source (as the single-COG path does) and mask class 0 instead of drawing
    it opaque black."""
    src = tmp_path / "landcover.img"
    classes = ((np.arange(1024)[None, :] // 64) % 4).repeat(1024, axis=0).astype("uint8")
    grid = {"crs": "EPSG:32633", "transform": Affine(30, 0, 400_000, 0, -30, 5_500_000)}
    profile = {"driver": "HFA", "width": 1024, "height": 1024, "count": 1, "dtype": "uint8",
               **grid}  # fmt: skip
    with rasterio.open(src, "w", **profile) as dst:
        dst.write(classes, 1)
        dst.write_colormap(1, {0: (0, 0, 0, 0), 1: (255, 0, 0, 255), 2: (0, 255, 0, 255),
                               3: (0, 0, 255, 255)})  # fmt: skip
    out, silver, _ = publish(tmp_path, src, None)
    visual = sorted((silver / VISUAL_FOLDER).glob("*.tif"))
    assert len(visual) == 4 and out.metadata["tiles"] == 4
    with rasterio.open(visual[0]) as tile:  # the top-left tile: columns 0..511
        mask = tile.dataset_mask()
        window = classes[: tile.height, : tile.width]
    assert (mask[window == 0] == 0).all() and (mask[window != 0] == 255).all()
