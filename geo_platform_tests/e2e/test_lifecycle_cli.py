"""`geo-platform unpublish` and `geo-platform janitor` against the PostgreSQL-backed instance."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from click.testing import CliRunner

from geo_platform.cli.lifecycle import janitor, unpublish
from geo_platform.definitions import build_resources
from geo_platform.lib import naming
from geo_platform.settings import load_settings
from geo_platform.store import pgstac
from geo_platform_tests.fixtures.lifecycle import delete_collections, listing, make_raster
from geo_platform_tests.fixtures.lifecycle import publish as run_pipeline


@pytest.mark.slow
def test_cli_dry_run_apply_and_janitor(
    pg_instance: dg.DagsterInstance, pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEO_PLATFORM_BLOB_ROOT", str(tmp_path / "blobs"))
    monkeypatch.setenv("GEO_PLATFORM_DATABASE_URL", pg_dsn)
    settings = load_settings()
    resources = build_resources(settings)
    store = resources["blob_store"]
    store.ensure_container("bronze")  # type: ignore[attr-defined]
    blob = f"cli{uuid.uuid4().hex[:6]}/dem/x.tif"
    store.upload_file("bronze", blob, make_raster(tmp_path / "x.tif", seed=7))  # type: ignore[attr-defined]
    run_pipeline(pg_instance, resources, "raster", [blob])
    cid, iid = naming.collection_id(blob), naming.item_id(blob)
    try:
        runner = CliRunner()
        silver = listing(store, "silver")
        dry = runner.invoke(unpublish, [iid, "--collection", cid, "--json"])
        assert dry.exit_code == 0, dry.output
        report = json.loads(dry.stdout)  # logs go to stderr
        assert report["dry_run"] and len(report["items"][0]["blobs"]) == 5
        assert listing(store, "silver") == silver
        text = runner.invoke(unpublish, [iid, "-c", cid])
        assert "DRY RUN" in text.output and naming.silver_prefix(blob) in text.output
        applied = runner.invoke(unpublish, [iid, "-c", cid, "--apply", "--reason", "cli test"])
        assert applied.exit_code == 0, applied.output
        assert "audit rows" in applied.output
        with psycopg.connect(pg_dsn) as conn:
            assert pgstac.get_item(conn, cid, iid) is None
        assert listing(store, "silver") == {}
        # The runs are on the instance, tagged with who asked.
        runs = pg_instance.get_runs(dg.RunsFilter(job_name="unpublish_raster"))
        assert len(runs) == 3 and runs[0].tags["geo_platform/requested_by"].startswith("cli:")
        again = runner.invoke(unpublish, [iid, "-c", cid, "--apply"])
        assert again.exit_code == 0 and "already unpublished" in again.output
        unknown = runner.invoke(unpublish, ["nope.tif", "-c", cid, "--apply"])
        assert unknown.exit_code == 1 and "nope.tif" in unknown.output
        sweep = runner.invoke(janitor, ["--json", "--older-than-hours", "1"])
        assert sweep.exit_code == 0, sweep.output
        assert json.loads(sweep.stdout)["dry_run"] is True
    finally:
        delete_collections(pg_dsn, [cid])
