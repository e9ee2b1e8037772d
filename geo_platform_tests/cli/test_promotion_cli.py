"""`geo-platform promote` / `demote`: dry run by default, --apply, --json, clear failures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from geo_platform.cli.promotion import demote, promote
from geo_platform.settings import load_settings
from geo_platform_tests.fixtures.promotion import Dataset, count_rows, drop_dataset, make_dataset


@pytest.fixture
def ds(pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dataset]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # a throwaway instance
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("GEO_PLATFORM_BLOB_ROOT", str(tmp_path / "blobs"))
    dataset = make_dataset(load_settings(), tmp_path)
    try:
        yield dataset
    finally:
        drop_dataset(dataset)


def test_promote_and_demote_from_the_command_line(ds: Dataset) -> None:
    runner = CliRunner()
    dry = runner.invoke(promote, [ds.collection])
    assert dry.exit_code == 0, dry.output
    assert "DRY RUN" in dry.output and "nothing was changed" in dry.output
    with ds.production() as conn:
        assert count_rows(conn, ds.table) is None

    real = runner.invoke(promote, [ds.collection, "--items", ds.vector_id, "--apply", "--json"])
    assert real.exit_code == 0, real.output
    report = json.loads(real.stdout)
    assert report["dry_run"] is False and report["plan"]["items"] == [ds.vector_id]
    assert report["tables"][0]["rows"] == 100 and report["audit_id"]
    with ds.production() as conn:
        assert count_rows(conn, ds.table) == 100

    out = runner.invoke(demote, [ds.collection, "--json"])
    assert json.loads(out.stdout)["plan"]["items"] == [ds.vector_id]
    out = runner.invoke(demote, [ds.collection, "--apply"])
    assert out.exit_code == 0, out.output
    with ds.production() as conn:
        assert count_rows(conn, ds.table) is None


def test_failures_exit_non_zero_with_the_reason(ds: Dataset) -> None:
    result = CliRunner().invoke(promote, ["no-such-collection", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert "NotFoundError" in report["error"] and "no-such-collection" in report["error"]
    result = CliRunner().invoke(demote, ["system-grids", "--apply"])
    assert result.exit_code == 1 and "protected" in result.output
