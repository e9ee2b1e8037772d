"""`ingest --wait` of a sidecar alone (a corrected ``.prj``): the file in bronze it belongs to
is published again with it, as the sensor does; it was reported "skipped" and nothing ran."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
from shapely.geometry import Point

from geo_platform.app.ingest import SIDECAR, FileResult, _sidecars, plan_for, refuse_named
from geo_platform.store.blobs.local import LocalBlobStore


def _bronze(tmp_path: Path) -> tuple[LocalBlobStore, Path]:
    src = tmp_path / "src"
    src.mkdir()
    frame = gpd.GeoDataFrame({"n": [1]}, geometry=[Point(500_000, 5_000_000)], crs="EPSG:32631")
    frame.to_file(src / "wells.shp", engine="pyogrio")
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store.ensure_container("bronze")
    for part in src.iterdir():
        store.upload_file("bronze", f"survey/{part.name}", part)
    return store, src


def test_a_sidecar_alone_plans_its_file_again(tmp_path: Path) -> None:
    store, src = _bronze(tmp_path)
    fixed = tmp_path / "wells.prj"
    fixed.write_text((src / "wells.prj").read_text())
    prj = store.upload_file("bronze", "survey/wells.prj", fixed)
    results = {prj.path: FileResult(file=str(fixed), blob=prj.path)}
    plan = plan_for([prj])
    assert plan.new["vector"] == []  # a sidecar is no file of its own
    _sidecars(store, "bronze", [prj], plan, results)
    assert [b.path for b in plan.new["vector"]] == ["survey/wells.shp"]
    assert results["survey/wells.shp"].blob == "survey/wells.shp"
    assert results[prj.path].status == "skipped"
    assert results[prj.path].error == f"{SIDECAR}; survey/wells.shp published again with it"
    refuse_named(list(results.values()), [fixed])  # named, but not refused: it did publish
    assert results[prj.path].status == "skipped"


def test_sidecars_uploaded_with_their_file_run_once(tmp_path: Path) -> None:
    store, _ = _bronze(tmp_path)
    blobs = [b for b in store.list_blobs("bronze", "survey/")]
    results = {b.path: FileResult(file=b.path, blob=b.path) for b in blobs}
    plan = plan_for(blobs)
    _sidecars(store, "bronze", blobs, plan, results)
    assert [b.path for b in plan.new["vector"]] == ["survey/wells.shp"]
    assert {results[b.path].error for b in blobs if not b.path.endswith(".shp")} == {SIDECAR}
