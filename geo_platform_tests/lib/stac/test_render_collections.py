"""Collection renders (render extension) and the raster mosaic of a collection that holds
rasters and vectors: pure merging, offline validation, and the search pgstac really runs."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from geo_platform.lib.stac.collection import dataset_collection
from geo_platform.lib.stac.datacube import cube_renders
from geo_platform.lib.stac.raster_mosaic import MOSAIC_KEY, RASTER_ONLY, mosaic_search
from geo_platform.lib.stac.render import (
    RENDER_EXTENSION,
    apply_renders,
    merge_renders,
    with_collection_renders,
)
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.stac_ext import MOSAIC_SEARCHES
from geo_platform.settings import Settings
from geo_platform.store import pgstac
from geo_platform.store.catalog import publish_source_items
from geo_platform.store.mosaic_search import copy_mosaic_searches, register_raster_mosaic

BBOX = [10.0, 45.0, 10.2, 45.2]
BANDS = [
    {"name": n, "eo:common_name": n, "data_type": "uint16", "nodata": 0,
     "statistics": {"minimum": 0, "maximum": hi, "mean": hi / 2, "stddev": hi / 8}}
    for n, hi in (("blue", 3000), ("green", 3200), ("red", 3400), ("nir", 5000))
]  # fmt: skip


def _polygon(bbox: list[float]) -> dict[str, Any]:
    x0, y0, x1, y1 = bbox
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _raster(cid: str, iid: str, when: str, scale: float = 1.0) -> dict[str, Any]:
    """A raster item as the platform publishes one: ``proj:shape``, an analysis COG with
    bands, and its renders."""
    bands = copy.deepcopy(BANDS)
    for b in bands:
        b["statistics"]["maximum"] *= scale
        b["statistics"]["mean"] *= scale
    item = {
        "type": "Feature", "stac_version": "1.1.0", "id": iid, "collection": cid,
        "stac_extensions": ["https://stac-extensions.github.io/projection/v2.0.0/schema.json"],
        "geometry": _polygon(BBOX), "bbox": BBOX,
        "properties": {"datetime": when, "proj:code": "EPSG:4326", "proj:shape": [512, 512]},
        "links": [{"rel": "collection", "href": f"/collections/{cid}", "type": "application/json"}],
        "assets": {"analysis": {"href": f"/data/{iid}.tif", "roles": ["data"], "bands": bands,
                                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                                "title": "Analysis-ready COG"}},
    }  # fmt: skip
    return apply_renders(item)


def _vector(cid: str, iid: str, when: str) -> dict[str, Any]:
    """A vector item covering the same area (no pixel grid, no raster assets)."""
    return {
        "type": "Feature", "stac_version": "1.1.0", "id": iid, "collection": cid,
        "stac_extensions": [], "geometry": _polygon([9.0, 44.0, 11.0, 46.0]),
        "bbox": [9.0, 44.0, 11.0, 46.0], "properties": {"datetime": when},
        "links": [{"rel": "collection", "href": f"/collections/{cid}", "type": "application/json"}],
        "assets": {"geoparquet": {"href": f"/data/{iid}.parquet", "roles": ["data"],
                                  "type": "application/vnd.apache.parquet"}},
    }  # fmt: skip


def test_collection_renders_share_one_stretch_and_validate() -> None:
    a = _raster("c", "a", "2021-01-01T00:00:00Z")
    b = _raster("c", "b", "2021-01-02T00:00:00Z", scale=2.0)
    collection = with_collection_renders(dataset_collection("c", "mixed", "raster"), [a, b])
    renders = collection["renders"]
    assert set(renders) == {"true-color", "false-color", "ndvi", "ndwi"}
    a_tc, b_tc = (i["properties"]["renders"]["true-color"]["rescale"][0] for i in (a, b))
    assert renders["true-color"]["rescale"][0] == [min(a_tc[0], b_tc[0]), max(a_tc[1], b_tc[1])]
    assert renders["ndvi"]["rescale"] == [[-1.0, 1.0]]
    assert collection["item_assets"] == {"analysis": {
        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
        "roles": ["data"], "title": "Analysis-ready COG"}}  # fmt: skip
    assert RENDER_EXTENSION in collection["stac_extensions"]
    assert RENDER_EXTENSION in validate_stac(collection)
    # The extension requires item_assets (or assets) on a collection with renders.
    bare = {k: v for k, v in collection.items() if k != "item_assets"}
    with pytest.raises(Exception, match="render"):
        validate_stac(bare)
    # Merging again is stable; a render whose bands differ keeps its first definition.
    assert with_collection_renders(collection, [a, b]) == collection
    other = copy.deepcopy(b)
    other["properties"]["renders"]["ndvi"]["expression"] = "(b1-b2)/(b1+b2)"
    assert merge_renders(renders, [other])["ndvi"] == renders["ndvi"]
    # Vector items add nothing, and a collection without rasters gets no renders.
    empty = dataset_collection("v", "vectors", "vector")
    assert with_collection_renders(empty, [_vector("v", "x", "2021-01-01T00:00:00Z")]) == empty


def _variable(iid: str, variable: str, nodata: float, low: float, high: float) -> dict[str, Any]:
    """A NetCDF variable's item (one time step), rendered as the multidim path renders it."""
    band = {"name": "time=2020-01-01T00:00:00Z", "data_type": "float32", "nodata": nodata,
            "statistics": {"minimum": low, "maximum": high}}  # fmt: skip
    item = _raster("c", iid, "2020-01-01T00:00:00Z")
    item["assets"]["analysis"]["bands"] = [band]
    item["properties"]["geo_platform:variable"] = variable
    return apply_renders(item, cube_renders(item))


def test_variables_of_one_collection_keep_their_own_stretch_and_nodata() -> None:
    tas = _variable("m-tas", "tas", -999.0, -40.0, 45.0)
    pr = _variable("m-pr", "pr", 1e20, 0.0, 300.0)
    tas_next = _variable("m2-tas", "tas", -999.0, -30.0, 50.0)
    renders = merge_renders({}, [tas, pr, tas_next])
    assert set(renders) == {"colormap-tas", "colormap-pr"}
    # One stretch per variable, wide enough for its items; each keeps its own nodata.
    assert renders["colormap-tas"]["rescale"] == [[-40.0, 50.0]]
    assert renders["colormap-tas"]["nodata"] == -999.0
    assert renders["colormap-pr"]["rescale"] == [[0.0, 300.0]]
    assert renders["colormap-pr"]["nodata"] == 1e20
    collection = with_collection_renders(dataset_collection("c", "cube", "raster"), [tas, pr])
    validate_stac(collection)


def test_items_with_different_nodata_share_a_render_without_one() -> None:
    """Two DEMs of one collection, -9999 and -32768 as nodata: the shared colour ramp names
    neither (titiler takes each COG's own), where it kept the first item's."""
    dem_a = _variable("a", "x", -9999.0, 0.0, 100.0)
    dem_b = _variable("b", "x", -32768.0, 50.0, 900.0)
    same = _variable("c", "x", -9999.0, 0.0, 10.0)
    assert merge_renders({}, [dem_a, dem_b])["colormap-x"].get("nodata") is None
    assert merge_renders({}, [dem_a, same])["colormap-x"]["nodata"] == -9999.0


@pytest.fixture
def mixed_collection(pg_dsn: str) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """A collection with a raster item and a newer vector item that covers it (what
    ``ingest --prefix`` makes of a folder with both), published as the pipeline does."""
    cid = f"test-mixed-{uuid.uuid4().hex[:8]}"
    raster = _raster(cid, "scene.tif", "2021-06-15T00:00:00Z")
    vector = _vector(cid, "areas", "2024-01-01T00:00:00Z")
    with psycopg.connect(pg_dsn) as conn:
        publish_source_items(conn, [raster], f"{cid}/scene.tif", "raster")
        publish_source_items(conn, [vector], f"{cid}/areas.gpkg", "vector")
    try:
        yield cid, raster, vector
    finally:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("SELECT pgstac.delete_collection(%s)", (cid,))
            conn.commit()


def _drawn(conn: psycopg.Connection[Any], search_hash: str) -> list[str]:
    """Ids of the items titiler-pgstac would draw for the tile over BBOX's centre: pgstac's
    ``geojsonsearch`` with the search, newest first, stopping once the tile is covered."""
    x, y = (BBOX[0] + BBOX[2]) / 2, (BBOX[1] + BBOX[3]) / 2
    tile = _polygon([x - 0.01, y - 0.01, x + 0.01, y + 0.01])
    row = conn.execute(
        "SELECT pgstac.geojsonsearch(%s::jsonb, %s)", (json.dumps(tile), search_hash)
    ).fetchone()
    assert row is not None
    return [f["id"] for f in row[0]["features"]]


def test_the_raster_mosaic_of_a_mixed_collection_draws_rasters_only(
    pg_dsn: str, mixed_collection: tuple[str, dict[str, Any], dict[str, Any]]
) -> None:
    cid, raster, vector = mixed_collection
    with psycopg.connect(pg_dsn) as conn:
        search_id = register_raster_mosaic(conn, cid, [raster])
        conn.commit()
        pgstac.prepare(conn)
        plain = conn.execute(
            "SELECT hash FROM search_query(%s::jsonb, _metadata => %s::jsonb)",
            (json.dumps({"collections": [cid]}), json.dumps({"type": "mosaic"})),
        ).fetchone()
        assert plain is not None
        # Every item of the collection: the newer vector covers the tile, nothing else is drawn.
        assert _drawn(conn, plain[0]) == [vector["id"]]
        assert _drawn(conn, search_id) == [raster["id"]]
        collection = pgstac.get_collection(conn, cid)
        stored = conn.execute(
            "SELECT search, metadata FROM searches WHERE hash = %s", (search_id,)
        ).fetchone()
    assert collection is not None and stored is not None
    assert collection[MOSAIC_SEARCHES][MOSAIC_KEY] == search_id
    assert set(collection["renders"]) == {"true-color", "false-color", "ndvi", "ndwi"}
    validate_stac(collection)
    assert stored[0]["filter"] == mosaic_search(cid)["filter"] == RASTER_ONLY
    # titiler-pgstac's defaults: the collection's renders without their titles.
    assert set(stored[1]["defaults"]) == set(collection["renders"])
    assert "title" not in stored[1]["defaults"]["ndvi"]
    assert stored[1]["defaults"]["ndvi"]["expression"] == "(b4-b3)/(b4+b3)"
    # Registering again (a republish) gives the same search.
    with psycopg.connect(pg_dsn) as conn:
        assert register_raster_mosaic(conn, cid, [raster]) == search_id
        conn.rollback()


def test_promoted_collections_search_ids_answer_on_the_target(
    pg_dsn: str, settings: Settings, mixed_collection: tuple[str, dict[str, Any], dict[str, Any]]
) -> None:
    """``copy_mosaic_searches`` registers a collection's searches on the production database
    with the same ids (what promotion calls, so promoted search ids answer there)."""
    cid, raster, _ = mixed_collection
    with psycopg.connect(pg_dsn) as conn:
        search_id = register_raster_mosaic(conn, cid, [raster])
        conn.commit()
        collection = pgstac.get_collection(conn, cid)
    assert collection is not None
    query = "SELECT search->'filter' FROM pgstac.searches WHERE hash = %s"
    with psycopg.connect(pg_dsn) as src, psycopg.connect(settings.production_database_url) as dst:
        assert dst.execute(query, (search_id,)).fetchone() is None  # a new collection's search
        assert copy_mosaic_searches(src, dst, collection) == [search_id]
        dst.commit()
        row = dst.execute(query, (search_id,)).fetchone()
        assert row is not None and row[0] == RASTER_ONLY
        dst.execute("DELETE FROM pgstac.searches WHERE hash = %s", (search_id,))
        dst.commit()
