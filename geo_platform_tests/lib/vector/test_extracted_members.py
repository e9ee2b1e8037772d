"""GeoParquet files and workbooks inside a zip of vectors: no GDAL path reads them in place, so
each is copied out of the zip into a private folder (``archive.extracted_member``) and read like
the loose file, at the table stage and at the bronze stage, into real PostGIS."""

from __future__ import annotations

import gc
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
from shapely.geometry import Point

from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.vector.read import open_source
from geo_platform_tests.lib.vector.conftest import publish_file
from geo_platform_tests.lib.vector.test_publish import _db_check


def _delivery(tmp_path: Path) -> Path:
    points = [Point(4, 52), Point(5, 52), Point(6, 51)]
    wells = gpd.GeoDataFrame({"depth": [10.5, 20.0, 7.25]}, geometry=points, crs=4326)
    wells.to_parquet(tmp_path / "wells.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = pd.DataFrame({"name": ["A", "B"], "lat": [52.1, 52.2], "lon": [4.3, 4.4]})
        pyogrio.write_dataframe(frame, tmp_path / "sites.xlsx", driver="XLSX", layer="sites")
    path = tmp_path / "delivery.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(tmp_path / "wells.parquet", "data/wells.parquet")
        zf.write(tmp_path / "sites.xlsx", "data/sites.xlsx")
    return path


def test_parquet_and_workbooks_in_a_zip_publish(pg_conn, pg_schema, tmp_path: Path) -> None:
    path = _delivery(tmp_path)
    layers = {s.name: s for s in open_source(path, "v/delivery.zip")}
    assert set(layers) == {"wells", "sites"}
    assert layers["wells"].driver == "GeoParquet" and layers["sites"].crs_assumed
    tables = {t.layer: t for t in publish_file(pg_conn, path, pg_schema, tmp_path)}
    assert {k: t.rows_loaded for k, t in tables.items()} == {"wells": 3, "sites": 2}
    for t in tables.values():
        _db_check(pg_conn, t)
    folder = layers["wells"].keepalive.path  # the private copy lives as long as its layer
    assert (folder / "wells.parquet").is_file()
    del layers, tables
    gc.collect()
    assert not folder.exists()


def test_the_bronze_stage_reads_them_the_same_way(tmp_path: Path) -> None:
    inv = inventory_file(_delivery(tmp_path), "v/delivery.zip", "vector")
    assert sorted(layer["name"] for layer in inv.layers) == ["sites", "wells"]
    assert inv.features == 5
    loose = inventory_file(tmp_path / "wells.parquet", "v/wells.parquet", "vector")
    assert (loose.driver, loose.features, loose.crs) == ("GeoParquet", 3, "EPSG:4326")
    assert [layer["name"] for layer in loose.layers] == ["wells"]
