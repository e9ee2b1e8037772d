"""The serving stack as its users see it: a STAC client, a tile URL and OGC API Features.

Fixtures publish a real COG into pgstac (through ``publish_source_items``, as the pipeline does)
and a real PostGIS table into a schema of its own (readable by the reader role, as ``geo`` is),
then start the servers of ``geo_platform.app.serve`` on free loopback ports with a private state
folder and blob root; they connect as the reader role. The tests talk to them over HTTP only:
pystac-client for search, plain GETs for tiles, features and the files the hrefs point at.
"""

from __future__ import annotations

import dataclasses
import io
import json
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import psycopg
import pystac
import pytest
import rasterio
from PIL import Image
from psycopg import sql
from pystac.extensions.projection import ProjectionExtension
from pystac_client import Client
from rasterio.transform import from_bounds

from geo_platform.app import serve
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.settings import Settings
from geo_platform.store.catalog import publish_source_items
from geo_platform_tests.e2e.processes import free_port

pytestmark = pytest.mark.slow

BOUNDS = (10.0, 45.0, 10.2, 45.2)  # lon/lat, EPSG:4326
WHEN = datetime(2021, 6, 15, 10, 30, tzinfo=UTC)
POINTS = [(10.01 + 0.03 * i, 45.02 + 0.03 * i, f"place {i}") for i in range(7)]


def _get(url: str, timeout: float = 30) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.headers.get("content-type", ""), resp.read()


def _post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        result: dict[str, Any] = json.loads(resp.read())
    return result


def _write_cog(path: Path) -> None:
    """A 3-band uint8 COG over BOUNDS with a gradient (so tiles are not uniform)."""
    width = height = 512
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    bands = np.stack([np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width))])
    data = np.concatenate([bands, np.full((1, height, width), 128, np.float32)]).astype(np.uint8)
    profile = {
        "driver": "COG", "width": width, "height": height, "count": 3, "dtype": "uint8",
        "crs": "EPSG:4326", "transform": from_bounds(*BOUNDS, width, height),
        "compress": "DEFLATE", "blocksize": 256, "overview_resampling": "average",
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def _stac_item(cog: Path, collection_id: str, item_id: str) -> dict[str, Any]:
    """A STAC 1.1 item for the COG: projection info, local-path asset, searchable properties."""
    with rasterio.open(cog) as src:
        shape, transform = [src.height, src.width], list(src.transform)[:6]
    minx, miny, maxx, maxy = BOUNDS
    geometry = {
        "type": "Polygon",
        "coordinates": [[[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]],
    }
    item = pystac.Item(
        id=item_id, geometry=geometry, bbox=list(BOUNDS), datetime=WHEN,
        properties={"platform": "testsat", "quality": 7}, collection=collection_id,
    )  # fmt: skip
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    proj.apply(code="EPSG:4326", shape=shape, transform=transform, bbox=list(BOUNDS))
    item.add_asset(
        "analysis",
        pystac.Asset(href=str(cog), media_type=pystac.MediaType.COG, roles=["data"]),
    )
    item.add_link(pystac.Link("collection", f"/collections/{collection_id}", pystac.MediaType.JSON))
    out = item.to_dict(include_self_link=False, transform_hrefs=False)
    validate_stac(out)  # offline, against the official schemas (publishing checks it again)
    return out


@pytest.fixture(scope="module")
def published_raster(pg_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A COG on disk, published into pgstac in a collection of its own (deleted afterwards)."""
    tag = uuid.uuid4().hex[:8]
    cog = tmp_path_factory.mktemp("serve_raster") / "gradient.tif"
    _write_cog(cog)
    collection_id, item_id = f"test-serve-{tag}", f"gradient-{tag}"
    item = _stac_item(cog, collection_id, item_id)
    with psycopg.connect(pg_dsn) as conn:
        publish_source_items(conn, [item], f"tests/serve/{tag}/gradient.tif", "raster")
    try:
        yield {"collection": collection_id, "item": item_id, "cog": cog,
               "source": f"tests/serve/{tag}/gradient.tif"}  # fmt: skip
    finally:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("SELECT pgstac.delete_collection(%s)", (collection_id,))
            conn.commit()


@pytest.fixture(scope="module")
def feature_schema(pg_dsn: str, settings: Settings) -> Iterator[str]:
    """A schema (standing in for ``geo``) with one point table of len(POINTS) rows, which the
    reader role may read (what services.access grants on ``geo``)."""
    schema = f"test_serve_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        reader = sql.Identifier(settings.reader_role)
        conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), reader)
        )
        conn.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
                sql.Identifier(schema), reader
            )
        )
        table = sql.Identifier(schema, "places")
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (id integer PRIMARY KEY, name text NOT NULL, "
                "geom geometry(Point, 4326) NOT NULL)"
            ).format(table)
        )
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL(
                    "INSERT INTO {} VALUES (%s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))"
                ).format(table),
                [(i, name, lon, lat) for i, (lon, lat, name) in enumerate(POINTS)],
            )
    try:
        yield schema
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="module")
def servers(
    settings: Settings,
    pg_dsn: str,
    published_raster: dict,
    feature_schema: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Settings]:
    """The servers on free ports, private pid/log folder and blob root; stopped (and checked)
    after."""
    test_settings = dataclasses.replace(
        settings,
        state_dir=tmp_path_factory.mktemp("serve_state"),
        blob_root=tmp_path_factory.mktemp("serve_blobs"),
        geo_schema=feature_schema,
        stac_port=free_port(),
        tiler_port=free_port(),
        features_port=free_port(),
        files_port=free_port(),
    )
    serve.start(test_settings, timeout=90)
    try:
        yield test_settings
    finally:
        stopped = serve.stop(test_settings)
        assert stopped == {"stac": True, "tiles": True, "features": True, "files": True}
        assert not any(s["running"] for s in serve.status(test_settings).values())


def test_start_is_idempotent_and_records_real_pids(servers: Settings) -> None:
    before = serve.status(servers)
    assert all(s["running"] and s["pid"] for s in before.values()), before
    after = serve.start(servers)  # nothing restarts
    assert {k: v["pid"] for k, v in after.items()} == {k: v["pid"] for k, v in before.items()}
    for name, info in after.items():
        cmdline = Path(f"/proc/{info['pid']}/cmdline").read_bytes().split(b"\0")
        assert b"uvicorn" in cmdline, (name, cmdline)  # the server itself, not a shell wrapper


def test_stac_search_with_pystac_client(servers: Settings, published_raster: dict) -> None:
    client = Client.open(serve.server_specs(servers)["stac"].url)
    cid, iid = published_raster["collection"], published_raster["item"]

    def ids(**kwargs: Any) -> list[str]:
        return [i.id for i in client.search(max_items=50, **kwargs).items()]

    collection = client.get_collection(cid)
    assert collection is not None and collection.id == cid
    assert ids(collections=[cid]) == [iid]
    assert ids(collections=[cid], bbox=[10.05, 45.05, 10.1, 45.1]) == [iid]
    assert ids(collections=[cid], bbox=[-5.0, 40.0, -4.0, 41.0]) == []
    assert ids(collections=[cid], datetime="2021-06-01/2021-06-30") == [iid]
    assert ids(collections=[cid], datetime="2022-01-01/2022-12-31") == []
    cql2 = {"op": "and", "args": [
        {"op": "=", "args": [{"property": "platform"}, "testsat"]},
        {"op": ">", "args": [{"property": "quality"}, 5]},
    ]}  # fmt: skip
    assert ids(collections=[cid], filter=cql2, filter_lang="cql2-json") == [iid]
    # CQL2 text goes through GET /search (POST bodies take cql2-json).
    text = {"filter_lang": "cql2-text", "method": "GET"}
    assert ids(collections=[cid], filter="quality > 5 AND platform = 'testsat'", **text) == [iid]
    assert ids(collections=[cid], filter="quality > 9", **text) == []
    # Without a collection filter, bbox + datetime + property still find it among all items.
    found = ids(bbox=list(BOUNDS), datetime="2021-06-15", filter=cql2, filter_lang="cql2-json")
    assert iid in found
    # The provenance queryables (indexed by services up): listed, and filterable across all items.
    base = serve.server_specs(servers)["stac"].url.rstrip("/")
    queryables = json.loads(_get(f"{base}/queryables")[2])["properties"]
    assert {"geo_platform:source_blob", "geo_platform:source_sha256"} <= set(queryables)
    by_source = {
        "op": "=",
        "args": [{"property": "geo_platform:source_blob"}, published_raster["source"]],
    }
    assert ids(filter=by_source, filter_lang="cql2-json") == [iid]
    item = collection.get_item(iid)
    assert item is not None
    assert item.assets["analysis"].href == str(published_raster["cog"])


def _tile_for(zoom: int) -> morecantile.Tile:
    lon, lat = (BOUNDS[0] + BOUNDS[2]) / 2, (BOUNDS[1] + BOUNDS[3]) / 2
    return morecantile.tms.get("WebMercatorQuad").tile(lon, lat, zoom)


def _decode_png(body: bytes) -> np.ndarray:
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(body))
    image.load()
    assert image.size == (256, 256)
    return np.asarray(image.convert("RGBA"))


def test_item_tile_png_from_titiler(servers: Settings, published_raster: dict) -> None:
    links = serve.item_links(
        servers, published_raster["collection"], published_raster["item"], asset="analysis"
    )
    t = _tile_for(12)
    status, ctype, body = _get(links["tiles"].format(z=t.z, x=t.x, y=t.y))
    assert status == 200 and ctype == "image/png"
    rgba = _decode_png(body)
    opaque = rgba[..., 3] > 0
    assert opaque.mean() > 0.2  # the raster covers a good part of this tile
    assert rgba[..., 0][opaque].std() > 1  # a gradient, not a flat fill
    assert set(np.unique(rgba[..., 2][opaque]).tolist()) <= {127, 128, 129}  # band 3 = 128

    # A tile far away has no data: titiler answers 404 (tile outside bounds), never a fake image.
    far = morecantile.tms.get("WebMercatorQuad").tile(-120.0, -40.0, 12)
    with pytest.raises(urllib.error.HTTPError) as err:
        _get(links["tiles"].format(z=far.z, x=far.x, y=far.y))
    assert err.value.code == 404


def test_mosaic_tile_png_for_a_search(servers: Settings, published_raster: dict) -> None:
    base = serve.server_specs(servers)["tiles"].url
    registered = _post_json(
        f"{base}/searches/register",
        {"collections": [published_raster["collection"]], "datetime": "2021-06-15T00:00:00Z/.."},
    )
    search_id = registered["id"]
    t = _tile_for(11)
    query = urllib.parse.urlencode({"assets": "analysis"})
    url = f"{base}/searches/{search_id}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png?{query}"
    status, ctype, body = _get(url)
    assert status == 200 and ctype == "image/png"
    assert (_decode_png(body)[..., 3] > 0).mean() > 0.05
    # The collection mosaic endpoint (same engine, collection as the search).
    coll = serve.collection_links(servers, published_raster["collection"], asset="analysis")
    status, _, body = _get(coll["mosaic_tiles"].format(z=t.z, x=t.x, y=t.y))
    assert status == 200 and (_decode_png(body)[..., 3] > 0).mean() > 0.05


def test_features_from_tipg(servers: Settings, feature_schema: str) -> None:
    links = serve.features_links(servers, "places")
    status, _, body = _get(links["features_collection"])
    assert status == 200
    assert json.loads(body)["id"] == f"{feature_schema}.places"
    status, ctype, body = _get(links["features_items"] + "?limit=100")
    assert status == 200 and "geo+json" in ctype
    page = json.loads(body)
    assert page["type"] == "FeatureCollection"
    assert page["numberMatched"] == len(POINTS) == len(page["features"])
    names = sorted(f["properties"]["name"] for f in page["features"])
    assert names == sorted(name for _, _, name in POINTS)
    first = next(f for f in page["features"] if f["properties"]["name"] == "place 0")
    assert first["geometry"]["coordinates"] == pytest.approx([POINTS[0][0], POINTS[0][1]])
    # Spatial filter: only the first three points are in this box.
    _, _, body = _get(links["features_items"] + "?bbox=10.0,45.0,10.085,45.085")
    assert json.loads(body)["numberMatched"] == 3


@pytest.fixture(scope="module")
def pipeline_raster(pg_dsn: str, servers: Settings) -> Iterator[dict]:
    """A bronze raster taken through the platform's own raster pipeline (COGs + STAC item),
    into the blob root the files server serves, with hrefs under its URL (the public base)."""
    import dagster as dg

    from geo_platform.lib import naming
    from geo_platform_tests.e2e.raster_pipeline import publish_raster
    from geo_platform_tests.fixtures.helpers import TESTDATA

    blob = f"serve{uuid.uuid4().hex[:6]}/imagery/rgb.tif"
    with dg.instance_for_test() as inst, pytest.MonkeyPatch.context() as mp:
        mp.setenv("GEO_PLATFORM_PUBLIC_BASE_URL", serve.server_specs(servers)["files"].url)
        publish_raster(inst, servers.blob_root, blob, TESTDATA / "rasters/rgb_uint8/RGB.byte.tif")
    collection_id = naming.collection_id(blob)
    try:
        yield {"collection": collection_id, "item": naming.item_id(blob)}
    finally:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("SELECT pgstac.delete_collection(%s)", (collection_id,))
            conn.commit()


def test_pipeline_published_raster_is_searchable_and_tiled(
    servers: Settings, pipeline_raster: dict
) -> None:
    """What the platform itself publishes (not a hand-made item) works with both servers."""
    cid, iid = pipeline_raster["collection"], pipeline_raster["item"]
    client = Client.open(serve.server_specs(servers)["stac"].url)
    items = list(client.search(collections=[cid], max_items=10).items())
    assert [i.id for i in items] == [iid]
    item = items[0]
    assert item.bbox is not None
    minx, miny, maxx, maxy = item.bbox
    centre = [(minx + maxx) / 2, (miny + maxy) / 2]
    assert [i.id for i in client.search(collections=[cid], intersects={
        "type": "Point", "coordinates": centre}).items()] == [iid]  # fmt: skip
    # Hrefs are URLs of the files server (the public base), which answers Range requests.
    href = item.assets["analysis"].href
    assert href.startswith(serve.server_specs(servers)["files"].url + "/silver/"), href
    req = urllib.request.Request(href, headers={"Range": "bytes=0-3"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 206 and resp.read() in (b"II*\x00", b"MM\x00*")
    tile = morecantile.tms.get("WebMercatorQuad").tile(centre[0], centre[1], 10)
    for asset in ("analysis", "visualization"):
        links = serve.item_links(servers, cid, iid, asset=asset)
        status, ctype, body = _get(links["tiles"].format(z=tile.z, x=tile.x, y=tile.y))
        assert status == 200 and ctype == "image/png", asset
        rgba = _decode_png(body)
        assert (rgba[..., 3] > 0).mean() > 0.2, asset
        assert rgba[..., :3][rgba[..., 3] > 0].std() > 1, asset


@pytest.fixture(scope="module")
def azure_raster(
    pg_dsn: str, azurite_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    """A COG in a private Azurite container, published with its blob URL as href and a
    ``/vsiaz/`` alternate (the Azure backend's layout)."""
    from azure.storage.blob import BlobServiceClient

    tag = uuid.uuid4().hex[:8]
    container, path = f"serve-{tag}", "rasters/gradient.tif"
    cog = tmp_path_factory.mktemp("serve_azure") / "gradient.tif"
    _write_cog(cog)
    service = BlobServiceClient.from_connection_string(azurite_connection_string)
    service.create_container(container)  # private: no anonymous read
    with cog.open("rb") as fh:
        service.get_blob_client(container, path).upload_blob(fh)
    collection_id, item_id = f"test-serve-az-{tag}", f"gradient-{tag}"
    item = _stac_item(cog, collection_id, item_id)
    asset = item["assets"]["analysis"]
    asset["href"] = f"{service.url.rstrip('/')}/{container}/{path}"
    asset["alternate"] = serve.vsiaz_alternate(container, path)
    with psycopg.connect(pg_dsn) as conn:
        publish_source_items(conn, [item], f"tests/serve/{tag}/azure.tif", "raster")
    try:
        yield {"collection": collection_id, "item": item_id, "href": asset["href"]}
    finally:
        service.delete_container(container)
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("SELECT pgstac.delete_collection(%s)", (collection_id,))
            conn.commit()


def test_azure_assets_are_tiled_through_vsiaz_with_credentials(
    servers: Settings, azure_raster: dict, azurite_connection_string: str
) -> None:
    """The blob URL alone is not readable (private container); the tiler configured for the
    Azure backend reads the /vsiaz/ alternate with the account's credentials."""
    with pytest.raises(urllib.error.HTTPError):
        _get(azure_raster["href"])  # anonymous read of a private blob is refused
    t = _tile_for(12)
    local_links = serve.item_links(
        servers, azure_raster["collection"], azure_raster["item"], asset="analysis"
    )
    with pytest.raises(urllib.error.HTTPError):  # the local-backend tiler has no Azure auth
        _get(local_links["tiles"].format(z=t.z, x=t.x, y=t.y))

    azure = dataclasses.replace(
        servers,
        state_dir=servers.state_dir / "azure",
        blob_backend="azure",
        azure_connection_string=azurite_connection_string,
        tiler_port=free_port(),
    )
    serve.start(azure, ["tiles"], timeout=90)
    try:
        links = serve.item_links(
            azure, azure_raster["collection"], azure_raster["item"], asset="analysis"
        )
        status, ctype, body = _get(links["tiles"].format(z=t.z, x=t.x, y=t.y))
        assert status == 200 and ctype == "image/png"
        rgba = _decode_png(body)
        assert (rgba[..., 3] > 0).mean() > 0.2
    finally:
        assert serve.stop(azure, ["tiles"]) == {"tiles": True}
