"""Secrets never leak: the pipeline and a promotion run with known secret values, then every
place a user can read is scanned for them.

Secrets: a database password inside GEO_PLATFORM_DATABASE_URL and the production URL (the
local cluster trusts loopback, so libpq never even sends it, but the platform handles it),
the promoter's password, and the Azure storage key (Azurite's, through the connection string).
Scanned: the CLI outputs (``ingest --wait --json``, ``services status --json``,
``promote --apply --json``), every row of Dagster's storage database (every event of every run,
run configs and tags, and the job snapshots, which hold resource configuration as the UI shows
it), the files under DAGSTER_HOME, and the STAC items, collections and audit rows in both
databases.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from geo_platform.lib import naming
from geo_platform.settings import REPO_ROOT, url_with_user
from geo_platform_tests.fixtures.helpers import TESTDATA

pytestmark = pytest.mark.slow


def _with_password(url: str, password: str) -> str:
    from urllib.parse import urlsplit

    return url_with_user(url, urlsplit(url).username or "geo_platform", password)


@pytest.fixture(scope="module")
def secret_env(
    pg_dsn: str, azurite_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    from geo_platform.settings import load_settings

    settings = load_settings()
    run = uuid.uuid4().hex[:8]
    secrets = {
        "db": f"DbPw{uuid.uuid4().hex}",
        "promoter": f"PromoterPw{uuid.uuid4().hex}",
        "azure": azurite_connection_string.split("AccountKey=")[1].split(";")[0],
    }
    db = f"dagster_secrets_{run}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "GEO_PLATFORM_DATABASE_URL": _with_password(settings.database_url, secrets["db"]),
        "GEO_PLATFORM_PRODUCTION_DATABASE_URL": _with_password(
            settings.production_database_url, secrets["db"]
        ),
        "GEO_PLATFORM_PROMOTER_PASSWORD": secrets["promoter"],
        "GEO_PLATFORM_BLOB_BACKEND": "azure",
        "AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string,
        "GEO_PLATFORM_BRONZE_CONTAINER": f"sec-bronze-{run}",
        "GEO_PLATFORM_SILVER_CONTAINER": f"sec-silver-{run}",
        "GEO_PLATFORM_PRODUCTION_CONTAINER": f"sec-prod-{run}",
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_DB": db,
    }
    for key in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD"):
        env.pop(key, None)  # derived from GEO_PLATFORM_DATABASE_URL (password included)
    from azure.storage.blob import BlobServiceClient

    # Provisioned beforehand, as `services up` or the infrastructure does: ingest on Azure
    # refuses a missing bronze container (a typo would otherwise make one nobody watches).
    BlobServiceClient.from_connection_string(azurite_connection_string).create_container(
        env["GEO_PLATFORM_BRONZE_CONTAINER"]
    )
    prefix = f"sec{run}"
    blob = f"{prefix}/kinked.geojson"
    yield {
        "env": env,
        "secrets": secrets,
        "db": db,
        "home": home,
        "blob": blob,
        "prefix": prefix,
        "settings": settings,
    }
    table = naming.table_name(blob)
    for url in (settings.database_url, settings.production_database_url):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS geo.{}").format(sql.Identifier(table)))
            conn.execute(
                "SELECT pgstac.delete_collection(id) FROM pgstac.collections WHERE id = %s",
                (naming.collection_id(blob),),
            )
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value in text]


def _dagster_rows(pg_dsn: str, db: str) -> Iterator[tuple[str, str]]:
    """(table, text) of every row in Dagster's storage; compressed snapshots inflated."""
    url = pg_dsn.rsplit("/", 1)[0] + "/" + db
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        for table in tables:
            cur = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
            for row in cur:
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        raw = bytes(value)
                        with contextlib.suppress(zlib.error):
                            raw = zlib.decompress(raw)
                        yield table, raw.decode("utf-8", "replace")
                    elif value is not None:
                        yield table, str(value)


def _files(home: Path) -> Iterator[tuple[str, str]]:
    for f in home.rglob("*"):
        if f.is_file():
            yield str(f), f.read_bytes().decode("utf-8", "replace")


def test_pipeline_and_promotion_never_show_secrets(secret_env: dict[str, Any], pg_dsn: str):
    env, secrets = secret_env["env"], secret_env["secrets"]
    src = TESTDATA / "vectors/geojson_invalid/switzerlandKinked.geojson"
    local = Path(secret_env["home"]).parent / "kinked.geojson"
    shutil.copy(src, local)
    ingest = _cli(
        env,
        "geo_platform.cli.main",
        "ingest",
        str(local),
        "--prefix",
        secret_env["prefix"],
        "--wait",
        "--json",
    )
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    assert '"status": "published"' in ingest.stdout
    status = _cli(env, "geo_platform.cli.main", "services", "status", "--json")
    assert status.returncode == 0, status.stderr[-2000:]
    assert "***" in status.stdout  # the database URL is shown, redacted
    collection = naming.collection_id(secret_env["blob"])
    promote = _cli(env, "geo_platform.cli.promotion", "promote", collection, "--apply", "--json")
    assert promote.returncode == 0, promote.stderr[-3000:] + promote.stdout[-3000:]
    assert '"dry_run": false' in promote.stdout

    places: list[tuple[str, str]] = [
        ("ingest stdout", ingest.stdout),
        ("ingest stderr", ingest.stderr),
        ("status stdout", status.stdout),
        ("status stderr", status.stderr),
        ("promote stdout", promote.stdout),
        ("promote stderr", promote.stderr),
    ]
    places += list(_files(Path(secret_env["home"])))
    settings = secret_env["settings"]
    for url in (settings.database_url, settings.production_database_url):
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT content::text FROM pgstac.items WHERE collection = %s", (collection,)
            ).fetchall()
            assert rows, url
            places += [(f"stac item in {url.rsplit('/', 1)[1]}", r[0]) for r in rows]
            coll = conn.execute(
                "SELECT content::text FROM pgstac.collections WHERE id = %s", (collection,)
            ).fetchone()
            places.append(("collection", coll[0]))  # type: ignore[index]
    with psycopg.connect(settings.production_database_url) as conn:
        audit = conn.execute(
            "SELECT a::text FROM audit.promotions a WHERE collection = %s", (collection,)
        ).fetchall()
        assert audit
        places += [("audit row", r[0]) for r in audit]
    for table, text in _dagster_rows(pg_dsn, secret_env["db"]):
        places.append((f"dagster.{table}", text))  # events, runs (config, tags), snapshots...
    assert any("promote_job" in t for w, t in places if w == "dagster.snapshots")
    assert any("vector_table" in t for w, t in places if w == "dagster.event_logs")
    leaks = [(where, _leaks(text, secrets)) for where, text in places if _leaks(text, secrets)]
    assert not leaks, leaks[:10]
