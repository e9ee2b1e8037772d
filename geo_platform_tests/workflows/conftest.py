"""Fixtures for the workflow tests: a local blob store in ``tmp_path``, pgstac connection
factories for the workflows (plain psycopg, no Dagster), and collection clean-up."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from geo_platform.store import pgstac
from geo_platform.store.blobs.local import LocalBlobStore
from geo_platform_tests.fixtures.vector_world import World

Connect = Callable[[], Any]


@pytest.fixture
def blob_store(tmp_path: Path) -> LocalBlobStore:
    """The real local blob store, with empty bronze and silver containers."""
    blobs = LocalBlobStore(root=str(tmp_path / "blobs"))
    for container in ("bronze", "silver"):
        blobs.ensure_container(container)
    return blobs


@pytest.fixture
def bronze_folder() -> str:
    """A bronze folder unique to the test (so its collection is too)."""
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def pgstac_lookups(pg_dsn: str) -> Connect:
    """Read-only pgstac connections, as ``PgSTACResource.lookups`` gives them."""

    @contextmanager
    def open_lookup() -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(pg_dsn) as conn:
            pgstac.prepare(conn)
            yield conn
            conn.rollback()

    return open_lookup


@pytest.fixture
def pgstac_connect(pg_dsn: str) -> Connect:
    """pgstac connections for writes (the workflow commits)."""
    return lambda: psycopg.connect(pg_dsn)


@pytest.fixture
def drop_collection(pg_dsn: str) -> Iterator[Callable[[str], None]]:
    """``drop_collection(collection_id)``: delete that collection (and its items) from pgstac
    after the test, if it was created."""
    ids: list[str] = []
    yield ids.append
    with psycopg.connect(pg_dsn) as conn:
        for cid in ids:
            if pgstac.get_collection(conn, cid) is not None:
                conn.execute("SELECT pgstac.delete_collection(%s)", (cid,))


@pytest.fixture
def world(tmp_path: Path, pg_dsn: str, pg_schema: str) -> Iterator[World]:
    """The vector world (``fixtures.vector_world``): a local store in ``tmp_path``, a schema of
    its own; its collections dropped afterwards. A module may define its own ``world``."""
    w = World(tmp_path, pg_dsn, pg_schema)
    yield w
    w.drop_collections()
