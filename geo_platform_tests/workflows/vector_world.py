"""A small world for vector workflow tests: bronze/silver in ``tmp_path``, a schema of its own,
and GeoPackages written on the fly (unique content, so no test sees another's duplicates)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import geopandas as gpd
import psycopg
from psycopg import sql
from shapely.geometry import Point, Polygon

from geo_platform.lib import naming
from geo_platform.store.blobs.local import LocalBlobStore
from geo_platform.workflows.publish_vector import PublishedVector, VectorSettings, publish_vector


def write_gpkg(path: Path, tag: str, crs: str | None = "EPSG:3857") -> Path:
    """Two layers: 3 points in Web Mercator and 2 polygons; ``tag`` makes the content unique."""
    points = gpd.GeoDataFrame(
        {"name": ["a", "b", tag]},
        geometry=[Point(0, 0), Point(111_319.49, 0), Point(0, 111_325.14)],
        crs=crs,
    )
    squares = gpd.GeoDataFrame(
        {"code": [1, 2]},
        geometry=[
            Polygon([(0, 0), (1e5, 0), (1e5, 1e5)]),
            Polygon([(2e5, 0), (3e5, 0), (3e5, 1e5)]),
        ],
        crs=crs,
    )
    points.to_file(path, layer="towns", driver="GPKG")
    squares.to_file(path, layer="parcels", driver="GPKG")
    return path


def add_nocrs_layer(path: Path, layer: str = "survey") -> Path:
    """A layer of projected metres without any CRS (``MissingCRSError``) added to ``path``."""
    gpd.GeoDataFrame(
        {"id": [1, 2]}, geometry=[Point(500_000, 6_000_000), Point(510_000, 6_010_000)]
    ).to_file(path, layer=layer, driver="GPKG")
    return path


def add_out_of_range_layer(path: Path, layer: str = "wells") -> Path:
    """A layer declared WGS84 with a latitude of 200 (``CoordinateRangeError``) added."""
    gpd.GeoDataFrame(
        {"id": [1, 2]}, geometry=[Point(10, 50), Point(12, 200)], crs="EPSG:4326"
    ).to_file(path, layer=layer, driver="GPKG")
    return path


def write_partial_gpkg(path: Path, tag: str) -> Path:
    """Four layers: towns and parcels (good, as ``write_gpkg``), survey (no CRS) and wells
    (latitude 200)."""
    return add_out_of_range_layer(add_nocrs_layer(write_gpkg(path, tag)))


class World:
    """A bronze/silver store in ``tmp_path``, a schema of its own, and the collections to drop."""

    def __init__(self, tmp_path: Path, dsn: str, schema: str) -> None:
        self.tmp, self.dsn, self.schema = tmp_path, dsn, schema
        self.prefix = f"wv{uuid.uuid4().hex[:8]}"
        self.store = LocalBlobStore(root=str(tmp_path / "blobs"))
        self.store.ensure_container("bronze")
        self.blobs: list[str] = []

    def settings(self, **kw: Any) -> VectorSettings:
        return VectorSettings(geo_schema=self.schema, **kw)

    def upload(self, name: str, local: Path) -> str:
        blob = f"{self.prefix}/{name}"
        self.store.upload_file("bronze", blob, local)
        self.blobs.append(blob)
        return blob

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn)

    def publish(self, blob: str, **kw: Any) -> PublishedVector:
        settings = kw.pop("settings", None) or self.settings()
        return publish_vector(
            blob,
            store=self.store,
            connect=self.connect,
            settings=settings,
            table_href=lambda s, t: f"postgresql://localhost/geo?table={s}.{t}",
            run_id="run-1",
            **kw,
        )

    def drop_collections(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for cid in {naming.collection_id(b) for b in self.blobs}:
                conn.execute(
                    "SELECT pgstac.delete_collection(id) FROM pgstac.collections WHERE id = %s",
                    (cid,),
                )


def table_facts(dsn: str, schema: str, table: str) -> tuple[int, list[int], list[str], int, str]:
    """Rows, SRIDs, geometry types, invalid geometries and the declared column type."""
    with psycopg.connect(dsn) as conn:
        q = sql.SQL(
            "SELECT count(*), array_agg(DISTINCT ST_SRID(geom)), "
            "array_agg(DISTINCT GeometryType(geom)), count(*) FILTER (WHERE NOT ST_IsValid(geom)) "
            "FROM {}.{}"
        ).format(sql.Identifier(schema), sql.Identifier(table))
        rows, srids, types, invalid = conn.execute(q).fetchone()  # type: ignore[misc]
        declared = conn.execute(
            "SELECT type FROM geometry_columns WHERE f_table_schema = %s AND f_table_name = %s",
            (schema, table),
        ).fetchone()
    return rows, srids, types, invalid, declared[0] if declared else ""


def table_exists(dsn: str, schema: str, table: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table}"',)).fetchone()
    return row is not None and row[0] is not None
