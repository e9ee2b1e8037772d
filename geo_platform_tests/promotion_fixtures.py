"""A small published dataset in staging (table + blobs + STAC items), for promotion tests.

Built directly with SQL and pgstac (no Dagster run): a vector item whose ``postgis`` asset points
at a table in staging's ``geo`` schema and whose ``geoparquet`` asset is a silver blob, and a
raster item with two silver blobs. ``set_rows`` republishes the table with another row count
(and the item's ``table:row_count``), which is what the atomicity test watches.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from geo_platform.lib.stac.collection import dataset_collection
from geo_platform.lib.stac.refs import TableRef, database_href, table_href
from geo_platform.resources.blob_store import LocalBlobStore
from geo_platform.settings import Settings
from geo_platform.store import pgstac
from geo_platform.store.promotion_state import Target, make_target

SILVER, PROD = "silver", "silver-prod"


@dataclass
class Dataset:
    settings: Settings
    store: LocalBlobStore
    collection: str
    prefix: str
    table: str
    source: Target
    target: Target

    @property
    def vector_id(self) -> str:
        return f"{self.prefix}-roads"

    @property
    def raster_id(self) -> str:
        return f"{self.prefix}-dem"

    @property
    def blobs(self) -> dict[str, str]:
        return {
            "parquet": f"{self.prefix}/roads.gpkg/{self.table}.parquet",
            "analysis": f"{self.prefix}/dem.tif/analysis.tif",
            "thumbnail": f"{self.prefix}/dem.tif/thumbnail.png",
        }

    def staging(self) -> psycopg.Connection[Any]:
        """Superuser connection to staging (test set-up only)."""
        return psycopg.connect(self.settings.database_url, autocommit=True)

    def production(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.settings.production_database_url, autocommit=True)

    @contextmanager
    def promoter(self) -> Iterator[tuple[psycopg.Connection[Any], psycopg.Connection[Any]]]:
        """(staging, production) connections AS the promoter role (what the job uses)."""
        with (
            psycopg.connect(self.settings.role_url("promoter", "staging")) as src,
            psycopg.connect(self.settings.role_url("promoter", "production")) as dst,
        ):
            yield src, dst


def _item(ds: Dataset, item_id: str, source_blob: str, assets: dict[str, Any], **props: Any):
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": item_id,
        "collection": ds.collection,
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]},
        "bbox": [0, 0, 1, 1],
        "properties": {
            "datetime": "2026-01-01T00:00:00Z",
            "geo_platform:source_blob": source_blob,
            "geo_platform:run_id": f"run-{uuid.uuid4().hex[:8]}",
            **props,
        },
        "links": [{"rel": "collection", "href": f"../{ds.collection}/collection.json"}],
        "assets": assets,
    }


def publish_items(ds: Dataset, rows: int, marker: str, raster: bool = True) -> None:
    """(Re)write the staging blobs and items (the table's row count in the vector item)."""
    for name, path in ds.blobs.items():
        ds.store.upload_bytes(SILVER, path, f"{name} {marker}".encode())
    db = database_href(ds.settings.database_url)
    vec = _item(
        ds,
        ds.vector_id,
        f"{ds.prefix}/roads.gpkg",
        {
            "postgis": {"href": table_href(db, TableRef("geo", ds.table)), "roles": ["data"]},
            "geoparquet": {"href": ds.store.href(SILVER, ds.blobs["parquet"]), "roles": ["data"]},
        },
        **{"table:row_count": rows, "geo_platform:table": f"geo.{ds.table}", "marker": marker},
    )
    items = [vec]
    if raster:
        items.append(
            _item(
                ds,
                ds.raster_id,
                f"{ds.prefix}/dem.tif",
                {
                    "analysis": {"href": ds.store.href(SILVER, ds.blobs["analysis"])},
                    "thumbnail": {"href": ds.store.href(SILVER, ds.blobs["thumbnail"])},
                },
                marker=marker,
            )
        )
    with ds.staging() as conn:
        if pgstac.get_collection(conn, ds.collection) is None:
            pgstac.upsert_collection(conn, dataset_collection(ds.collection, "test", "vector"))
        pgstac.upsert_items(conn, items)
        if not raster:
            conn.execute("SELECT delete_item(%s, %s)", (ds.raster_id, ds.collection))


def set_rows(ds: Dataset, rows: int) -> None:
    """Replace the staging table with ``rows`` points (atomically, like a pipeline load)."""
    t = sql.Identifier(ds.table)
    with ds.staging() as conn, conn.transaction():
        conn.execute(sql.SQL("DROP TABLE IF EXISTS geo.{}").format(t))
        conn.execute(
            sql.SQL(
                "CREATE TABLE geo.{} (fid bigint PRIMARY KEY, name text, "
                "geom geometry(Point, 4326))"
            ).format(t)
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO geo.{} SELECT i, 'row ' || i, "
                "ST_SetSRID(ST_MakePoint(i %% 360 - 180, i %% 180 - 90), 4326) "
                "FROM generate_series(1, %s) i"
            ).format(t),
            (rows,),
        )
        conn.execute(sql.SQL("CREATE INDEX ON geo.{} USING gist (geom)").format(t))


def make_dataset(settings: Settings, tmp_path: Path, rows: int = 100) -> Dataset:
    prefix = f"p{uuid.uuid4().hex[:8]}"
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store.ensure_container(SILVER)
    ds = Dataset(
        settings=settings,
        store=store,
        collection=f"test-{prefix}",
        prefix=prefix,
        table=f"{prefix}_roads",
        source=make_target("staging", settings.database_url, "geo", store, SILVER),
        target=make_target("production", settings.production_database_url, "geo", store, PROD),
    )
    set_rows(ds, rows)
    publish_items(ds, rows, "v1")
    return ds


def drop_dataset(ds: Dataset) -> None:
    for connect in (ds.staging, ds.production):
        with connect() as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS geo.{}").format(sql.Identifier(ds.table)))
            conn.execute(
                "SELECT pgstac.delete_collection(id) FROM pgstac.collections WHERE id = %s",
                (ds.collection,),
            )


def count_rows(conn: psycopg.Connection[Any], table: str) -> int | None:
    exists = conn.execute(
        "SELECT 1 FROM pg_tables WHERE schemaname = 'geo' AND tablename = %s", (table,)
    ).fetchone()
    if not exists:
        return None
    row = conn.execute(sql.SQL("SELECT count(*) FROM geo.{}").format(sql.Identifier(table)))
    return int(row.fetchone()[0])  # type: ignore[index]


def kinked_vector_in_bronze(
    tmp_path: Path, pg_dsn: str, settings: Settings, prefix: str
) -> tuple[str, LocalBlobStore, dict[str, Any]]:
    """A real vector file in a local bronze container, and the resources (staging databases
    plus a promotion resource acting as the promoter role) that publish and promote it.
    Returns (blob, store, resources)."""
    from geo_platform.defs.promotion import PromotionResource
    from geo_platform.resources.databases import PgSTACResource, PlatformResource, PostGISResource
    from geo_platform.settings import url_with_user
    from geo_platform_tests.helpers import TESTDATA

    blob = f"{prefix}/kinked.geojson"
    store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store.ensure_container("bronze")
    store.upload_file(
        "bronze", blob, TESTDATA / "vectors/geojson_invalid/switzerlandKinked.geojson"
    )
    promoter = settings.promoter_role
    resources = {
        "blob_store": store,
        "postgis": PostGISResource(database_url=pg_dsn, geo_schema="geo"),
        "pgstac": PgSTACResource(database_url=pg_dsn),
        "platform": PlatformResource(geo_schema="geo", analytics_dir=str(settings.analytics_dir)),
        "promotion": PromotionResource(
            staging_database_url=url_with_user(settings.database_url, promoter),
            production_database_url=url_with_user(settings.production_database_url, promoter),
        ),
    }
    return blob, store, resources
