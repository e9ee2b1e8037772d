"""Shared by the lifecycle tests: tiny rasters, publishing through the real pipeline, snapshots
of silver/bronze, a TCP forwarder that can make the database "go away" and come back."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import psycopg
import rasterio
from rasterio.transform import from_origin

from geo_platform.definitions import defs
from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource, PostGISResource
from geo_platform.resources.promotion import promotion_resource
from geo_platform.settings import Settings
from geo_platform.store.audit import ensure_audit_table

STAGES = {
    "raster": ["bronze_raster_job", "raster_cog_job", "raster_catalog_job"],
    "vector": ["bronze_vector_job", "vector_table_job", "vector_catalog_job"],
}


def make_raster(path: Path, seed: int, size: int = 48) -> Path:
    """A small 3-band uint8 GeoTIFF in EPSG:4326 (different content per seed)."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 255, size=(3, size, size), dtype=np.uint8)
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
        "crs": "EPSG:4326", "transform": from_origin(10 + seed, 50, 0.01, 0.01),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def lifecycle_env(
    root: Path, pg_dsn: str, settings: Settings, schema: str | None = None
) -> tuple[LocalBlobStore, dict[str, Any]]:
    """A blob store under ``root`` with its bronze container, and the resources the pipeline
    and the lifecycle jobs take (platform schema ``schema``, else the default one)."""
    store = LocalBlobStore(root=str(root))
    store.ensure_container("bronze")
    geo: dict[str, Any] = {"geo_schema": schema} if schema else {}
    return store, {
        "blob_store": store,
        "postgis": PostGISResource(database_url=pg_dsn, **geo),
        "pgstac": PgSTACResource(database_url=pg_dsn),
        "platform": PlatformResource(**geo),
        "promotion": promotion_resource(settings),
    }


def publish(
    inst: dg.DagsterInstance, resources: dict[str, Any], kind: str, keys: list[str]
) -> None:
    """Run the three pipeline stages over ``keys`` (added as partitions, in order)."""
    inst.add_dynamic_partitions(PARTITIONS[kind].name, keys)  # type: ignore[index]
    tags = {"dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1]}  # fmt: skip
    for job in STAGES[kind]:
        res = defs.resolve_job_def(job).execute_in_process(
            instance=inst, tags=tags, resources=resources
        )
        assert res.success, job


def listing(store: Any, container: str, prefix: str = "") -> dict[str, tuple[int, str]]:
    """{path: (size, etag)} of a container (or a folder of it)."""
    return {b.path: (b.size, b.etag) for b in store.list_blobs(container, prefix)}


def audit_rows(
    dsn: str, collection: str, item_id: str, dry_run: bool = False
) -> list[dict[str, Any]]:
    """The audit rows of an item's real unpublish runs (``dry_run``: of its dry runs)."""
    with psycopg.connect(dsn) as conn:
        if not conn.execute("SELECT to_regclass('audit.unpublished')").fetchone()[0]:
            return []
        ensure_audit_table(conn)  # a table from before dry runs were audited gets the column
        cur = conn.execute(
            "SELECT * FROM audit.unpublished WHERE collection = %s AND item_id = %s "
            "AND dry_run = %s ORDER BY id",
            (collection, item_id, dry_run),
        )
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def delete_collections(dsn: str, ids: list[str]) -> None:
    """Test cleanup: the collections (with their items) and their audit rows."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for cid in ids:
            conn.execute(
                "SELECT pgstac.delete_collection(id) FROM pgstac.collections WHERE id = %s", (cid,)
            )
        if conn.execute("SELECT to_regclass('audit.unpublished')").fetchone()[0]:
            conn.execute("DELETE FROM audit.unpublished WHERE collection = ANY(%s)", (ids,))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TcpForwarder:
    """Forwards 127.0.0.1:<port> to a target; before ``start()`` the port refuses connections
    (a database that is down), after ``stop()`` it refuses them again. The first ``drop_first``
    connections are accepted and closed at once (a server that goes away mid-handshake)."""

    def __init__(self, target_port: int, port: int | None = None, drop_first: int = 0) -> None:
        self.port = port or free_port()
        self.target_port = target_port
        self.drop_first = drop_first
        self.dropped = 0
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        t = threading.Thread(target=self._accept, args=(server,), daemon=True)
        t.start()
        self._threads.append(t)

    def start_later(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self.start)
        timer.start()
        return timer

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.close()
            self._server = None

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            if self.dropped < self.drop_first:
                self.dropped += 1
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
