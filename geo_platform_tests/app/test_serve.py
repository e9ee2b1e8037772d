"""geo_platform.app.serve without a database: configuration, links and the failure paths.

The servers answering real clients are tested in e2e/test_serving.py.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from geo_platform.app import serve
from geo_platform.cli.serve import serve as serve_command
from geo_platform.lib.errors import ConfigError
from geo_platform.settings import Settings, load_settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def local(settings: Settings, tmp_path: Path) -> Settings:
    """Settings with a private state folder and free ports (never the developer's servers)."""
    return dataclasses.replace(
        settings,
        state_dir=tmp_path / "state",
        stac_port=_free_port(),
        tiler_port=_free_port(),
        features_port=_free_port(),
    )


def test_ports_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEO_PLATFORM_STAC_PORT", "9181")
    monkeypatch.setenv("GEO_PLATFORM_TILER_PORT", "9182")
    monkeypatch.delenv("GEO_PLATFORM_FEATURES_PORT", raising=False)
    s = load_settings()
    assert (s.stac_port, s.tiler_port, s.features_port) == (9181, 9182, 8083)
    specs = serve.server_specs(s)
    assert specs["stac"].url == "http://127.0.0.1:9181"
    assert specs["tiles"].url == "http://127.0.0.1:9182"


def test_servers_connect_as_the_reader_to_the_target(local: Settings) -> None:
    """Host, port and database from the target's URL; user and password of the reader role,
    never the administrator's from the URL."""
    s = dataclasses.replace(
        local,
        database_url="postgresql://geo%40admin:p%2Fss@db.example:6543/gis",
        production_database_url="postgresql://geo%40admin:p%2Fss@db.example:6543/gis_prod",
        geo_schema="geo",
        role_passwords={"reader": "r/ead"},
    )
    specs = serve.server_specs(s)
    stac = specs["stac"].env
    assert (stac["PGUSER"], stac["PGPASSWORD"], stac["PGHOST"]) == (
        "geo_reader",
        "r/ead",
        "db.example",
    )
    assert (stac["PGPORT"], stac["PGDATABASE"]) == ("6543", "gis")
    assert specs["tiles"].env["DATABASE_URL"] == s.role_url("reader", "staging")
    assert specs["features"].env["DATABASE_URL"].startswith("postgresql://geo_reader:")
    assert specs["features"].env["TIPG_DB_SCHEMAS"] == '["geo"]'
    assert specs["stac"].factory and not specs["tiles"].factory
    assert specs["stac"].app == "geo_platform.app.stac_api:create_app"
    prod = serve.server_specs(s, "production")
    assert prod["stac"].env["PGDATABASE"] == "gis_prod"
    assert all("p/ss" not in v for spec in prod.values() for v in spec.env.values())
    # The files server serves the target's container only.
    assert json.loads(prod["files"].env["GEO_PLATFORM_FILES_DIRS"]) == {
        "silver-prod": str((s.blob_root / "silver-prod").resolve())
    }
    assert list(json.loads(specs["files"].env["GEO_PLATFORM_FILES_DIRS"])) == ["silver"]
    # status never exposes the database URL (it holds the password)
    assert "p/ss" not in repr(serve.status(s)) and "r/ead" not in repr(serve.status(s))
    with pytest.raises(ConfigError, match="unknown target"):
        serve.server_specs(s, "qa")


def test_a_non_postgres_url_is_a_config_error(local: Settings) -> None:
    with pytest.raises(ConfigError, match="not a postgresql"):
        serve.server_specs(dataclasses.replace(local, database_url="sqlite:///x.db"))


def test_unknown_server_names_are_refused(local: Settings) -> None:
    with pytest.raises(ConfigError, match="unknown server"):
        serve.start(local, ["stac", "wms"])


def test_port_taken_by_someone_else_names_the_variable(local: Settings) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", local.stac_port))
        squatter.listen()
        with pytest.raises(ConfigError, match="GEO_PLATFORM_STAC_PORT"):
            serve.start(local, ["stac"], timeout=5)
    assert not (serve.serve_dir(local) / "stac.pid").exists()


def test_a_server_that_dies_reports_its_log(local: Settings) -> None:
    """stac-fastapi cannot reach its database: start fails fast with the log, no pid left."""
    dead_db = f"postgresql://nobody@127.0.0.1:{_free_port()}/nothing"
    s = dataclasses.replace(local, database_url=dead_db)
    with pytest.raises(serve.ServerStartError) as err:
        serve.start(s, ["stac"], timeout=60)
    assert "stac server" in str(err.value) and str(err.value.path).endswith("stac.log")
    assert "Connect call failed" in str(err.value) or "refused" in str(err.value).lower()
    assert serve.status(s)["stac"] == {**serve.status(s)["stac"], "running": False, "pid": None}


def test_stop_when_nothing_runs(local: Settings) -> None:
    assert serve.stop(local) == {"stac": False, "tiles": False, "features": False, "files": False}


def test_links_quote_ids_and_use_the_configured_ports(local: Settings) -> None:
    links = serve.item_links(local, "dem coll", "a/b#1", asset="analysis")
    assert links["stac_item"] == (
        f"http://127.0.0.1:{local.stac_port}/collections/dem%20coll/items/a%2Fb%231"
    )
    assert links["tiles"].startswith(f"http://127.0.0.1:{local.tiler_port}/collections/dem%20coll")
    assert links["tiles"].endswith("/tiles/WebMercatorQuad/{z}/{x}/{y}.png?assets=analysis")
    assert set(serve.item_links(local, "c", "i")) == {"stac_item"}
    feats = serve.features_links(dataclasses.replace(local, geo_schema="geo"), "roads")
    assert feats["features_items"].endswith("/collections/geo.roads/items")


def test_cli_status_and_stop(local: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEO_PLATFORM_STATE_DIR", str(local.state_dir))
    monkeypatch.setenv("GEO_PLATFORM_STAC_PORT", str(local.stac_port))
    runner = CliRunner()
    result = runner.invoke(serve_command, ["--status", "--json"])
    assert result.exit_code == 0, result.output
    assert '"running": false' in result.output
    assert f"127.0.0.1:{local.stac_port}" in result.output
    result = runner.invoke(serve_command, ["--stop"])
    assert result.exit_code == 0 and "nothing was running" in result.output
    result = runner.invoke(serve_command, ["--stop", "--status"])
    assert result.exit_code != 0


def test_tiler_gets_azure_credentials_only_for_the_azure_backend(local: Settings) -> None:
    assert "RIO_TILER_STAC_ALTERNATE_KEY" not in serve.server_specs(local)["tiles"].env
    managed = dataclasses.replace(
        local,
        blob_backend="azure",
        azure_connection_string="",
        azure_account_url="https://geodata.blob.core.windows.net",
    )
    env = serve.server_specs(managed)["tiles"].env
    assert env["RIO_TILER_STAC_ALTERNATE_KEY"] == "vsiaz"
    assert env["AZURE_STORAGE_ACCOUNT"] == "geodata"  # GDAL then uses the managed identity
    assert "AZURE_STORAGE_CONNECTION_STRING" not in env
    assert serve.vsiaz_alternate("silver", "a/b.tif") == {
        "vsiaz": {"href": "/vsiaz/silver/a/b.tif", "title": "GDAL /vsiaz/"}
    }
    tls = dataclasses.replace(local, database_url="postgresql://u:p@h:5432/db?sslmode=require")
    assert serve.server_specs(tls)["stac"].env["PGSSLMODE"] == "require"


# --- hrefs that resolve ------------------------------------------------------------------------
def test_blob_hrefs_are_urls_under_the_public_base(tmp_path: Path) -> None:
    from geo_platform.lib import links
    from geo_platform.store.blobs.local import LocalBlobStore

    store = LocalBlobStore(root=str(tmp_path), public_url="http://files.example:8084/")
    href = store.href("silver", "a b/c#1.tif")
    assert href == "http://files.example:8084/silver/a%20b/c%231.tif"
    assert store.file_path("silver", "a b/c#1.tif") == (tmp_path / "silver/a b/c#1.tif").resolve()
    assert LocalBlobStore(root=str(tmp_path)).href("silver", "x.tif") == str(
        (tmp_path / "silver" / "x.tif").resolve()
    )  # no public URL: a path for tools on this machine
    assert links.blob_path_under("http://files.example:8084/silver/", href) == "a b/c#1.tif"
    legacy = str(tmp_path / "silver" / "a" / "silver" / "b.tif")
    assert links.container_prefixes(legacy, "silver")[0].endswith("/silver/a/silver/")
    assert links.container_prefixes(legacy, "silver")[-1] == str(tmp_path / "silver") + "/"
    assert links.file_alternate("/d/x y.tif") == {
        "file": {"href": "file:///d/x%20y.tif", "title": "Local file"}
    }


def test_settings_choose_the_public_base(monkeypatch: pytest.MonkeyPatch) -> None:
    from geo_platform.resources.blob_store import blob_store_from_settings

    monkeypatch.delenv("GEO_PLATFORM_PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("GEO_PLATFORM_FILES_PORT", "9184")
    s = load_settings()
    assert s.public_blob_base == "http://127.0.0.1:9184"
    assert (
        blob_store_from_settings(s).href("silver", "a.tif") == "http://127.0.0.1:9184/silver/a.tif"
    )
    monkeypatch.setenv("GEO_PLATFORM_PUBLIC_BASE_URL", "https://data.example.org/blobs/")
    s = load_settings()
    assert blob_store_from_settings(s).href("silver-prod", "a.tif") == (
        "https://data.example.org/blobs/silver-prod/a.tif"
    )
    azure = dataclasses.replace(s, blob_backend="azure", public_base_url="")
    assert azure.public_blob_base == ""  # the account URL (the store's own)


def test_rebase_item_rewrites_assets_and_their_links() -> None:
    from geo_platform.lib.links import rebase_item

    item = {
        "id": "i",
        "assets": {
            "a": {"href": "/old/silver/x.tif"},
            "t": {"href": "postgresql://h/db?table=geo.t"},
        },
        "links": [{"rel": "alternate", "href": "/old/silver/x.tif"}],
    }
    new, changed = rebase_item(
        item, lambda h: "http://n/silver/x.tif" if h.startswith("/old/") else None
    )
    assert changed == {"/old/silver/x.tif": "http://n/silver/x.tif"}
    assert new["assets"]["a"]["href"] == new["links"][0]["href"] == "http://n/silver/x.tif"
    assert new["assets"]["t"] == item["assets"]["t"] and item["assets"]["a"]["href"].startswith(
        "/old"
    )


def test_files_server_serves_ranges_and_nothing_else(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from geo_platform.app.files_server import build_app

    folder = tmp_path / "silver-prod"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "x.tif").write_bytes(b"II*\x00" + bytes(range(200)))
    (folder / ".geo-platform-tmp").mkdir()
    (folder / ".geo-platform-tmp" / "partial").write_bytes(b"half")
    (tmp_path / "secret.txt").write_text("no")
    client = TestClient(build_app({"silver-prod": str(folder)}))
    whole = client.get("/silver-prod/a/x.tif")
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    part = client.get("/silver-prod/a/x.tif", headers={"Range": "bytes=0-3"})
    assert part.status_code == 206 and part.content == b"II*\x00"
    assert part.headers["content-range"] == "bytes 0-3/204"
    assert client.head("/silver-prod/a/x.tif").headers["content-length"] == "204"
    assert client.get("/silver-prod/.geo-platform-tmp/partial").status_code == 404
    assert client.get("/silver-prod/../secret.txt").status_code == 404
    assert client.get("/silver-prod/a/").status_code == 404  # no listings
    assert client.get("/silver/a/x.tif").status_code == 404  # not a served container
    assert client.get("/healthz").text == "ok"


def test_stac_api_wrapper_searches_a_3d_bbox_in_2d() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from geo_platform.app.stac_api import FlatBbox

    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse({"query": request.query_params.get("bbox"), "body": body.decode()})

    upstream = Starlette(routes=[Route("/search", echo, methods=["GET", "POST"]),
                                 Route("/other", echo)])  # fmt: skip
    client = TestClient(FlatBbox(upstream))
    got = client.get("/search", params={"bbox": "1,2,0,3,4,9", "limit": "1"}).json()
    assert got["query"] == "1,2,3,4"
    got = client.post("/search", json={"bbox": [1, 2, 0, 3, 4, 9], "limit": 1}).json()
    assert json.loads(got["body"]) == {"bbox": [1, 2, 3, 4], "limit": 1}
    assert client.get("/search", params={"bbox": "1,2,3,4,5"}).json()["query"] == "1,2,3,4,5"
    assert client.get("/other", params={"bbox": "1,2,0,3,4,9"}).json()["query"] == "1,2,0,3,4,9"


def test_stack_health_endpoint_for_load_balancers(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``GET /healthz`` on the STAC API: 200 when the database and every peer answer, 503
    naming what failed otherwise (a real database, real HTTP peers on loopback)."""
    import http.server
    import threading
    from urllib.parse import urlsplit

    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from geo_platform.app.stac_api import Health

    parts = urlsplit(pg_dsn)
    for var, value in {
        "PGHOST": parts.hostname,
        "PGPORT": str(parts.port),
        "PGUSER": parts.username,
        "PGDATABASE": parts.path.lstrip("/"),
    }.items():
        monkeypatch.setenv(var, value or "")
    if parts.password:
        monkeypatch.setenv("PGPASSWORD", parts.password)

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        up = f"http://127.0.0.1:{server.server_address[1]}/healthz"
        client = TestClient(Health(Starlette(), peers={"tiles": up}))
        good = client.get("/healthz")
        assert good.status_code == 200, good.text
        body = good.json()
        assert body["healthy"] is True and body["checks"]["database"]["detail"].startswith("pgstac")
        down = f"http://127.0.0.1:{_free_port()}/healthz"
        client = TestClient(Health(Starlette(), peers={"tiles": up, "features": down}))
        bad = client.get("/healthz")
        assert bad.status_code == 503
        checks = bad.json()["checks"]
        assert checks["tiles"]["ok"] and not checks["features"]["ok"]
        assert "URLError" in checks["features"]["detail"]
        # Other paths go to the wrapped app untouched.
        assert client.get("/anything").status_code == 404
    finally:
        server.shutdown()


def test_serve_tells_the_stac_api_its_peers(local: Settings) -> None:
    specs = serve.server_specs(local)
    peers = json.loads(specs["stac"].env["GEO_PLATFORM_HEALTH_PEERS"])
    assert set(peers) == set(specs) - {"stac"}
    assert peers["tiles"] == f"{specs['tiles'].url}/healthz"


# --- Dagster's own CLI and a quiet terminal ---------------------------------------------------
def test_dotenv_gives_defaults_that_the_environment_overrides(
    local: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster._core.secrets.env_file import get_env_var_dict

    from geo_platform.app.instance import dagster_env, write_dotenv

    for key in dagster_env(local):  # as in a fresh shell (not one with scripts/env.sh applied)
        monkeypatch.delenv(key, raising=False)
    target = write_dotenv(local, tmp_path / ".env")
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    loaded = get_env_var_dict(str(tmp_path))  # what Dagster's CLI reads from its cwd
    assert loaded == dagster_env(local)
    monkeypatch.setenv("DAGSTER_HOME", "/somewhere/else")
    assert get_env_var_dict(str(tmp_path))["DAGSTER_HOME"] == "/somewhere/else"
    odd = dataclasses.replace(local, database_url="postgresql://u:pa$s}@h:5432/db")
    monkeypatch.delenv("DAGSTER_PG_PASSWORD", raising=False)
    text = write_dotenv(odd, tmp_path / ".env").read_text()
    assert "pa$s" not in text and "DAGSTER_PG_PASSWORD not written" in text


def test_cli_is_quiet_unless_verbose(monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    from geo_platform.app.instance import console_logs, quiet_warnings

    monkeypatch.delenv("GEO_PLATFORM_VERBOSE", raising=False)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_warnings()
        warnings.warn("Parameter `owners` of X is currently in beta, and may change", stacklevel=1)
        warnings.warn("something else", stacklevel=1)
    assert [str(w.message) for w in seen] == ["something else"]
    assert console_logs()["loggers"]["console"]["config"]["log_level"] == "CRITICAL"
    monkeypatch.setenv("GEO_PLATFORM_VERBOSE", "1")
    assert console_logs() == {}


def test_demo_says_where_real_samples_come_from(tmp_path: Path) -> None:
    from geo_platform.app.demo import REAL_SAMPLES, collect_real_samples

    missing = collect_real_samples(tmp_path / "out", tmp_path / "nowhere")
    assert missing["exists"] is False and missing["found"] == []
    assert sorted(missing["missing"]) == sorted(REAL_SAMPLES)
    source = tmp_path / "samples"
    rel = next(iter(REAL_SAMPLES))
    (source / rel).parent.mkdir(parents=True)
    (source / rel).write_bytes(b"x")
    found = collect_real_samples(tmp_path / "out", source)
    assert found["found"] == [rel]
    assert (tmp_path / "out" / REAL_SAMPLES[rel] / Path(rel).name).read_bytes() == b"x"


def test_services_down_prints_like_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A state folder where nothing runs (never the shared services): one line per service."""
    from geo_platform.cli.services import services

    monkeypatch.setenv("GEO_PLATFORM_STATE_DIR", str(tmp_path / "state"))
    for name in ("PG_PORT", "AZURITE_PORT", "AZURITE_QUEUE_PORT", "PGBOUNCER_PORT"):
        monkeypatch.setenv(f"GEO_PLATFORM_{name}", str(_free_port()))
    monkeypatch.delenv("GEO_PLATFORM_DATABASE_URL", raising=False)
    down = CliRunner().invoke(services, ["down"])
    assert down.exit_code == 0, down.output
    lines = down.output.splitlines()
    assert lines[0].split() == ["stopped", "nothing", "was", "running"]
    assert any(line.startswith("postgres   down ") for line in lines)
    assert "{" not in lines[1]  # not a JSON dump
    status = CliRunner().invoke(services, ["status"])
    assert status.output.splitlines()[0] == lines[1]
