"""The Azure profile end to end: GEO_PLATFORM_BLOB_BACKEND=azure on Azurite, private containers.

One Dagster daemon (PostgreSQL storage) serves the whole module. ``services up`` creates the
module's own bronze, silver and production containers (private: an anonymous GET is refused);
files are uploaded to bronze with the Azure SDK, as any client of the storage account would, and
the daemon does the rest: the bronze sensor and declarative automation for a raster, a
two-layer GeoPackage and a raster above the tiling threshold (GEO_PLATFORM_TILING_THRESHOLD_PIXELS
lowered so that a 1024 x 768 raster is cut into 512-pixel tiles, the smallest the COG block
size allows), and the collection sensor for a
folder with a ``_collection.json`` marker. Every published item's blob assets carry the /vsiaz/
alternate, and titiler-pgstac, started as ``geo-platform serve`` starts it for the Azure backend,
renders tiles of them from the private container. Then promote, unpublish and the janitor run
as a person runs them (``geo-platform ...`` in a subprocess) against the same containers.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import os
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
import rasterio
from azure.storage.blob import BlobServiceClient
from PIL import Image
from psycopg import sql

from geo_platform import services as svc
from geo_platform.app import serve
from geo_platform.lib import naming
from geo_platform.lib.raster.collection import collection_id_for
from geo_platform.lib.stac.alternates import VSIAZ, blob_path_of
from geo_platform.lib.stac_ext import LAYER, TABLE
from geo_platform.settings import REPO_ROOT, Settings, load_settings
from geo_platform.store import pgstac
from geo_platform_tests.e2e import azure_profile as az
from geo_platform_tests.e2e.processes import daemon, free_port
from geo_platform_tests.fixtures.helpers import TESTDATA

pytestmark = pytest.mark.slow

PIPELINE_DEADLINE_S = 360  # from the daemon's start to every file published
TILING = {"GEO_PLATFORM_TILING_THRESHOLD_PIXELS": "100000", "GEO_PLATFORM_TILING_TILE_SIZE": "512"}


@dataclass
class Profile:
    """The module's Azure deployment: settings, environment, containers, uploaded files."""

    settings: Settings
    env: dict[str, str]
    service: BlobServiceClient
    blobs: dict[str, str]  # raster, vector, tiled -> bronze path
    members: list[str]  # the raster collection's member files
    prefix: str  # the raster collection's folder
    up_state: dict[str, Any]
    proc: subprocess.Popen[bytes]
    log: Path
    started: float
    items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # filled once published

    @property
    def silver_base(self) -> str:
        return f"{self.service.url.rstrip('/')}/{self.settings.silver_container}/"

    def alive(self) -> None:
        assert self.proc.poll() is None, self.log.read_text()[-3000:]


def _environment(pg_instance_env: dict[str, str], conn_str: str, tag: str, tmp: Path) -> dict:
    env = {
        **os.environ,
        **pg_instance_env,
        **TILING,
        "GEO_PLATFORM_BLOB_BACKEND": "azure",
        "AZURE_STORAGE_CONNECTION_STRING": conn_str,
        "GEO_PLATFORM_BRONZE_CONTAINER": f"{tag}-bronze",
        "GEO_PLATFORM_SILVER_CONTAINER": f"{tag}-silver",
        "GEO_PLATFORM_PRODUCTION_CONTAINER": f"{tag}-prod",
        "GEO_PLATFORM_SENSOR_INTERVAL": "5",
        "TMPDIR": str(tmp),  # the runs' and the janitor's temp folder: this module's own
    }
    for key in ("GEO_PLATFORM_EVENT_QUEUE", "GEO_PLATFORM_EXECUTOR", "AZURE_STORAGE_ACCOUNT_URL",
                "GEO_PLATFORM_PUBLIC_BASE_URL", "GEO_PLATFORM_RASTER_COLLECTIONS"):  # fmt: skip
        env.pop(key, None)
    return env


def _settings_of(env: dict[str, str]) -> Settings:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _upload_inputs(service: BlobServiceClient, bronze: str, tag: str, work: Path) -> tuple:
    blobs = {
        "raster": f"{tag}/dem/hills.tif",
        "vector": f"{tag}/places/two_layers.gpkg",
        "tiled": f"{tag}/big/ortho.tif",
        "zipped": f"{tag}/deliveries/scan.zip",  # a raster in a zip: planned from its tail
    }
    prefix = f"{tag}/mosaic/"
    members = [f"{prefix}west.tif", f"{prefix}east.tif"]
    # The marker first: the bronze sensor must never see the members as single files.
    az.upload(service, bronze, f"{prefix}_collection.json", b"{}")
    az.upload(
        service, bronze, members[0], az.gradient_tif(work / "w.tif", 128, 128, (8, 45, 8.1, 45.1))
    )
    az.upload(
        service, bronze, members[1], az.gradient_tif(work / "e.tif", 128, 128, (8.1, 45, 8.2, 45.1))
    )
    az.upload(service, bronze, blobs["raster"], TESTDATA / "rasters/dem_float32/dem-hills.tiff")
    az.upload(service, bronze, blobs["vector"], az.two_layer_gpkg(work / "two_layers.gpkg"))
    big = az.gradient_tif(work / "big.tif", 1024, 768, (9, 45, 9.4, 45.3))
    az.upload(service, bronze, blobs["tiled"], big)
    zipped = work / "scan.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(az.gradient_tif(work / "s.tif", 64, 64, (7, 46, 7.1, 46.1)), "scan/scan.tif")
        archive.writestr("scan/README.txt", "scanned in 1998")
    az.upload(service, bronze, blobs["zipped"], zipped)
    return blobs, members, prefix


def _start_collection_sensor(env: dict[str, str], log: Path) -> None:
    """The collection sensor ships stopped (docs/raster.md): an operator starts it."""
    args = ["dagster", "sensor", "start", "raster_collection_sensor", "-w", "workspace.yaml"]
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
    log.write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def profile(
    pg_instance_env: dict[str, str],
    pg_dsn: str,
    azurite_connection_string: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Profile]:
    tag = f"az{uuid.uuid4().hex[:6]}"
    work = tmp_path_factory.mktemp("azure_profile")
    (work / "tmp").mkdir()
    env = _environment(pg_instance_env, azurite_connection_string, tag, work / "tmp")
    settings = _settings_of(env)
    up_state = svc.up(settings)  # creates the three containers
    service = BlobServiceClient.from_connection_string(azurite_connection_string)
    log = work / "daemon.log"
    try:
        blobs, members, prefix = _upload_inputs(service, settings.bronze_container, tag, work)
        with daemon(env, log) as proc:
            started = time.monotonic()
            _start_collection_sensor(env, work / "sensor-start.log")
            yield Profile(settings, env, service, blobs, members, prefix, up_state, proc, log,
                          started)  # fmt: skip
    finally:
        _clean_up(settings, service, tag, pg_dsn)


def _clean_up(settings: Settings, service: BlobServiceClient, tag: str, dsn: str) -> None:
    for name in (settings.bronze_container, settings.silver_container,
                 settings.production_container):  # fmt: skip
        if service.get_container_client(name).exists():
            service.delete_container(name)
    for url in (dsn, settings.production_database_url):
        with psycopg.connect(url, autocommit=True) as conn:
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM pgstac.collections WHERE id LIKE %s", (f"{tag}%",))]  # fmt: skip
            for cid in ids:
                conn.execute("SELECT pgstac.delete_collection(%s)", (cid,))
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s",
                (settings.geo_schema, f"{tag}%"),
            ).fetchall()
            for (table,) in tables:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
                    sql.Identifier(settings.geo_schema), sql.Identifier(table)))  # fmt: skip


def _published_items(dsn: str, blob: str, count: int) -> list[dict[str, Any]] | None:
    """The items of ``blob`` once there are ``count`` of them, else None."""
    found = az.source_items(dsn, blob)
    items = [item for c, i in found if (item := az.read_item(dsn, c, i)) is not None]
    return items if len(items) >= count else None


@pytest.fixture(scope="module")
def published(profile: Profile, pg_dsn: str) -> Profile:
    """Wait (one deadline for all) until the daemon has published every uploaded file."""
    deadline = profile.started + PIPELINE_DEADLINE_S
    expected = {"raster": 1, "vector": 2, "tiled": 4, "zipped": 1}
    for kind, blob in profile.blobs.items():
        probe = functools.partial(_published_items, pg_dsn, blob, expected[kind])
        profile.items[kind] = az.wait_for(f"{kind} {blob}", probe, deadline, profile.alive)
    profile.items["collection"] = []
    for blob in profile.members:
        probe = functools.partial(_published_items, pg_dsn, blob, 1)
        profile.items["collection"] += az.wait_for(blob, probe, deadline, profile.alive)
    print(f"azure profile: all published {time.monotonic() - profile.started:.0f} s after start")
    return profile


def _blob_assets(profile: Profile, item: dict[str, Any]) -> dict[str, str]:
    """{asset key: blob path} of the item's assets stored in the silver container."""
    out = {}
    for key, asset in item["assets"].items():
        path = blob_path_of(asset["href"], profile.silver_base)
        if path is not None:
            out[key] = path
    return out


def test_services_up_made_the_containers_private(profile: Profile) -> None:
    s = profile.settings
    names = [s.bronze_container, s.silver_container, s.production_container]
    assert profile.up_state["blob_store"]["containers"] == dict.fromkeys(names, "created")
    for name in names:
        container = profile.service.get_container_client(name)
        assert container.get_container_properties().public_access is None
        assert az.anonymous_status(f"{container.url}?restype=container&comp=list") in (403, 404)
    bronze = profile.service.get_container_client(s.bronze_container)
    assert bronze.get_blob_client(profile.blobs["raster"]).exists()  # there, with a credential
    assert az.anonymous_status(f"{bronze.url}/{profile.blobs['raster']}") in (403, 404)


def test_the_daemon_publishes_every_kind_with_vsiaz_alternates(
    published: Profile, pg_dsn: str
) -> None:
    p, silver = published, published.settings.silver_container
    raster = p.items["raster"][0]
    assert raster["id"] == naming.item_id(p.blobs["raster"])
    assert raster["collection"] == naming.collection_id(p.blobs["raster"])
    layers = sorted(i["properties"][LAYER] for i in p.items["vector"])
    assert layers == ["sites", "zones"]
    with psycopg.connect(pg_dsn) as conn:
        counts = sorted(_rows(conn, i["properties"][TABLE]) for i in p.items["vector"])
    assert counts == [2, 5]
    assert len(p.items["tiled"]) == 4  # 1024 x 768 in 512-pixel tiles (the COG block size)
    (zipped,) = p.items["zipped"]
    assert zipped["id"] == naming.item_id(p.blobs["zipped"]) and "analysis" in zipped["assets"]
    assert zipped["bbox"] == pytest.approx([7, 46, 7.1, 46.1], abs=1e-6)
    tiled_prefix = naming.silver_prefix(p.blobs["tiled"])
    container = p.service.get_container_client(silver)
    assert container.get_blob_client(f"{tiled_prefix}/mosaic.json").exists()
    assert {i["collection"] for i in p.items["collection"]} == {collection_id_for(p.prefix)}
    assert len(p.items["collection"]) == 2
    checked = 0
    for kind, items in p.items.items():
        for item in items:
            blobs = _blob_assets(p, item)
            if kind != "vector":
                assert "analysis" in blobs, (kind, item["assets"])
            for key, path in blobs.items():
                alternate = item["assets"][key]["alternate"][VSIAZ]["href"]
                assert alternate == f"/vsiaz/{silver}/{path}", (kind, key)
                assert container.get_blob_client(path).exists(), (kind, path)
                checked += 1
    assert checked >= 12
    href = raster["assets"]["analysis"]["href"]
    assert az.anonymous_status(href) in (403, 404)  # the https href alone is not readable


def _rows(conn: psycopg.Connection[Any], qualified: str) -> int:
    schema, table = qualified.split(".", 1)
    query = sql.SQL("SELECT count(*) FROM {}.{}").format(
        sql.Identifier(schema), sql.Identifier(table)
    )
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else -1


def _png_with_data(body: bytes) -> np.ndarray:
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(body))
    rgba = np.asarray(image.convert("RGBA"))
    assert (rgba[..., 3] > 0).mean() > 0.2
    return rgba


def test_titiler_renders_tiles_from_the_private_container(
    published: Profile, tmp_path: Path
) -> None:
    settings = dataclasses.replace(
        published.settings, state_dir=tmp_path / "serve", tiler_port=free_port()
    )
    spec = serve.server_specs(settings)["tiles"]
    assert spec.env["RIO_TILER_STAC_ALTERNATE_KEY"] == VSIAZ
    assert "AZURE_STORAGE_CONNECTION_STRING" in spec.env
    serve.start(settings, ["tiles"], timeout=120)
    try:
        cases = [
            (published.items["tiled"][0], ""),
            (published.items["collection"][0], ""),
            (published.items["raster"][0], "&rescale=0,1000"),  # float32 heights
        ]
        for item, extra in cases:
            links = serve.item_links(settings, item["collection"], item["id"], asset="analysis")
            t = az.tile_in(item["bbox"])
            status, ctype, body = az.get(links["tiles"].format(z=t.z, x=t.x, y=t.y) + extra)
            assert status == 200 and ctype == "image/png", item["id"]
            rgba = _png_with_data(body)
            assert rgba[..., :3][rgba[..., 3] > 0].std() > 1, item["id"]  # not a flat fill
    finally:
        assert serve.stop(settings, ["tiles"]) == {"tiles": True}


def test_promote_copies_blobs_and_points_the_tiler_at_production(published: Profile) -> None:
    p, prod = published, published.settings.production_container
    cid = p.items["raster"][0]["collection"]
    done = az.cli(p.env, "promote", cid, "--apply", "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert json.loads(done.stdout)["dry_run"] is False
    with psycopg.connect(p.settings.production_database_url) as conn:
        item = pgstac.get_item(conn, cid, p.items["raster"][0]["id"])
    assert item is not None
    asset = item["assets"]["analysis"]
    prod_base = f"{p.service.url.rstrip('/')}/{prod}/"
    path = blob_path_of(asset["href"], prod_base)
    assert path is not None, asset["href"]
    assert asset["alternate"][VSIAZ]["href"] == f"/vsiaz/{prod}/{path}"
    assert p.service.get_blob_client(prod, path).exists()
    credentials = {"AZURE_STORAGE_CONNECTION_STRING": p.env["AZURE_STORAGE_CONNECTION_STRING"]}
    with rasterio.Env(**credentials), rasterio.open(asset["alternate"][VSIAZ]["href"]) as src:
        assert src.count == 1 and src.read(1, window=((0, 16), (0, 16))).size == 256


def test_unpublish_removes_the_item_and_its_blobs_on_azure(published: Profile, pg_dsn: str) -> None:
    p, silver = published, published.settings.silver_container
    item = p.items["raster"][0]
    paths = list(_blob_assets(p, item).values())
    assert all(p.service.get_blob_client(silver, path).exists() for path in paths)
    done = az.cli(p.env, "unpublish", item["id"], "-c", item["collection"], "--apply", "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert az.read_item(pg_dsn, item["collection"], item["id"]) is None
    assert not any(p.service.get_blob_client(silver, path).exists() for path in paths)
    left = list(p.service.get_container_client(silver).list_blobs(
        name_starts_with=naming.silver_prefix(p.blobs["raster"]) + "/"))  # fmt: skip
    assert left == []
    others = _blob_assets(p, p.items["tiled"][0])  # another file's data is untouched
    assert all(p.service.get_blob_client(silver, path).exists() for path in others.values())


def test_janitor_removes_leftovers_and_keeps_live_data_on_azure(published: Profile) -> None:
    p, silver = published, published.settings.silver_container
    container = p.service.get_container_client(silver)
    leftover = f"_staging/{uuid.uuid4().hex}/analysis.tif"  # a killed publish's upload
    container.upload_blob(leftover, b"half a COG")
    live = {path for kind in ("vector", "tiled", "collection") for item in p.items[kind]
            for path in _blob_assets(p, item).values()}  # fmt: skip
    before = {b.name for b in container.list_blobs()} - {leftover}
    time.sleep(2.5)
    hours = "0.0005"  # 1.8 s: the leftover is older than that, and so is everything live
    done = az.cli(p.env, "janitor", "--apply", "--json", "--older-than-hours", hours)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["dry_run"] is False
    assert leftover in [b["path"] for b in report["staging_blobs"]]
    assert not live & {b["path"] for b in report["unreferenced_blobs"]}
    assert not container.get_blob_client(leftover).exists()
    assert all(container.get_blob_client(path).exists() for path in live)
    # Nothing else removed: manifests, mosaics, item JSON. (Compared as a subset: the daemon's
    # daily quality schedule, at 05:00 UTC, may write its reports meanwhile.)
    assert before <= {b.name for b in container.list_blobs()}
    print(f"azure profile: done {time.monotonic() - p.started:.0f} s after the daemon's start")
