"""`geo-platform ingest` plans files as the sensor does: by content when the name says nothing."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import Point

from geo_platform.app.ingest import plan_for
from geo_platform.lib.bronze import TickPlan
from geo_platform.lib.content import HEAD_BYTES
from geo_platform.lib.types import BlobInfo
from geo_platform.store.blobs.local import LocalBlobStore


def _tif(path: Path) -> None:
    profile = dict(driver="GTiff", width=8, height=8, count=1, dtype="uint8", crs="EPSG:4326")
    with rasterio.open(path, "w", transform=from_origin(5, 45, 0.1, 0.1), **profile) as dst:
        dst.write(np.arange(64, dtype="uint8").reshape(1, 8, 8))


def _point_file(path: Path, driver: str) -> Path:
    gpd.GeoDataFrame({"n": [1]}, geometry=[Point(5, 45)], crs=4326).to_file(path, driver=driver)
    return path


def _planned(tmp_path: Path, files: dict[str, Path]) -> tuple[list[BlobInfo], TickPlan]:
    """``files`` (blob -> local file) uploaded to bronze, and planned with their content read."""
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store.ensure_container("bronze")
    blobs = [store.upload_file("bronze", blob, local) for blob, local in files.items()]
    return blobs, plan_for(blobs, lambda b: store.read_head("bronze", b.path, HEAD_BYTES))


def test_unknown_names_are_planned_by_content(tmp_path: Path) -> None:
    _tif(tmp_path / "a.tif")
    (tmp_path / "c.txt").write_text("just some notes\n")
    blobs, plan = _planned(tmp_path, {
        "in/elevation_export": tmp_path / "a.tif",
        "in/places.data": _point_file(tmp_path / "b.gpkg", "GPKG"),
        "in/notes.unknown": tmp_path / "c.txt",
    })  # fmt: skip
    assert [b.path for b in plan.new["raster"]] == ["in/elevation_export"]
    assert [b.path for b in plan.new["vector"]] == ["in/places.data"]
    assert [b.path for b, _ in plan.unsupported] == ["in/notes.unknown"]

    # Without a content reader the names alone decide: nothing is recognised.
    by_name = plan_for(blobs)
    assert not by_name.new["raster"] and not by_name.new["vector"]


def test_a_json_file_is_geojson_or_skipped_by_its_content(tmp_path: Path) -> None:
    """A data portal's ``datapackage.json`` beside its data is skipped with the reason; before,
    it became a vector partition that failed ("GDAL recognises no vector format")."""
    (tmp_path / "meta.json").write_text('{"name": "pois", "licence": "CC-BY-4.0"}')
    _, plan = _planned(tmp_path, {
        "in/pois.json": _point_file(tmp_path / "pois.json", "GeoJSON"),
        "in/datapackage.json": tmp_path / "meta.json",
    })  # fmt: skip
    assert [b.path for b in plan.new["vector"]] == ["in/pois.json"]
    assert [(b.path, why) for b, why in plan.unsupported] == [
        ("in/datapackage.json", "its content is JSON that is not GeoJSON")
    ]
