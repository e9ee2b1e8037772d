"""A tiled large raster published through Dagster gets visual tiles, a visual MosaicJSON, a
thumbnail and tile items with visualization/thumbnail/mosaic assets (local blob store only)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import dagster as dg
import pytest
import rasterio
from PIL import Image
from rasterio.warp import transform as warp_transform

from geo_platform.defs.bronze.assets import bronze_local_copy
from geo_platform.lib import naming
from geo_platform.lib.raster.inspect import inspect_raster
from geo_platform.lib.raster.mosaic import tiles_for_point, validate_mosaic
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.tiling import TilingOptions
from geo_platform.lib.raster.validate import validate_cog
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.resources.databases import PlatformResource
from geo_platform.store.silver import stac_items
from geo_platform.workflows.publish_tiled import publish_large_raster
from geo_platform_tests.lib.raster.synth import gradient, write_tif
from geo_platform_tests.lib.raster.test_tiling import write_source


def publish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, src: Path, raster: RasterOptions | None
) -> tuple[dict, Path, list[dict]]:
    monkeypatch.setenv("GEO_PLATFORM_TILING_WORK_DIR", str(tmp_path / "work"))
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    for container in ("bronze", "silver"):
        store.ensure_container(container)
    blob = f"t{uuid.uuid4().hex[:6]}/big/{src.name}"
    store.upload_file("bronze", blob, src)
    options = TilingOptions(threshold_pixels=1, tile_size=512, workers=2)

    @dg.asset
    def big(context) -> dg.MaterializeResult:
        bronze = store.stat("bronze", blob)
        assert bronze is not None
        with bronze_local_copy(store, "bronze", blob) as local:
            info = inspect_raster(local, blob)
            out = publish_large_raster(
                context, store, PlatformResource(), blob, bronze, local, info, options, raster
            )
        return dg.MaterializeResult(metadata=dict(out.metadata))

    with dg.instance_for_test() as inst:
        res = dg.materialize([big], instance=inst)
    meta = res.asset_materializations_for_node("big")[0].metadata
    silver = Path(store.root) / "silver" / naming.silver_prefix(blob)
    return meta, silver, stac_items(store, "silver", blob)


def test_published_visual_tiles_mosaic_thumbnail_and_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta, silver, items = publish(tmp_path, monkeypatch, write_source(tmp_path / "dem.tif"), None)
    assert meta["tiles"].value == 16 and meta["visual_tiles_built"].value == 16
    assert "linear stretch" in meta["visualization"].value
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


def test_visualization_not_requested_or_impossible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_tif(tmp_path / "six.tif", gradient(6, 600, 700), tiled=True)
    meta, silver, items = publish(tmp_path, monkeypatch, src, None)
    assert "6 bands without" in meta["visualization"].value
    assert not (silver / "mosaic-visual.json").exists()
    assert not list(silver.glob("visual/*.tif"))
    assert (silver / "thumbnail.png").is_file()  # band 1 preview
    assert all("visualization" not in i["assets"] and "thumbnail" in i["assets"] for i in items)
    meta, silver, items = publish(
        tmp_path,
        monkeypatch,
        write_source(tmp_path / "dem.tif"),
        RasterOptions(tiers=("analysis",)),
    )
    assert meta["visualization"].value == "not requested"
    assert all("visualization" not in i["assets"] for i in items)
