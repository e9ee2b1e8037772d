"""Compressed single-file vectors (``roads.geojson.gz``, ``.bz2``, ``.xz``, ``.zst``) publish from
a decompressed private copy (``lib/compressed.py``), held to the decompression bomb limits."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
from psycopg import sql

from geo_platform.lib.bronze import classify
from geo_platform.lib.errors import TooLargeError, UnreadableFileError
from geo_platform.lib.inventory import file_sha256, inventory_file
from geo_platform.lib.vector.read import open_source
from geo_platform_tests.fixtures.helpers import CODECS, packed
from geo_platform_tests.lib.vector.conftest import publish_file

FEATURES = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [8.0 + i / 10, 47.0]},
     "properties": {"name": f"p{i}", "rank": i}} for i in range(25)
]}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "kind"),
    [("e/roads.geojson.gz", "vector"), ("e/points.csv.gz", "vector"), ("e/a.gpkg.gz", "vector"),
     ("e/a.shp.gz", "unsupported"), ("e/a.tar.gz", "unsupported"), ("e/a.gz", "unsupported")],
)  # fmt: skip
def test_gzipped_single_file_vectors_are_vectors_by_name(name: str, kind: str) -> None:
    assert classify(name).kind == kind


@pytest.mark.parametrize("codec", CODECS)
def test_geojson_and_csv_publish_from_their_decompressed_copy(
    codec: str, pg_conn, pg_schema, tmp_path: Path
) -> None:
    geojson = packed(tmp_path / "roads.geojson", codec, json.dumps(FEATURES).encode())
    (table,) = publish_file(pg_conn, geojson, pg_schema, tmp_path)
    assert (table.rows_loaded, table.driver, table.geometry_type) == (25, "GeoJSON", "MultiPoint")
    rows = pg_conn.execute(
        sql.SQL("SELECT count(*), min(ST_SRID(geom)), sum(rank) FROM {}.{}").format(
            sql.Identifier(pg_schema), sql.Identifier(table.table))
    ).fetchone()  # fmt: skip
    assert rows == (25, 4326, sum(range(25)))
    csv = packed(tmp_path / "wells.csv", codec, b"name,lat,lon\na,47.1,8.1\nb,47.2,8.2\n")
    (table,) = publish_file(pg_conn, csv, pg_schema, tmp_path)
    assert (table.rows_loaded, table.driver, table.crs_assumed) == (2, "CSV", True)


@pytest.mark.parametrize("codec", CODECS)
def test_the_bronze_stage_inventories_the_content_and_hashes_the_blob(
    codec: str, tmp_path: Path
) -> None:
    path = packed(tmp_path / "roads.geojson", codec, json.dumps(FEATURES).encode())
    inv = inventory_file(path, f"e/{path.name}", "vector")
    assert (inv.format, inv.driver, inv.features) == (f"GeoJSON+{codec}", "GeoJSON", 25)
    assert inv.size == path.stat().st_size and inv.sha256 == file_sha256(path)


def test_the_decompressed_copy_goes_away_with_its_layers(tmp_path: Path) -> None:
    path = packed(tmp_path / "roads.geojson", "gzip", json.dumps(FEATURES).encode())
    layers = open_source(path, "e/roads.geojson.gz")
    copy = layers[0].keepalive[1].path
    assert copy.name == "roads.geojson" and copy.is_file()
    del layers
    gc.collect()
    assert not copy.parent.exists()


@pytest.mark.parametrize("codec", CODECS)
def test_bombs_and_broken_streams_are_refused(codec: str, tmp_path: Path) -> None:
    bomb = packed(tmp_path / "bomb.geojson", codec, b" " * (64 << 20))  # 64 MiB, a few KB packed
    with pytest.raises(TooLargeError, match=rf"e/{bomb.name}: {codec} content expands beyond"):
        open_source(bomb, f"e/{bomb.name}")
    cut = packed(tmp_path / "cut.geojson", codec, json.dumps(FEATURES).encode())
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    with pytest.raises(UnreadableFileError, match=rf"e/{cut.name}: corrupt {codec} data"):
        open_source(cut, f"e/{cut.name}")
