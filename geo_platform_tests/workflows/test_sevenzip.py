"""7-Zip archives (``lib/sevenzip.py``), as IGN delivers BD TOPO: the sensor tells a vector 7z
from a raster one by the member names in its first and last bytes (ranged reads, on the local
store and on Azurite), a 7z of Shapefiles in nested folders publishes its table, a 7z of a
GeoTIFF its COG; unsafe, encrypted, oversized and corrupt archives are refused by name. Real
archives written by py7zr, real PostGIS, COGs checked with rio-cogeo and pixel for pixel."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import py7zr
import pytest
import rasterio
from psycopg import sql
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import Point

from geo_platform.defs.bronze.sensors import head_reader, tail_reader
from geo_platform.lib import bronze, naming, sevenzip
from geo_platform.lib.content import HEAD_BYTES, content_kind
from geo_platform.lib.errors import (
    EmptyFileError,
    TooLargeError,
    UnreadableFileError,
    UnsafeArchiveError,
)
from geo_platform.lib.inventory import file_sha256, inventory_file
from geo_platform.lib.types import BlobInfo
from geo_platform.lib.zip_kind import TAIL_BYTES
from geo_platform_tests.fixtures.helpers import published_raster
from geo_platform_tests.fixtures.vector_world import World
from geo_platform_tests.workflows.test_publish_gcps import store  # noqa: F401  (fixture)

NOISE = 600_000  # an incompressible documentation file: the archive's ends do not meet


def bdtopo_7z(folder: Path, name: str = "bdtopo.7z") -> Path:
    """Two-point Shapefile deep in folders, after a large PDF-like file, as IGN packs them."""
    points = [Point(2.35, 48.85), Point(2.36, 48.86)]
    gpd.GeoDataFrame({"nature": ["Route", "Chemin"]}, geometry=points,
                     crs="EPSG:4326").to_file(folder / "troncon.shp")  # fmt: skip
    (folder / "doc.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(NOISE))
    path = folder / name
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.write(folder / "doc.pdf", "BDTOPO/1_DOC/doc.pdf")
        for ext in ("shp", "shx", "dbf", "prj", "cpg"):
            archive.write(folder / f"troncon.{ext}", f"BDTOPO/1_DATA/TRANSPORT/troncon.{ext}")
    return path


def ortho_7z(folder: Path) -> tuple[Path, np.ndarray]:
    data = np.random.default_rng(3).integers(0, 255, (3, 200, 300)).astype("uint8")
    tif = folder / "ortho.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=300, height=200, count=3, dtype="uint8",
                       crs="EPSG:2154", transform=from_origin(650_000, 6_860_000, 0.5, 0.5),
                       ) as dst:  # fmt: skip
        dst.write(data)
    path = folder / "ortho.7z"
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.write(tif, "ORTHO/dalle_0650_6860.tif")
    return path, data


def test_the_sensor_reads_a_7z_members_from_its_ends(store, tmp_path: Path) -> None:  # noqa: F811
    store, bronze_container, _ = store
    vector = bdtopo_7z(tmp_path)
    raster, _ = ortho_7z(tmp_path)
    assert vector.stat().st_size > HEAD_BYTES + TAIL_BYTES  # neither read sees it all
    for path in (vector, raster):
        store.upload_file(bronze_container, f"in/{path.name}", path)
    listing = [b for b in store.list_blobs(bronze_container) if b.path.endswith(".7z")]
    plan = bronze.plan_tick(
        listing,
        {},
        read_head=head_reader(store, bronze_container),
        read_tail=tail_reader(store, bronze_container),
    )
    assert [b.path for b in plan.new["vector"]] == ["in/bdtopo.7z"]
    assert [b.path for b in plan.new["raster"]] == ["in/ortho.7z"]
    assert plan.unsupported == [] and plan.zips_read == 2
    data = vector.read_bytes()
    names = sevenzip.members_from_ends(data[:HEAD_BYTES], data[-TAIL_BYTES:], len(data))
    assert names is not None and "BDTOPO/1_DATA/TRANSPORT/troncon.shp" in names
    # Without the .7z name the first bytes cannot list it: the report says how to name it.
    kind, reason = content_kind(data[:HEAD_BYTES], "delivery")
    assert kind == "unsupported" and "name it with the .7z extension" in reason


def test_a_7z_of_shapefiles_in_folders_publishes_its_table(
    tmp_path: Path, pg_dsn, pg_schema
) -> None:
    path = bdtopo_7z(tmp_path)
    inv = inventory_file(path, "ign/bdtopo.7z", "vector")
    assert (inv.format, inv.features, inv.sha256) == ("ZIP+7z", 2, file_sha256(path))
    world = World(tmp_path, pg_dsn, pg_schema)
    try:
        (table,) = world.publish(world.upload("bdtopo.7z", path)).tables
        assert (table.rows_loaded, table.geometry_type) == (2, "MultiPoint")
        with world.connect() as conn:
            rows = conn.execute(
                sql.SQL("SELECT array_agg(nature ORDER BY nature), min(ST_SRID(geom)) FROM {}.{}")
                .format(sql.Identifier(pg_schema), sql.Identifier(table.table))
            ).fetchone()  # fmt: skip
        assert rows == (["Chemin", "Route"], 4326)
    finally:
        world.drop_collections()


def test_a_7z_of_a_geotiff_publishes_its_cog(store, pgstac_lookups, bronze_folder, tmp_path):  # noqa: F811
    path, data = ortho_7z(tmp_path)
    blob, out = published_raster(store, pgstac_lookups, bronze_folder, path)
    store, _, silver = store
    assert out.item["id"] == "ortho.7z"
    assert out.item["properties"]["geo_platform:source_sha256"] == file_sha256(path)
    with store.local_copy(silver, f"{naming.silver_prefix(blob)}/analysis.tif") as local:
        assert cog_validate(str(local))[0]
        with rasterio.open(local) as cog:
            assert cog.crs.to_epsg() == 2154 and np.array_equal(cog.read(), data)


def _rename_member(path: Path, old: str, new: str) -> None:
    """Rename a member in a 7z's plain header (same length), fixing the header CRCs."""
    data = bytearray(path.read_bytes())
    before, after = old.encode("utf-16-le"), new.encode("utf-16-le")
    at = data.index(before)
    data[at : at + len(before)] = after
    offset, size = (int.from_bytes(data[i : i + 8], "little") for i in (12, 20))
    data[28:32] = zlib.crc32(data[32 + offset : 32 + offset + size]).to_bytes(4, "little")
    data[8:12] = zlib.crc32(data[12:32]).to_bytes(4, "little")
    path.write_bytes(bytes(data))


def test_unsafe_encrypted_oversized_and_corrupt_7z_are_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.7z"  # py7zr writes no such name: renamed in the header after
    with py7zr.SevenZipFile(evil, "w") as archive:
        archive.set_encoded_header_mode(False)
        archive.writestr(b"II*\0", "aa/aa/etc/evil.tif")
    _rename_member(evil, "aa/aa/", "../../")
    with pytest.raises(UnsafeArchiveError, match=r"x/evil.7z: 7z member '../../etc/evil.tif'"):
        sevenzip.as_zip(evil, "x/evil.7z")
    secret = tmp_path / "secret.7z"
    with py7zr.SevenZipFile(secret, "w", password="hunter2") as archive:
        archive.writestr(b"name,lat,lon\na,1,2\n", "points.csv")
    with pytest.raises(UnreadableFileError, match=r"x/secret.7z: the 7z archive is encrypted"):
        sevenzip.as_zip(secret, "x/secret.7z")
    big = tmp_path / "big.7z"
    with py7zr.SevenZipFile(big, "w") as archive:
        archive.writestr(b" " * (8 << 20), "padding.csv")
    with pytest.raises(TooLargeError, match=r"x/big.7z: the 7z archive holds 8388608 bytes"):
        sevenzip.as_zip(big, "x/big.7z", max_bytes=1 << 20)
    empty = tmp_path / "empty.7z"
    (tmp_path / "nothing").mkdir()
    with py7zr.SevenZipFile(empty, "w") as archive:
        archive.write(tmp_path / "nothing", "nothing")
    with pytest.raises(EmptyFileError, match=r"x/empty.7z: the 7z archive holds no files"):
        sevenzip.as_zip(empty, "x/empty.7z")
    cut = tmp_path / "cut.7z"
    full = bdtopo_7z(tmp_path).read_bytes()
    cut.write_bytes(full[: len(full) // 2])
    with pytest.raises(UnreadableFileError, match=r"x/cut.7z: corrupt 7z archive"):
        sevenzip.as_zip(cut, "x/cut.7z")
    assert sevenzip.if_7z(tmp_path / "doc.pdf", "x/doc.pdf") is None
    # The sensor cannot list a cut archive: the vector pipeline reports what is wrong.
    blob = BlobInfo(path="x/cut.7z", size=len(full) // 2, etag="e")
    plan = bronze.plan_tick([blob], {}, read_head=lambda b: cut.read_bytes()[:HEAD_BYTES],
                            read_tail=lambda b: cut.read_bytes()[-TAIL_BYTES:])  # fmt: skip
    assert [b.path for b in plan.new["vector"]] == ["x/cut.7z"]
