"""Mapping STAC asset hrefs back to silver blobs and tables (both blob store backends)."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo_platform.resources.blob_store import AzureBlobStore, LocalBlobStore
from geo_platform.settings import azurite_connection_string
from geo_platform.store import silver
from geo_platform.store import silver_refs as refs

ODD = ["a/b c/Ünïcode #1.tif", "x/100% sure?.tif", "plain/analysis.tif"]


@pytest.mark.parametrize("backend", ["local", "azure"])
def test_href_round_trip(tmp_path: Path, backend: str) -> None:
    store = (
        LocalBlobStore(root=str(tmp_path))
        if backend == "local"
        else AzureBlobStore(connection_string=azurite_connection_string(10000))
    )  # href() is computed locally: no server needed
    for path in ODD:
        href = store.href("silver", path)
        assert refs.blob_path_for_href(store, "silver", href) == path
    # Other containers, other stores and tables are not ours.
    assert refs.blob_path_for_href(store, "silver", store.href("bronze", ODD[0])) is None
    assert refs.blob_path_for_href(store, "silver", "https://elsewhere.example/x.tif") is None
    assert refs.blob_path_for_href(store, "silver", "postgresql://h/db?table=geo.t") is None


def test_tables_kinds_and_layout() -> None:
    assert refs.table_of_href("postgresql://h:5432/db?table=geo.roads") == ("geo", "roads")
    assert refs.table_of_href("postgresql://h/db") is None
    assert refs.table_of_href("/tmp/x.parquet") is None
    vector = {"id": "roads", "properties": {"table:row_count": 3},
              "assets": {"postgis": {"href": "postgresql://h/db?table=geo.roads"}}}  # fmt: skip
    raster = {"id": "a.tif", "properties": {}, "assets": {"analysis": {"href": "/x/a.tif"}}}
    assert refs.item_kind(vector) == "vector" and refs.item_kind(raster) == "raster"
    assert refs.item_tables(vector, "geo") == [("geo", "roads")]
    assert refs.item_tables({**vector, "assets": {}}, "geo") == [("geo", "roads")]
    assert refs.item_tables(raster, "geo") == []
    assert refs.is_protected("system-h3-grids") and not refs.is_protected("rasters-dem")
    # The silver layout the lifecycle code assumes is the one store/silver.py writes.
    assert (refs.STAC_FOLDER, refs.STAGING_ROOT) == (silver.STAC_FOLDER, silver.STAGING_ROOT)
    assert list(refs.ancestors("a/b/c.tif")) == ["a/b", "a"]
