"""A folder of rasters and vectors, ingested as a user would, read back as a client would.

``geo-platform ingest DIR --prefix P --wait`` publishes a 4-band image and a GeoJSON whose
polygon covers it into one collection (the folder). Then, over HTTP only, titiler-pgstac
renders:

- the collection's raster mosaic, although a newer vector item covers the tile (the registered
  search ``geo_platform:mosaic_searches.raster``, and ``/collections/{id}`` with the raster
  filter), while the unfiltered collection mosaic still meets the vector first;
- tiles by render name, from the STAC render extension: the item's ``/renders/{name}`` and the
  mosaic's ``/info`` lead to a TileJSON whose tiles show NDVI where the image has vegetation;
- and ``geo-platform query`` answers an ST_Intersects query over the published vector.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import psycopg
import pytest
import rasterio
import shapely
from PIL import Image
from rasterio.transform import from_bounds

from geo_platform.app import serve
from geo_platform.lib import naming
from geo_platform.lib.stac.raster_mosaic import MOSAIC_KEY, collection_mosaic_query
from geo_platform.lib.stac.render import RENDER_EXTENSION
from geo_platform.lib.stac_ext import MOSAIC_SEARCHES
from geo_platform.settings import REPO_ROOT, Settings, load_settings
from geo_platform.store import pgstac
from geo_platform_tests.e2e.processes import free_port

pytestmark = pytest.mark.slow

BOUNDS = (10.0, 45.0, 10.2, 45.2)
SIZE = 512
# Left half vegetation (NDVI about +0.74), right half bare ground (NDVI about -0.52).
LEFT = {"blue": 500, "green": 900, "red": 600, "nir": 4000}
RIGHT = {"blue": 1500, "green": 1600, "red": 2500, "nir": 800}
AREAS = [  # the first covers the whole image (and more): it hides the raster if drawn
    ("everything", shapely.box(9.9, 44.9, 10.3, 45.3)),
    ("north-east", shapely.box(10.15, 45.15, 10.19, 45.19)),
    ("far away", shapely.box(20.0, 50.0, 20.1, 50.1)),
]
PORTS = ("stac_port", "tiler_port", "features_port", "files_port")


def _write_scene(path: Path) -> None:
    bands = list(LEFT)
    data = np.zeros((4, SIZE, SIZE), np.uint16)
    for i, band in enumerate(bands):
        data[i, :, : SIZE // 2] = LEFT[band]
        data[i, :, SIZE // 2 :] = RIGHT[band]
    profile = {
        "driver": "GTiff", "width": SIZE, "height": SIZE, "count": 4, "dtype": "uint16",
        "crs": "EPSG:4326", "transform": from_bounds(*BOUNDS, SIZE, SIZE),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, band in enumerate(bands, start=1):
            dst.set_band_description(i, band)
        dst.update_tags(TIFFTAG_DATETIME="2020:06:15 10:00:00")  # older than the vector


def _write_areas(path: Path) -> None:
    features = [
        {"type": "Feature", "properties": {"name": name},
         "geometry": json.loads(shapely.to_geojson(geom))}
        for name, geom in AREAS
    ]  # fmt: skip
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            return resp.status, resp.headers.get("content-type", ""), resp.read()
    except urllib.error.HTTPError as exc:  # say which URL, and what the server said
        exc.msg = f"{exc.msg} for {url}: {exc.read()[:500]!r}"
        raise


def _status(url: str) -> tuple[int, bytes]:
    try:
        status, _, body = _get(url)
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    return status, body


def _json(url: str) -> Any:
    return json.loads(_get(url)[2])


def _rgba(body: bytes) -> np.ndarray:
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGBA"))


def _tile(zoom: int = 11) -> morecantile.Tile:
    x, y = (BOUNDS[0] + BOUNDS[2]) / 2, (BOUNDS[1] + BOUNDS[3]) / 2
    return morecantile.tms.get("WebMercatorQuad").tile(x, y, zoom)


def _tile_url(template: str, t: morecantile.Tile) -> str:
    return template.replace("{z}", str(t.z)).replace("{x}", str(t.x)).replace("{y}", str(t.y))


def _tile_from_tilejson(href: str, t: morecantile.Tile) -> np.ndarray:
    """Follow a TileJSON link (templated by tile matrix set) to one PNG tile."""
    for template in ("{tileMatrixSetId}", "%7BtileMatrixSetId%7D"):
        href = href.replace(template, "WebMercatorQuad")
    tilejson = _json(href)
    url = _tile_url(tilejson["tiles"][0], t)
    status, ctype, body = _get(url)
    assert status == 200 and ctype == "image/png", url
    return _rgba(body)


@pytest.fixture(scope="module")
def mixed(
    pg_instance_env: dict[str, str], pg_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """``ingest --prefix`` of a folder with a raster and a vector, on free serving ports."""
    tag = uuid.uuid4().hex[:8]
    prefix = f"mixed{tag}"
    src = tmp_path_factory.mktemp("mixed_in")
    _write_scene(src / "scene.tif")
    _write_areas(src / "areas.geojson")
    ports = {name: free_port() for name in PORTS}
    env = {
        **os.environ,
        **pg_instance_env,
        "GEO_PLATFORM_BLOB_BACKEND": "local",
        "GEO_PLATFORM_BLOB_ROOT": str(tmp_path_factory.mktemp("mixed_blobs")),
        **{f"GEO_PLATFORM_{name.upper()}": str(port) for name, port in ports.items()},
    }
    cli = [sys.executable, "-m", "geo_platform.cli.main"]
    proc = subprocess.run(
        [*cli, "ingest", str(src), "--prefix", prefix, "--wait", "--json"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["blob"]: r for r in json.loads(proc.stdout)}
    assert {r["status"] for r in rows.values()} == {"published"}, rows
    raster, vector = f"{prefix}/scene.tif", f"{prefix}/areas.geojson"
    cid = naming.collection_id(raster)
    assert naming.collection_id(vector) == cid  # one collection for the folder
    try:
        yield {"env": env, "cli": cli, "collection": cid, "raster_item": naming.item_id(raster),
               "table": naming.table_name(vector)}  # fmt: skip
    finally:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("SELECT pgstac.delete_collection(%s)", (cid,))
            conn.commit()


@pytest.fixture(scope="module")
def tiler(mixed: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The servers of ``geo-platform serve`` on the ports the ingest used; the tiler's URL."""
    keys = ("GEO_PLATFORM_BLOB_ROOT", *(f"GEO_PLATFORM_{p.upper()}" for p in PORTS))
    with pytest.MonkeyPatch.context() as mp:
        for key in keys:
            mp.setenv(key, mixed["env"][key])
        settings: Settings = load_settings()
    settings = dataclasses.replace(settings, state_dir=tmp_path_factory.mktemp("mixed_serve"))
    serve.start(settings, timeout=120)
    try:
        yield serve.server_specs(settings)["tiles"].url.rstrip("/")
    finally:
        serve.stop(settings)


def test_collection_and_item_carry_render_extension_renders(
    mixed: dict[str, Any], pg_dsn: str
) -> None:
    with psycopg.connect(pg_dsn) as conn:
        collection = pgstac.get_collection(conn, mixed["collection"])
        item = pgstac.get_item(conn, mixed["collection"], mixed["raster_item"])
    assert collection is not None and item is not None
    expected = {"true-color", "false-color", "ndvi", "ndwi"}
    assert set(item["properties"]["renders"]) == expected
    assert RENDER_EXTENSION in item["stac_extensions"]
    assert set(collection["renders"]) == expected
    assert RENDER_EXTENSION in collection["stac_extensions"]
    assert "analysis" in collection["item_assets"]
    assert collection[MOSAIC_SEARCHES][MOSAIC_KEY]
    kinds = {
        "raster" if "proj:shape" in i["properties"] else "vector"
        for i in _items(pg_dsn, mixed["collection"])
    }
    assert kinds == {"raster", "vector"}  # really a mixed collection


def _items(pg_dsn: str, cid: str) -> list[dict[str, Any]]:
    with psycopg.connect(pg_dsn) as conn:
        return [pgstac.get_item(conn, cid, i) or {} for i in pgstac.item_ids(conn, cid)]


def test_mixed_collection_mosaic_tile_renders_the_raster(
    mixed: dict[str, Any], tiler: str, pg_dsn: str
) -> None:
    cid, t = urllib.parse.quote(mixed["collection"]), _tile()
    path = f"tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"
    # Without the raster filter the newer vector item covers the tile: no picture (the bug).
    status, body = _status(f"{tiler}/collections/{cid}/{path}?assets=analysis")
    assert status in (204, 404) or not (_rgba(body)[..., 3] > 0).any(), status
    # The collection's registered raster mosaic, and the collection endpoint with the filter.
    with psycopg.connect(pg_dsn) as conn:
        collection = pgstac.get_collection(conn, mixed["collection"]) or {}
    search = collection[MOSAIC_SEARCHES][MOSAIC_KEY]
    rgb = {"assets": "analysis", "expression": "b3;b2;b1", "rescale": "0,4000"}
    for url in (
        f"{tiler}/searches/{search}/{path}?{urllib.parse.urlencode(rgb)}",
        f"{tiler}/collections/{cid}/{path}?{collection_mosaic_query(**rgb)}",
    ):
        status, ctype, body = _get(url)
        assert status == 200 and ctype == "image/png", url
        assert (_rgba(body)[..., 3] > 0).mean() > 0.2, url  # the image covers the tile


def _ndvi_sides(rgba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean colour of the opaque pixels left and right of the image's middle (lon 10.1)."""
    t = _tile()
    tms = morecantile.tms.get("WebMercatorQuad")
    west, _, east, _ = tms.bounds(t)
    middle = int((10.1 - west) / (east - west) * rgba.shape[1])
    opaque = rgba[..., 3] > 0
    left = rgba[:, : middle - 2][opaque[:, : middle - 2]][:, :3].mean(axis=0)
    right = rgba[:, middle + 2 :][opaque[:, middle + 2 :]][:, :3].mean(axis=0)
    return left, right


def test_tiles_by_render_name(mixed: dict[str, Any], tiler: str, pg_dsn: str) -> None:
    """titiler-pgstac finds the renders by name: the item's /renders/ndvi and the mosaic's
    /info list TileJSONs; their tiles are green over vegetation and red over bare ground."""
    cid = urllib.parse.quote(mixed["collection"])
    iid = urllib.parse.quote(mixed["raster_item"])
    render = _json(f"{tiler}/collections/{cid}/items/{iid}/renders/ndvi")
    assert render["valid"] and render["params"]["expression"] == "(b4-b3)/(b4+b3)"
    tilejson = next(link["href"] for link in render["links"] if "tilejson" in link["href"])
    left, right = _ndvi_sides(_tile_from_tilejson(tilejson, _tile()))
    assert left[1] > left[0] + 40 and right[0] > right[1] + 40, (left, right)  # rdylgn

    with psycopg.connect(pg_dsn) as conn:
        collection = pgstac.get_collection(conn, mixed["collection"]) or {}
    search = collection[MOSAIC_SEARCHES][MOSAIC_KEY]
    info = _json(f"{tiler}/searches/{search}/info")
    by_name = {
        link["title"]: link["href"] for link in info["links"] if link.get("rel") == "tilejson"
    }
    ndvi = by_name["TileJSON link for `ndvi` layer (Template URL)."]
    left, right = _ndvi_sides(_tile_from_tilejson(ndvi, _tile()))
    assert left[1] > left[0] + 40 and right[0] > right[1] + 40, (left, right)
    true_color = by_name["TileJSON link for `true-color` layer (Template URL)."]
    assert (_tile_from_tilejson(true_color, _tile())[..., 3] > 0).mean() > 0.2


def test_query_st_intersects_over_the_published_vector(mixed: dict[str, Any]) -> None:
    point = shapely.Point(10.17, 45.17)  # inside "everything" and "north-east"
    expected = sorted(name for name, geom in AREAS if geom.intersects(point))
    assert expected == ["everything", "north-east"]
    sql = (
        f'SELECT name FROM "{mixed["table"]}" '
        f"WHERE ST_Intersects(geometry, ST_Point({point.x}, {point.y})) ORDER BY name"
    )
    proc = subprocess.run(
        [*mixed["cli"], "query", sql, "--format", "json"],
        cwd=REPO_ROOT, env=mixed["env"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["name"] for r in json.loads(proc.stdout)] == expected
