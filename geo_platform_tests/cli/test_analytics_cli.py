"""`geo-platform query`: DuckDB over published silver GeoParquet, in every output format."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import geopandas as gpd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from geo_platform.cli.analytics import query
from geo_platform_tests.fixtures.helpers import TESTDATA

YNP = TESTDATA / "vectors" / "gpkg_multilayer" / "ynp_features.gpkg"


@pytest.fixture
def silver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local silver container with two published datasets and one H3 aggregate."""
    monkeypatch.setenv("GEO_PLATFORM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("GEO_PLATFORM_BLOB_ROOT", str(tmp_path / "blobs"))
    monkeypatch.setenv("GEO_PLATFORM_BLOB_BACKEND", "local")
    monkeypatch.setenv("GEO_PLATFORM_SILVER_CONTAINER", "silver")
    folder = tmp_path / "blobs" / "silver" / "parks" / "ynp-gpkg"
    (folder / "h3").mkdir(parents=True)
    (folder / "stac").mkdir()
    for layer in ("points_of_interest", "roads"):
        gdf = gpd.read_file(YNP, layer=layer).to_crs(4326)
        gdf.to_parquet(folder / f"parks_ynp__{layer}.parquet")
    (folder / "stac" / "x.json").write_text("{}")  # not a dataset
    from geo_platform.store.analytics import aggregate_to_h3

    aggregate_to_h3(folder / "parks_ynp__points_of_interest.parquet", 6,
                    folder / "h3" / "parks_ynp__points_of_interest_res6.parquet")  # fmt: skip
    return tmp_path


def _run(*args: str):
    return CliRunner().invoke(query, list(args), catch_exceptions=False)


def test_list_views_alone_prints_them_on_stdout(silver: Path) -> None:
    r = _run("--list-views")
    assert r.exit_code == 0, r.output
    assert {line.split("\t")[0] for line in r.stdout.splitlines()} >= {"parks_ynp__roads"}
    assert _run().exit_code == 2  # neither SQL nor --list-views: a usage error


def test_table_output_and_view_names(silver: Path) -> None:
    r = _run("SELECT count(*) AS n FROM parks_ynp__points_of_interest", "--list-views")
    assert r.exit_code == 0, r.output
    assert "1399" in r.stdout and "(1 row)" in r.stdout
    views = {line.split("\t")[0] for line in r.stderr.splitlines()}
    assert views == {
        "parks_ynp__points_of_interest",
        "parks_ynp__roads",
        "parks_ynp__points_of_interest_h3_res6",
    }


def test_csv_and_json_output(silver: Path) -> None:
    sql = (
        "SELECT sum(point_count) AS points, count(*) AS cells "
        "FROM parks_ynp__points_of_interest_h3_res6"
    )
    r = _run(sql, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows[0]["points"] == "1399" and int(rows[0]["cells"]) > 10
    r = _run("SELECT * FROM parks_ynp__roads LIMIT 2", "--format", "json")
    data = json.loads(r.stdout)
    assert len(data) == 2 and data[0]["geometry"].startswith("LINESTRING")


def test_parquet_output_to_file(silver: Path) -> None:
    out = silver / "out" / "roads.parquet"
    r = _run("SELECT * FROM parks_ynp__roads", "--format", "parquet", "--output", str(out))
    assert r.exit_code == 0 and "2021 rows written" in r.stderr
    assert pq.read_table(out).num_rows == 2021
    assert gpd.read_parquet(out).geom_type.unique().tolist() == ["LineString"]


def test_errors_are_reported_without_a_traceback(silver: Path) -> None:
    r = CliRunner().invoke(query, ["SELECT * FROM no_such_dataset"])
    assert r.exit_code == 1 and "query failed" in r.output and "no_such_dataset" in r.output
    r = CliRunner().invoke(query, ["SELECT 1", "--format", "parquet"])
    assert r.exit_code == 1 and "--output" in r.output


# --- spatial SQL ---------------------------------------------------------------------------------
# A box over part of the park (lon/lat); the expected count comes from shapely on the source.
BOX = (-110.8, 44.4, -110.4, 44.8)


def _expected_in_box(layer: str) -> int:
    import shapely

    gdf = gpd.read_file(YNP, layer=layer).to_crs(4326)
    return int(gdf.intersects(shapely.box(*BOX)).sum())


def test_st_intersects_over_a_published_dataset(silver: Path) -> None:
    """The spatial extension is loaded from its pip package: ST_ functions on GeoParquet."""
    expected = _expected_in_box("roads")
    assert 0 < expected < 2021  # the box selects some roads, not all
    sql = (
        "SELECT count(*) AS n FROM parks_ynp__roads "
        f"WHERE ST_Intersects(geometry, ST_MakeEnvelope({', '.join(map(str, BOX))}))"
    )
    r = _run(sql, "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == [{"n": expected}]
    r = _run("SELECT ST_AsText(ST_Centroid(ST_Collect(list(geometry)))) AS c "
             "FROM parks_ynp__points_of_interest", "--format", "csv")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert next(csv.DictReader(io.StringIO(r.stdout)))["c"].startswith("POINT (-110.")


def test_azure_backend_reads_az_urls_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azurite_connection_string: str
) -> None:
    """On the Azure backend the views are az:// URLs read by DuckDB's azure extension on
    Azurite: the right answer, and nothing downloaded into the analytics cache."""
    import uuid

    from azure.storage.blob import BlobServiceClient

    container = f"silver-q{uuid.uuid4().hex[:8]}"
    service = BlobServiceClient.from_connection_string(azurite_connection_string)
    service.create_container(container)
    try:
        local = tmp_path / "roads.parquet"
        gpd.read_file(YNP, layer="roads").to_crs(4326).to_parquet(local)
        blob = "parks/ynp-gpkg/parks_ynp__roads.parquet"
        with local.open("rb") as fh:
            service.get_blob_client(container, blob).upload_blob(fh)
        state = tmp_path / "state"
        monkeypatch.setenv("GEO_PLATFORM_STATE_DIR", str(state))
        monkeypatch.setenv("GEO_PLATFORM_BLOB_BACKEND", "azure")
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_connection_string)
        monkeypatch.setenv("GEO_PLATFORM_SILVER_CONTAINER", container)
        sql = (
            "SELECT count(*) AS n FROM parks_ynp__roads "
            f"WHERE ST_Intersects(geometry, ST_MakeEnvelope({', '.join(map(str, BOX))}))"
        )
        r = _run(sql, "--format", "json", "--list-views")
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout) == [{"n": _expected_in_box("roads")}]
        assert r.stderr.splitlines() == [f"parks_ynp__roads\taz://{container}/{blob}"]
        assert not list(state.rglob("*.parquet"))  # read in place, no downloaded copy
    finally:
        service.delete_container(container)
