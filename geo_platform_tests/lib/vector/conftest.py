"""Fixtures for the vector library tests: test data paths and small generated files."""

from __future__ import annotations

import hashlib
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import psycopg
import pytest
from psycopg import sql
from shapely.geometry import Point

from geo_platform.lib import naming
from geo_platform.lib.vector.options import VectorOptions
from geo_platform.lib.vector.records import LoadedTable
from geo_platform.store.vector_load import EmptyLayerWarning, publish_vector_file
from geo_platform_tests.fixtures.vector_world import World


@pytest.fixture
def world(tmp_path: Path, pg_dsn: str, pg_schema: str) -> Iterator[World]:
    """A local bronze/silver store and a schema of its own, for the vector workflow (a test
    module may define its own ``world``)."""
    w = World(tmp_path, pg_dsn, pg_schema)
    yield w
    w.drop_collections()


@pytest.fixture(scope="session")
def vectors(testdata: Path) -> Path:
    """The shared vector files (skipped without them, a failure in CI: see ``testdata``)."""
    return testdata / "vectors"


def two_points(crs: str | None = "EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=[Point(1, 2), Point(3, 4)], crs=crs)


def zip_dir(src: Path, dest: Path, prefix: str = "") -> Path:
    """Zip every file under ``src`` into ``dest`` with member names ``prefix`` + relative path."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                zf.write(f, prefix + str(f.relative_to(src)))
    return dest


def publish_file(
    conn: psycopg.Connection[Any],
    path: Path,
    schema: str,
    tmp_path: Path,
    options: VectorOptions | None = None,
    blob: str | None = None,
) -> list[LoadedTable]:
    """Publish ``path`` as bronze blob ``blob`` (default ``vectors/<folder>/<name>``) through
    the vector loader into ``schema``, GeoParquet under ``tmp_path/silver``; empty layers quiet."""
    blob = blob or f"vectors/{path.parent.name}/{path.name}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyLayerWarning)
        return publish_vector_file(
            conn,
            path,
            source_name=blob,
            schema=schema,
            table_base=naming.table_name(blob),
            options=options,
            parquet_dir=tmp_path / "silver",
        )


def loaded_digests(conn: psycopg.Connection[Any], table: LoadedTable) -> tuple[Any, str]:
    """(md5 of the table's rows in fid order, sha256 of its GeoParquet file): what two loads
    that must change no output are compared by."""
    q = sql.SQL("SELECT md5(string_agg(md5(t::text), '' ORDER BY fid)) FROM {}.{} t")
    row = conn.execute(q.format(sql.Identifier(table.schema), sql.Identifier(table.table)))
    assert table.geoparquet_path is not None
    parquet = hashlib.sha256(Path(table.geoparquet_path).read_bytes()).hexdigest()
    return row.fetchone(), parquet
