"""CLI errors found by the production-shape sweep (sweep 2), against the real services.

- a wrong Azure key: `ingest` (with --json: a JSON object) and `janitor` say in one line that
  the account refused the credentials and what to check, never a traceback;
- a bronze container that does not exist on Azure is refused by `ingest` (not created), with
  the advice `health` gives; the local backend still makes its folder;
- the database down: `janitor` and `promote` say what `unpublish` says (not "Exceeded
  max_retries of 3"), and a run that failed after its retries names the error it retried;
- a raster and a vector item of one collection: the refusal names the CLI's `--kind`;
- a hidden file named on the command line: the hint to rename it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import geopandas as gpd
import psycopg
import pytest
from azure.storage.blob import BlobServiceClient
from click.testing import CliRunner, Result
from shapely.geometry import Point

from geo_platform.cli.main import main
from geo_platform.lib import naming
from geo_platform.settings import REPO_ROOT, load_settings
from geo_platform_tests.fixtures.lifecycle import (
    delete_collections,
    free_port,
    lifecycle_env,
    make_raster,
    publish,
)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A throwaway Dagster instance and local blob root; the database of the session."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("GEO_PLATFORM_BLOB_ROOT", str(tmp_path / "blobs"))
    return monkeypatch


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def azure(env: pytest.MonkeyPatch, azurite_connection_string: str) -> Iterator[dict[str, str]]:
    """The Azure backend on Azurite, with bronze/silver containers of this test (deleted
    after it, with any container the test made by mistake)."""
    tag = uuid.uuid4().hex[:8]
    names = {"bronze": f"sw2-bronze-{tag}", "silver": f"sw2-silver-{tag}"}
    service = BlobServiceClient.from_connection_string(azurite_connection_string)
    for name in names.values():
        service.create_container(name)
    env.setenv("GEO_PLATFORM_BLOB_BACKEND", "azure")
    env.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_connection_string)
    env.setenv("GEO_PLATFORM_BRONZE_CONTAINER", names["bronze"])
    env.setenv("GEO_PLATFORM_SILVER_CONTAINER", names["silver"])
    try:
        yield {**names, "tag": tag, "conn": azurite_connection_string}
    finally:
        for container in service.list_containers(name_starts_with="sw2-"):
            if tag in container.name:
                service.delete_container(container.name)


def test_a_wrong_azure_key_is_one_line_or_a_json_error(
    azure: dict[str, str], env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = azure["conn"].split("AccountKey=")[1].split(";")[0]
    env.setenv("AZURE_STORAGE_CONNECTION_STRING", azure["conn"].replace(key, "X" + key[1:]))
    tif = make_raster(tmp_path / "k.tif", seed=3)

    out = _cli("ingest", str(tif), "--prefix", "sw2", "--wait", "--json")
    assert out.exit_code == 1, out.output
    error = json.loads(out.stdout)["error"]  # JSON, not a traceback
    assert error.startswith(f"{azure['bronze']}: authentication failed")
    assert "'devstoreaccount1'" in error and "AZURE_STORAGE_CONNECTION_STRING" in error
    assert key[1:] not in error

    out = _cli("ingest", str(tif), "--prefix", "sw2")
    assert out.exit_code == 1 and "Traceback" not in out.output
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"Error: {azure['bronze']}: authentication failed")

    out = _cli("janitor", "--json")  # a command that reads the store in a Dagster run
    assert out.exit_code == 1, out.output
    assert "authentication failed" in json.loads(out.stdout)["error"]


def test_ingest_refuses_a_missing_bronze_container_on_azure(
    azure: dict[str, str], env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tif = make_raster(tmp_path / "c.tif", seed=4)
    typo = f"sw2-bronz-{azure['tag']}"
    env.setenv("GEO_PLATFORM_BRONZE_CONTAINER", typo)
    out = _cli("ingest", str(tif), "--prefix", "sw2", "--wait", "--json")
    assert out.exit_code == 1, out.output
    error = json.loads(out.stdout)["error"]
    assert f"the container {typo!r} does not exist" in error
    assert f"az storage container create -n {typo}" in error
    assert "GEO_PLATFORM_BRONZE_CONTAINER" in error
    service = BlobServiceClient.from_connection_string(azure["conn"])
    assert not service.get_container_client(typo).exists()  # not created

    env.setenv("GEO_PLATFORM_BRONZE_CONTAINER", azure["bronze"])  # the real one: uploaded
    out = _cli("ingest", str(tif), "--prefix", "sw2")
    assert out.exit_code == 0, out.output
    assert service.get_container_client(azure["bronze"]).get_blob_client("sw2/c.tif").exists()


def test_the_local_backend_still_makes_its_bronze_folder(env: pytest.MonkeyPatch, tmp_path):
    env.setenv("GEO_PLATFORM_BLOB_BACKEND", "local")
    env.setenv("GEO_PLATFORM_BRONZE_CONTAINER", "bronze-fresh")
    out = _cli("ingest", str(make_raster(tmp_path / "l.tif", seed=5)), "--prefix", "sw2")
    assert out.exit_code == 0, out.output
    assert (tmp_path / "blobs" / "bronze-fresh" / "sw2" / "l.tif").is_file()


def test_a_named_hidden_file_fails_with_a_hint(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("GEO_PLATFORM_BLOB_BACKEND", "local")
    hidden = make_raster(tmp_path / ".foo.tif", seed=6)
    out = _cli("ingest", str(hidden), "--prefix", "sw2", "--wait", "--json")
    assert out.exit_code == 1, out.output
    (row,) = json.loads(out.stdout)
    assert row["status"] == "failed"
    assert "rename it (files whose names start with a dot are ignored as hidden)" in row["error"]


def test_database_down_janitor_and_promote_say_what_unpublish_says(env: pytest.MonkeyPatch):
    url = f"postgresql://geo_platform@127.0.0.1:{free_port()}/geo_platform"  # nothing listens
    env.setenv("GEO_PLATFORM_DATABASE_URL", url)
    said = _cli("unpublish", "x.tif", "-c", "sw2-none").output.strip().splitlines()[-1]
    assert said.startswith("Error: cannot read the catalog: ") and "Connection refused" in said
    for args in (["janitor"], ["promote", "sw2-none"], ["unpublish", "x.tif", "-c", "c", "--kind",
                 "raster"]):  # fmt: skip
        out = _cli(*args)
        assert out.exit_code == 1, out.output
        assert out.output.strip().splitlines()[-1] == said, args
        out = _cli(*args, "--json")
        assert out.exit_code == 1 and json.loads(out.stdout)["error"] == said[len("Error: ") :]


@pytest.mark.slow
def test_a_run_that_failed_after_its_retries_names_the_error(env: pytest.MonkeyPatch) -> None:
    """The production database down: the demotion's run retries, then fails; the report
    names the database, not "Exceeded max_retries of 3"."""
    port = free_port()
    env.setenv("GEO_PLATFORM_PRODUCTION_DATABASE_URL", f"postgresql://x@127.0.0.1:{port}/prod")
    proc = subprocess.run(  # a process of its own: the code location reads the settings once
        [sys.executable, "-m", "geo_platform.cli.main", "demote", "sw2-none", "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert "max_retries" not in error
    assert error.startswith("DatabaseUnavailableError: ") and f":{port}/" in error
    assert "cannot connect to the production database" in error


def _points(path: Path) -> Path:
    gdf = gpd.GeoDataFrame({"k": [1, 2]}, geometry=[Point(1, 1), Point(2, 2)], crs="EPSG:4326")
    gdf.to_file(path)
    return path


@pytest.mark.slow
def test_mixed_kinds_are_refused_naming_the_cli_option(
    pg_dsn: str, tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    env.setenv("GEO_PLATFORM_DATABASE_URL", pg_dsn)
    env.setenv("GEO_PLATFORM_BLOB_BACKEND", "local")
    store, resources = lifecycle_env(tmp_path / "blobs", pg_dsn, load_settings())
    folder = f"sw2mix{uuid.uuid4().hex[:6]}"
    raster, vector = f"{folder}/r.tif", f"{folder}/v.geojson"
    store.upload_file("bronze", raster, make_raster(tmp_path / "r.tif", seed=8))
    store.upload_file("bronze", vector, _points(tmp_path / "v.geojson"))
    cid, rid = naming.collection_id(raster), naming.item_id(raster)
    try:
        with dg.instance_for_test() as inst:
            publish(inst, resources, "raster", [raster])
            publish(inst, resources, "vector", [vector])
        vid = _other_item(pg_dsn, cid, rid)
        out = _cli("unpublish", rid, vid, "-c", cid)
        assert out.exit_code == 1
        message = out.output.strip().splitlines()[-1]
        assert f"{cid}/{vid} is a vector item, not a raster one" in message
        assert f"`geo-platform unpublish {vid} -c {cid} --kind vector`" in message
        assert "the unpublish_vector job" in message
        # What it suggests works: one call per kind.
        for item, kind in ((rid, "raster"), (vid, "vector")):
            done = _cli("unpublish", item, "-c", cid, "--kind", kind, "--apply")
            assert done.exit_code == 0, done.output
    finally:
        delete_collections(pg_dsn, [cid])


def _other_item(dsn: str, collection: str, item_id: str) -> str:
    """The collection's other item (a vector's id is named after its table)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT id FROM pgstac.items WHERE collection = %s AND id <> %s",
            (collection, item_id),
        ).fetchone()
    assert row is not None
    return str(row[0])
