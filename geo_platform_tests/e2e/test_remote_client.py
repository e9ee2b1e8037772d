"""What a client on another machine sees: every output opens by URL, checked by others' tools.

The platform is driven only through its command line (``geo-platform ingest --wait``,
``promote --apply``, ``serve --target production``), into a production database and blob root of
this test's own. The client side then uses nothing but URLs (no path of the checkout or of the
blob root): pystac-client for the catalog, GDAL's ``/vsicurl/`` (rasterio) and rio-cogeo for
every COG, GeoParquet fetched over HTTP, GDAL's OGC API Features driver (``OAPIF:`` through
pyogrio) for features, the reader role for PostGIS table hrefs, and stac-api-validator for the
STAC API's conformance classes. The last test runs Dagster's own CLI in the checkout with no
DAGSTER_* variable in its environment: the ``.env`` that ``services up`` writes is enough.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import geopandas as gpd
import numpy as np
import psycopg
import pyogrio
import pytest
import rasterio
from psycopg import sql
from pystac_client import Client
from rasterio.transform import from_bounds
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import Point

from geo_platform.services.access import ensure_access, ensure_production_database
from geo_platform.settings import REPO_ROOT, load_settings, url_with_database, url_with_user
from geo_platform_tests.e2e.processes import free_port

pytestmark = pytest.mark.slow

BOUNDS = (10.0, 45.0, 10.2, 45.2)
BIN = Path(sys.executable).parent
CLI = str(BIN / "geo-platform")


def _run(args: list[str], env: dict[str, str], timeout: float = 600) -> tuple[str, str]:
    """(stdout, stderr) of a command that must succeed."""
    proc = subprocess.run(
        args, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{args}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout, proc.stderr


def _write_inputs(folder: Path) -> Path:
    """A 3-band GeoTIFF and a GeoJSON of points over BOUNDS (the client never sees these)."""
    folder.mkdir(parents=True)
    w = h = 512
    yy, xx = np.mgrid[0:h, 0:w]
    data = np.stack([xx % 256, yy % 256, (xx + yy) % 256]).astype("uint8")
    profile = {"driver": "GTiff", "width": w, "height": h, "count": 3, "dtype": "uint8",
               "crs": "EPSG:4326", "transform": from_bounds(*BOUNDS, w, h)}  # fmt: skip
    with rasterio.open(folder / "scene.tif", "w", **profile) as dst:
        dst.write(data)
    rng = np.random.default_rng(7)
    points = [Point(10.0 + 0.2 * x, 45.0 + 0.2 * y) for x, y in rng.random((40, 2))]
    gpd.GeoDataFrame({"rank": range(40)}, geometry=points, crs="EPSG:4326").to_file(
        folder / "sites.geojson", driver="GeoJSON"
    )
    return folder


@pytest.fixture(scope="module")
def platform(
    pg_dsn: str, pg_instance_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Ingest and promote through the CLI, then `serve --target production`; stopped after."""
    tag = uuid.uuid4().hex[:8]
    tmp = tmp_path_factory.mktemp("remote")
    prod_url = url_with_database(pg_dsn, f"geo_platform_prod_{tag}")
    ports = {name: free_port() for name in ("STAC", "TILER", "FEATURES", "FILES")}
    env = {
        **os.environ,
        **pg_instance_env,
        "GEO_PLATFORM_STATE_DIR": str(tmp / "state"),
        "GEO_PLATFORM_BLOB_ROOT": str(tmp / "blobs"),
        "GEO_PLATFORM_PRODUCTION_DATABASE_URL": prod_url,
        **{f"GEO_PLATFORM_{name}_PORT": str(port) for name, port in ports.items()},
    }
    env.pop("GEO_PLATFORM_PUBLIC_BASE_URL", None)  # the default: the files server
    env.pop("GEO_PLATFORM_VERBOSE", None)
    settings = load_settings()
    import dataclasses

    prod = dataclasses.replace(settings, production_database_url=prod_url)
    ensure_production_database(prod)
    ensure_access(prod)
    prefix = f"remote{tag}"
    out, err = _run([CLI, "ingest", str(_write_inputs(tmp / "in")), "--prefix", prefix,
                     "--wait", "--json"], env)  # fmt: skip
    results = json.loads(out)
    assert {r["status"] for r in results} == {"published"}, results
    collections = sorted({i["collection"] for r in results for i in r["stac_items"]})
    raster = next(i["collection"] for r in results if r["blob"].endswith(".tif")
                  for i in r["stac_items"])  # fmt: skip
    for collection in collections:
        promoted = "".join(_run([CLI, "promote", collection, "--apply"], env))
        assert "BetaWarning" not in promoted and "DEBUG" not in promoted, promoted
    quiet = out + err  # ingest's terminal output
    try:
        _run([CLI, "serve", "--target", "production", "--timeout", "120"], env)
        status = json.loads(_run([CLI, "serve", "--status", "--json"], env)[0])
        yield {
            "env": env,
            "tag": tag,
            "tmp": tmp,
            "prod_url": prod_url,
            "collections": collections,
            "raster": raster,
            "status": status,
            "ingest_output": quiet,
            "urls": {name: info["url"] for name, info in status.items()},
        }
    finally:
        _run([CLI, "serve", "--stop"], env)
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(f"geo_platform_prod_{tag}")
                )
            )
            for collection in collections:
                conn.execute("SELECT pgstac.delete_collection(%s)", (collection,))


def test_servers_run_as_the_reader_on_production(platform: dict[str, Any], pg_dsn: str) -> None:
    status = platform["status"]
    assert set(status) == {"stac", "tiles", "features", "files"}
    for name, info in status.items():
        assert info["running"] and info["target"] == "production", (name, info)
        assert info["role"] == "geo_reader"
    # Who the database sees: the servers' pooled connections are the reader's, nobody else's.
    _get(platform["urls"]["stac"] + "/search?limit=1")
    _get(platform["urls"]["features"] + "/collections")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        users = conn.execute(
            "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = %s AND pid <> "
            "pg_backend_pid() AND backend_type = 'client backend'",  # not autovacuum (no user)
            (urlsplit(platform["prod_url"]).path.lstrip("/"),),
        ).fetchall()
    assert {u for (u,) in users} == {"geo_reader"}
    assert "BetaWarning" not in platform["ingest_output"]
    assert "DEBUG" not in platform["ingest_output"]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as resp:
        assert resp.status == 200, url
        return bytes(resp.read())


def _open_asset(href: str, media_type: str, settings_reader: str) -> str:
    """Open one asset by its URL the way a remote client would; returns what opened it."""
    scheme = urlsplit(href).scheme
    if scheme in {"postgresql", "postgres"}:
        url, _, query = href.partition("?")
        table = query.removeprefix("table=")
        schema, _, name = table.partition(".")
        with psycopg.connect(url_with_user(url, "geo_reader", settings_reader)) as conn:
            count = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))
            ).fetchone()
        assert count is not None and count[0] == 40
        return "postgis"
    assert scheme == "http", href
    if "tiff" in media_type:
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
            is_valid, errors, _ = cog_validate(f"/vsicurl/{href}", quiet=True)
            assert is_valid, (href, errors)
            with rasterio.open(f"/vsicurl/{href}") as ds:
                block = ds.read(1, window=((0, 64), (0, 64)))
                assert block.std() > 0 and ds.crs is not None
        return "cog"
    body = _get(href)
    if "parquet" in media_type:
        frame = gpd.read_parquet(io.BytesIO(body))
        assert len(frame) == 40 and frame.crs is not None and frame.geometry.notna().all()
        return "geoparquet"
    if "png" in media_type:
        assert body[:8] == b"\x89PNG\r\n\x1a\n"
        return "png"
    return "http"


def test_every_asset_href_opens_by_url(platform: dict[str, Any]) -> None:
    client = Client.open(platform["urls"]["stac"])
    items = list(client.search(collections=platform["collections"], max_items=100).items())
    assert len(items) == 2
    reader_password = load_settings().role_password("reader")
    local_roots = (str(REPO_ROOT), str(platform["tmp"]), "file:")
    opened: dict[str, str] = {}
    for item in items:
        for key, asset in item.assets.items():
            assert not asset.href.startswith(local_roots), asset.href
            assert not any(root in asset.href for root in local_roots), asset.href
            kind = _open_asset(asset.href, asset.media_type or "", reader_password)
            opened[f"{item.id}/{key}"] = kind
    kinds = set(opened.values())
    assert {"cog", "geoparquet", "postgis", "png"} <= kinds, opened
    # Range requests really are served (what /vsicurl/ relies on).
    cog = next(a.href for i in items for a in i.assets.values() if "tiff" in (a.media_type or ""))
    req = urllib.request.Request(cog, headers={"Range": "bytes=0-3"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 206 and resp.read() in (b"II*\x00", b"MM\x00*")


def test_features_through_gdal_oapif(platform: dict[str, Any]) -> None:
    base = platform["urls"]["features"]
    listing = json.loads(_get(base + "/collections"))
    ids = [c["id"] for c in listing["collections"] if c["id"].startswith("geo.")]
    table = next(i for i in ids if "sites" in i)
    frame = pyogrio.read_dataframe(f"OAPIF:{base}/collections/{table}")
    assert len(frame) == 40 and frame.crs is not None
    assert sorted(frame["rank"].tolist()) == list(range(40))


def test_search_corner_cases(platform: dict[str, Any]) -> None:
    stac = platform["urls"]["stac"]
    page = json.loads(_get(f"{stac}/search?bbox=9,44,0,11,46,100&limit=1"))
    assert page["numberMatched"] >= 2 and len(page["features"]) == 1
    req = urllib.request.Request(
        f"{stac}/search",
        data=json.dumps(
            {"bbox": [9, 44, 0, 11, 46, 100], "collections": [platform["raster"]]}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = json.loads(resp.read())
    in_collection = json.loads(_get(f"{stac}/collections/{platform['raster']}/items"))
    assert resp.status == 200 and body["numberMatched"] == len(in_collection["features"]) >= 1


def test_stac_api_validator_passes(platform: dict[str, Any]) -> None:
    minx, miny, maxx, maxy = BOUNDS
    geometry = {"type": "Polygon", "coordinates": [[[minx, miny], [maxx, miny], [maxx, maxy],
                                                     [minx, maxy], [minx, miny]]]}  # fmt: skip
    # The validator as installed; only its schema downloads are served from the vendored copies.
    runner = "geo_platform_tests.e2e.stac_api_validator_offline"
    args = [sys.executable, "-m", runner, "--root-url", platform["urls"]["stac"],
            "--collection", platform["raster"], "--geometry", json.dumps(geometry)]  # fmt: skip
    for conformance in ("core", "collections", "features", "item-search", "filter"):
        args += ["--conformance", conformance]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    print(proc.stdout, proc.stderr)  # the report, for `pytest -s` and CI logs
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    assert "Errors: none" in proc.stdout


def test_dagster_cli_runs_in_the_checkout_without_eval() -> None:
    """``services up`` wrote ``.env`` at the root: a bare `dagster` command finds its instance."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")}
    write = "from geo_platform.app.instance import write_dotenv; " \
            "from geo_platform.services import ensure_dagster_home; " \
            "from geo_platform.settings import load_settings as s; " \
            "ensure_dagster_home(s()); write_dotenv(s())"  # fmt: skip
    _run([sys.executable, "-c", write], clean)  # what `services up` does (idempotent)
    out = "".join(_run([str(BIN / "dagster"), "asset", "materialize", "-m",
                        "geo_platform.definitions", "--select", "h3_grid", "--partition", "0"],
                       clean))  # fmt: skip
    assert "RUN_SUCCESS" in out, out[-3000:]
