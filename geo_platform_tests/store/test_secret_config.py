"""Resources keep passwords and storage keys out of their configuration (job snapshots, UI)."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from geo_platform.resources.databases import PgSTACResource, PostGISResource
from geo_platform.resources.promotion import PromotionResource
from geo_platform.settings import load_settings, url_with_user
from geo_platform.store.blobs.azure import AzureBlobStore
from geo_platform.store.secret_config import password_for, secret_free_url

SECRET = "Pw-d0nt-leak-42"


def test_password_for_finds_the_configured_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEO_PLATFORM_DATABASE_URL", f"postgresql://alice:{SECRET}@db:5433/geo")
    monkeypatch.setenv("GEO_PLATFORM_PROMOTER_PASSWORD", "promoter-pw")
    settings = load_settings()
    bare = secret_free_url(settings.database_url)
    assert bare == "postgresql://alice@db:5433/geo"
    assert password_for(bare) == SECRET
    assert password_for("postgresql://alice@db:5433/dagster") == SECRET  # same user and server
    assert password_for("postgresql://alice@other:5433/geo") is None  # another server
    assert password_for(url_with_user(bare, settings.promoter_role)) == "promoter-pw"


def test_database_resources_store_no_password(monkeypatch: pytest.MonkeyPatch, pg_dsn: str) -> None:
    url = url_with_user(pg_dsn, "geo_platform", SECRET)  # trust auth: libpq never sends it
    monkeypatch.setenv("GEO_PLATFORM_DATABASE_URL", url)
    postgis, pgstac = PostGISResource(database_url=url), PgSTACResource(database_url=url)
    assert SECRET not in postgis.database_url and SECRET not in pgstac.database_url
    with postgis.connect() as conn:  # still connects (password looked up at connect time)
        assert conn.execute("SELECT 1").fetchone() == (1,)
    # A URL whose password the environment does not know is left alone (tests, code).
    other = url_with_user(pg_dsn, "someone", "not-from-env")
    assert PostGISResource(database_url=other).database_url == other


def test_job_snapshots_hold_no_secret(monkeypatch: pytest.MonkeyPatch, pg_dsn: str) -> None:
    conn_str = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=S3cr3tKey==;"
        "BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;"
    )
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", conn_str)
    url = url_with_user(pg_dsn, "geo_platform", SECRET)
    monkeypatch.setenv("GEO_PLATFORM_DATABASE_URL", url)
    store = AzureBlobStore(connection_string=conn_str)
    assert store.connection_string == "env:AZURE_STORAGE_CONNECTION_STRING"
    assert store.describe()["location"] == "http://127.0.0.1:1/devstoreaccount1"

    @dg.op
    def touch(blob_store: dg.ResourceParam[AzureBlobStore], postgis: PostGISResource) -> str:
        with postgis.connect() as conn:
            conn.execute("SELECT 1")
        return blob_store.describe()["location"]

    @dg.job
    def probe() -> None:
        touch()

    resources = {
        "blob_store": store,
        "postgis": PostGISResource(database_url=url),
        "promotion": PromotionResource(staging_database_url=url, production_database_url=url),
    }
    with dg.instance_for_test() as inst:
        result = probe.execute_in_process(instance=inst, resources=resources)
        assert result.output_for_node("touch") == "http://127.0.0.1:1/devstoreaccount1"
        run = inst.get_run_by_id(result.run_id)
        assert run is not None
        snapshot = serialize_value(inst.get_job_snapshot(run.job_snapshot_id))
        events = [serialize_value(e) for e in inst.all_logs(result.run_id)]
    # The blob store is a plain object (not Dagster config): the snapshot holds the database
    # resource's config, never the storage key or the password.
    assert "postgis" in snapshot
    for text in (snapshot, *events):
        assert "S3cr3tKey" not in text and SECRET not in text
