"""geo_platform.app.serve without a database: configuration, links and the failure paths.

The servers answering real clients are tested in e2e/test_serving.py.
"""

from __future__ import annotations

import dataclasses
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


def test_database_url_becomes_each_servers_variables(local: Settings) -> None:
    s = dataclasses.replace(
        local, database_url="postgresql://geo%40user:p%2Fss@db.example:6543/gis", geo_schema="geo"
    )
    specs = serve.server_specs(s)
    stac = specs["stac"].env
    assert (stac["PGUSER"], stac["PGPASSWORD"], stac["PGHOST"]) == (
        "geo@user",
        "p/ss",
        "db.example",
    )
    assert (stac["PGPORT"], stac["PGDATABASE"]) == ("6543", "gis")
    assert specs["tiles"].env["DATABASE_URL"] == s.database_url
    assert specs["features"].env["TIPG_DB_SCHEMAS"] == '["geo"]'
    assert specs["stac"].factory and not specs["tiles"].factory
    # status never exposes the database URL (it holds the password)
    assert "p/ss" not in repr(serve.status(s)) and "p%2Fss" not in repr(serve.status(s))


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
    assert serve.stop(local) == {"stac": False, "tiles": False, "features": False}


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
