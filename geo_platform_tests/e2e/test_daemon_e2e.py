"""The real thing: a Dagster daemon on PostgreSQL storage reacts to a file dropped into bronze.

The bronze sensor adds the partition and launches the bronze run; declarative automation then
launches the silver and catalog stages; the file ends up as COGs in silver and an item in pgstac.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid

import psycopg
import pytest

from geo_platform.lib import naming
from geo_platform.store import pgstac
from geo_platform_tests.e2e.processes import daemon
from geo_platform_tests.fixtures.helpers import TESTDATA

pytestmark = pytest.mark.slow


def test_dropped_file_is_published_by_the_daemon(pg_instance_env, pg_dsn, tmp_path):
    blob_root = tmp_path / "blobs"
    blob = f"daemon{uuid.uuid4().hex[:6]}/dem/hills.tiff"
    env = {**os.environ, **pg_instance_env, "GEO_PLATFORM_BLOB_ROOT": str(blob_root)}
    log = tmp_path / "daemon.log"
    with daemon(env, log) as proc:
        try:
            target = blob_root / "bronze" / blob
            target.parent.mkdir(parents=True)
            shutil.copy(TESTDATA / "rasters/dem_float32/dem-hills.tiff", target)
            deadline = time.monotonic() + 300
            item = None
            while time.monotonic() < deadline and item is None:
                time.sleep(5)
                assert proc.poll() is None, log.read_text()[-3000:]
                with psycopg.connect(pg_dsn) as conn:
                    item = pgstac.get_item(conn, naming.collection_id(blob), naming.item_id(blob))
            assert item is not None, log.read_text()[-3000:]
            assert item["properties"]["geo_platform:source_blob"] == blob
            analysis = blob_root / "silver" / naming.silver_prefix(blob) / "analysis.tif"
            assert analysis.is_file()
        finally:
            with psycopg.connect(pg_dsn) as conn:
                conn.execute(
                    "SELECT pgstac.delete_collection(id) FROM pgstac.collections WHERE id = %s",
                    (naming.collection_id(blob),),
                )
                conn.commit()
