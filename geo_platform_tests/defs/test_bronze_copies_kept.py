"""A run downloads each bronze file once for all its stages (``store.bronze.kept_bronze_copies``),
on Azurite: the bronze inventory and the silver stage used to download (and hash) it each."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import ClassVar

import dagster as dg
import psycopg
import pytest
from rio_cogeo.cogeo import cog_validate

from geo_platform.definitions import defs
from geo_platform.defs.bronze.jobs import PIPELINE_JOBS
from geo_platform.defs.bronze.partitions import bronze_raster_partitions
from geo_platform.lib import naming
from geo_platform.resources.blob_store import AzureBlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource
from geo_platform.store.bronze import bronze_local_copy, kept_bronze_copies
from geo_platform.store.catalog import items_of_source
from geo_platform_tests.fixtures.helpers import TESTDATA


class CountingAzureStore(AzureBlobStore):
    """A real Azure store (Azurite) that counts what it downloads."""

    downloads: ClassVar[list[tuple[str, str]]] = []

    def download_to(self, container: str, path: str, dest: Path) -> Path:
        CountingAzureStore.downloads.append((container, path))
        return super().download_to(container, path, dest)


@pytest.fixture
def store(azurite_connection_string: str):
    CountingAzureStore.downloads.clear()
    s = CountingAzureStore(connection_string=azurite_connection_string)
    s.ensure_container("bronze")
    return s


def test_a_copy_is_kept_while_its_file_and_sidecars_keep_their_etags(store, tmp_path) -> None:
    prefix = f"kept{uuid.uuid4().hex[:6]}"
    tif = TESTDATA / "rasters/rgb_uint8/RGB.byte.tif"
    store.upload_file("bronze", f"{prefix}/a.tif", tif)
    store.upload_bytes("bronze", f"{prefix}/a.tfw", b"300\n0\n0\n-300\n101985\n2826915\n")
    store.upload_file("bronze", f"{prefix}/b.tif", tif)
    blob = f"{prefix}/a.tif"
    with kept_bronze_copies():
        with bronze_local_copy(store, "bronze", blob) as first:
            assert first.read_bytes() == tif.read_bytes()
            assert (first.parent / "a.tfw").is_file()  # the sidecar beside it
        with bronze_local_copy(store, "bronze", blob) as again:
            assert again == first and again.is_file()  # kept after its block
        assert len(store.downloads) == 2  # the file and its world file, once
        store.upload_bytes("bronze", f"{prefix}/a.tfw", b"30\n0\n0\n-30\n101985\n2826915\n")
        with bronze_local_copy(store, "bronze", blob) as changed:  # a sidecar changed: fetched
            assert (changed.parent / "a.tfw").read_bytes().startswith(b"30\n")
        assert len(store.downloads) == 4
        with bronze_local_copy(store, "bronze", f"{prefix}/b.tif"):
            pass
    assert not first.exists() and not changed.exists()  # gone with the block
    with bronze_local_copy(store, "bronze", f"{prefix}/b.tif"):  # no block: nothing kept
        pass
    with bronze_local_copy(store, "bronze", f"{prefix}/b.tif"):
        pass
    assert [p for _, p in store.downloads].count(f"{prefix}/b.tif") == 3


def test_a_pipeline_run_downloads_each_bronze_file_once(store, pg_dsn: str) -> None:
    prefix = f"kept{uuid.uuid4().hex[:6]}/r"
    files = {"rgb.tif": "rasters/rgb_uint8/RGB.byte.tif",
             "palette.tif": "rasters/palette/storml_tcc.tif"}  # fmt: skip
    keys = [f"{prefix}/{name}" for name in files]
    for name, rel in files.items():
        store.upload_file("bronze", f"{prefix}/{name}", TESTDATA / rel)
    resources = {"blob_store": store, "pgstac": PgSTACResource(database_url=pg_dsn),
                 "platform": PlatformResource()}  # fmt: skip
    tags = {"dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1]}  # fmt: skip
    try:
        with dg.instance_for_test() as inst:
            inst.add_dynamic_partitions(bronze_raster_partitions.name, keys)
            result = defs.resolve_job_def(PIPELINE_JOBS["raster"].name).execute_in_process(
                instance=inst, tags=tags, resources=resources, raise_on_error=False
            )
            assert result.success
        bronze = sorted(p for c, p in store.downloads if c == "bronze")
        assert bronze == sorted(keys)  # inventory and silver shared one copy of each
        with psycopg.connect(pg_dsn) as conn:
            for key in keys:
                ((collection, item_id),) = items_of_source(conn, key)
                (href,) = conn.execute(
                    "SELECT content->'assets'->'analysis'->>'href' FROM pgstac.items "
                    "WHERE collection = %s AND id = %s",
                    (collection, item_id),
                ).fetchone()
                path = href.split("/silver/", 1)[1]  # .../<account>/silver/<path>
                with store.local_copy("silver", path) as cog:
                    assert cog_validate(str(cog), quiet=True)[0]
    finally:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("SELECT pgstac.delete_collection(%s)", (naming.collection_id(keys[0]),))
            conn.commit()
