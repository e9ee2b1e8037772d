"""bzip2, xz and zstd bronze files (``lib/compressed.py``), as gzip ones: single files named
after what they hold (``roads.geojson.bz2``, ``dem.asc.xz``, ``buildings.csv.zst``) publish from
a decompressed private copy, compressed tars (``wells.tar.xz``, ``.tbz2``) by the tar rules, and
a stream named without its format by its decompressed first bytes. The sensor reads a bzip2
candidate past its usual head when the first block is longer. Real PostGIS, real COGs, on the
local store and on Azurite."""

from __future__ import annotations

import bz2
import json
import os
import tarfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import Point

from geo_platform.defs.bronze.sensors import head_reader
from geo_platform.lib import bronze, compressed, naming
from geo_platform.lib.compressed import zstd
from geo_platform.lib.content import HEAD_BYTES, LONG_HEAD_BYTES, content_kind, wants_longer_head
from geo_platform.lib.types import BlobInfo
from geo_platform_tests.fixtures.helpers import CODECS, packed, published_raster
from geo_platform_tests.fixtures.vector_world import World
from geo_platform_tests.lib.vector.test_compressed_vectors import FEATURES
from geo_platform_tests.workflows.test_compressed_rasters import GRID
from geo_platform_tests.workflows.test_publish_gcps import store  # noqa: F401


@pytest.mark.parametrize(
    ("name", "kind"),
    [("e/roads.geojson.bz2", "vector"), ("e/points.csv.xz", "vector"), ("e/a.gpkg.xz", "vector"),
     ("e/dem.asc.bz2", "raster"), ("e/scan.tif.xz", "raster"), ("e/a.shp.xz", "unsupported"),
     ("e/buildings.csv.zst", "vector"), ("e/run.nc.zst", "raster")],
)  # fmt: skip
def test_compressed_single_files_are_classified_by_their_inner_name(name: str, kind: str) -> None:
    assert bronze.classify(name).kind == kind


def test_compressed_tars_and_bare_streams_are_judged_by_content() -> None:
    for name in ("x/wells.tar.bz2", "x/wells.tbz2", "x/scene.tar.xz", "x/scene.txz", "x/a.xz",
                 "x/b.tar.zst"):  # fmt: skip
        cls = bronze.classify(name, 10)
        assert cls.kind == "unsupported" and cls.needs_content, name
    assert "'.tar.xz'" in bronze.classify("x/scene.tar.xz", 10).reason
    siblings = ["d/dem.prj", "d/dem.asc.aux.xml", "d/other.prj", "d/dem.asc.xz"]
    assert sorted(bronze.sidecar_names("d/dem.asc.xz", siblings)) == [
        "d/dem.asc.aux.xml",
        "d/dem.prj",
    ]
    for ext in (".gz", ".bz2", ".XZ"):
        assert compressed.inner_name(f"e/roads.geojson{ext}") == "roads.geojson"
    assert compressed.inner_name("e/scene.tar.xz") == "scene.tar"
    # A stream whose name says nothing and whose content is no tar: named what to do.
    kind, reason = content_kind(bz2.compress(b"just some notes\n" * 50), "blob")
    assert kind == "unsupported" and "name it after the file it holds" in reason


def shapefile_tar(folder: Path, name: str, mode: str, noise: int = 0) -> Path:
    """A tar (``mode``: 'w:bz2', 'w:xz', 'w:zst') of a two-point Shapefile, then ``noise`` bytes of
    incompressible data: a bzip2 block then spans far more than the sensor's usual head."""
    gpd.GeoDataFrame({"depth": [3.5, 7.0]}, geometry=[Point(5, 52), Point(6, 53)],
                     crs="EPSG:4326").to_file(folder / "wells.shp")  # fmt: skip
    (folder / "scan.bin").write_bytes(os.urandom(noise))
    path = folder / name
    with tarfile.open(path, "w" if mode == "w:zst" else mode) as tar:
        for ext in ("shp", "shx", "dbf", "prj", "cpg"):
            tar.add(folder / f"wells.{ext}", arcname=f"data/wells.{ext}")
        if noise:
            tar.add(folder / "scan.bin", arcname="data/scan.bin")
    if mode == "w:zst":  # tarfile writes no zstd before Python 3.14
        path.write_bytes(zstd.compress(path.read_bytes()))
    return path


@pytest.mark.parametrize(
    ("name", "mode"),
    [("wells.tar.xz", "w:xz"), ("wells.tbz2", "w:bz2"), ("wells.tar.zst", "w:zst")],
)
def test_a_compressed_tar_of_a_shapefile_publishes_its_table(
    name: str, mode: str, tmp_path: Path, pg_dsn, pg_schema
) -> None:
    path = shapefile_tar(tmp_path, name, mode)
    assert content_kind(path.read_bytes()[:HEAD_BYTES])[0] == "vector"
    world = World(tmp_path, pg_dsn, pg_schema)
    try:
        (table,) = world.publish(world.upload(name, path)).tables
        assert table.rows_loaded == 2 and table.geometry_type == "MultiPoint"
    finally:
        world.drop_collections()


def test_the_sensor_reads_a_long_bzip2_block_to_the_end(store, tmp_path: Path) -> None:  # noqa: F811
    """The first 64 KiB of this tar.bz2 decode to nothing (its first block is ~600 KB packed):
    the head reader goes on to ``LONG_HEAD_BYTES``, on the local store and on Azurite, and the
    tar's members make it a vector."""
    store, bronze_container, _ = store
    path = shapefile_tar(tmp_path, "wells.tar.bz2", "w:bz2", noise=600_000)
    head = path.read_bytes()[:HEAD_BYTES]
    assert wants_longer_head(head) and content_kind(head, "wells.tar.bz2")[0] == "unsupported"
    store.upload_file(bronze_container, "in/wells.tar.bz2", path)
    blob = BlobInfo(path="in/wells.tar.bz2", size=path.stat().st_size, etag="e")
    long_head = head_reader(store, bronze_container)(blob)
    assert HEAD_BYTES < len(long_head) == path.stat().st_size  # the whole stream, < 1 MiB
    assert bronze.classify_content(blob, long_head).kind == "vector"


@pytest.mark.parametrize("codec", CODECS)
def test_a_stream_named_without_its_format_is_judged_by_its_content(
    codec: str,
    store,  # noqa: F811
    pgstac_lookups,
    bronze_folder,
    tmp_path: Path,
    pg_dsn,
    pg_schema,
) -> None:
    """``export.gz``, ``dem.bz2``: the sensor sniffs the decompressed head; the table and the COG
    are published from the copy (named ``export``, ``dem``: GDAL goes by content)."""
    geojson = packed(tmp_path / "export", codec, json.dumps(FEATURES).encode())
    assert bronze.classify(f"x/{geojson.name}").needs_content
    kind, reason = content_kind(geojson.read_bytes()[:HEAD_BYTES], f"x/{geojson.name}")
    assert (kind, reason) == ("vector", f"recognised by its content ({codec} GeoJSON)")
    world = World(tmp_path, pg_dsn, pg_schema)
    try:
        (table,) = world.publish(world.upload(geojson.name, geojson)).tables
        assert (table.rows_loaded, table.driver) == (25, "GeoJSON")
    finally:
        world.drop_collections()
    tif = tmp_path / "dem.tif"
    grid = from_origin(480_000, 5_300_000, 25, 25)
    profile = {"driver": "GTiff", "width": 60, "height": 40, "count": 1, "dtype": "float32",
               "crs": CRS.from_epsg(25832), "transform": grid}  # fmt: skip
    with rasterio.open(tif, "w", **profile) as dst:
        dst.write(GRID[None])
    dem = packed(tmp_path / "dem", codec, tif.read_bytes())
    assert content_kind(dem.read_bytes()[:LONG_HEAD_BYTES], dem.name)[0] == "raster"
    blob, _ = published_raster(store, pgstac_lookups, bronze_folder, dem)
    with store[0].local_copy(store[2], f"{naming.silver_prefix(blob)}/analysis.tif") as local:
        assert cog_validate(str(local))[0]
        with rasterio.open(local) as cog:
            assert cog.crs == CRS.from_epsg(25832) and np.array_equal(cog.read(1), GRID)


OSM_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
 <node id="1" lat="47.01" lon="8.01" version="1"><tag k="amenity" v="cafe"/></node>
 <node id="2" lat="47.02" lon="8.02" version="1"/>
 <node id="3" lat="47.03" lon="8.03" version="1"/>
 <way id="10" version="1"><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/></way>
</osm>
"""


def test_an_osm_extract_in_bzip2_publishes_its_points_and_lines(
    tmp_path: Path, pg_dsn, pg_schema
) -> None:
    """``zurich.osm.bz2``, as Geofabrik and planet mirrors have long served OSM XML."""
    path = packed(tmp_path / "zurich.osm", "bzip2", OSM_XML)
    assert bronze.classify("x/zurich.osm.bz2").kind == "vector"
    world = World(tmp_path, pg_dsn, pg_schema)
    try:
        tables = world.publish(world.upload(path.name, path)).tables
        found = {t.table.rsplit("__", 1)[1]: (t.rows_loaded, t.geometry_type) for t in tables}
        assert found == {"points": (1, "MultiPoint"), "lines": (1, "MultiLineString")}
        assert all(t.table.startswith(f"{world.prefix}_zurich__") for t in tables)
    finally:
        world.drop_collections()
