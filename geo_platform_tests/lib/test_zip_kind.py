"""A `.zip` blob is planned by what it holds, listed from its last bytes (``lib/zip_kind.py``):
rasters only -> the raster pipeline; anything else -> the vector pipeline, as its name says."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geo_platform.app.ingest import plan_for
from geo_platform.lib import bronze
from geo_platform.lib.errors import TransientError
from geo_platform.lib.raster.opening import resolve_gdal_path
from geo_platform.lib.types import BlobInfo
from geo_platform.lib.zip_kind import TAIL_BYTES, kind_from_tail, members_from_tail


def _zip(members: dict[str, bytes], *, zip64: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            with z.open(name, "w", force_zip64=zip64) as fh:
                fh.write(data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("names", "kind"),
    [
        (["scan.tif"], "raster"),
        (["scan/scan.tif", "scan/scan.tfw", "scan/scan.tif.aux.xml"], "raster"),
        (["dem/", "dem/N45E006.hgt", "README.txt", "__MACOSX/dem/._N45E006.hgt"], "raster"),
        (["ortho.jp2", "licence.pdf"], "raster"),
        (["a.tif", "b.tif"], "raster"),  # a mosaic, or one item per raster
        (["roads.shp", "roads.shx", "roads.dbf", "roads.prj"], "vector"),
        (["roads.shp", "roads.shx", "roads.dbf", "scan.tif"], "vector"),  # a mix stays vector
        (["data.gdb/a00000001.gdbtable"], "vector"),
        (["points.geojson", "preview.png"], "vector"),
        (["scan.tif", "__MACOSX/._roads.shp"], "raster"),  # archive noise is no vector
        (["README.txt"], "vector"),
        ([], "vector"),
        # grids with companions (USGS NED's GridFloat, SAGA, ER Mapper, ENVI's bare data file)
        (["floatn40w106_13.flt", "floatn40w106_13.hdr", "floatn40w106_13.prj"], "raster"),
        (["dem.sdat", "dem.sgrd"], "raster"),
        (["ahn/dem.xyz", "ahn/dem.prj"], "raster"),  # a gridded XYZ, as loose
        (["scene.ers", "scene"], "raster"),
        (["hyper", "hyper.hdr"], "raster"),
        (["notes", "notes.txt"], "vector"),  # a bare name without a header is no raster
        # pictures placed by a world file, an .aux.xml or a MapInfo .tab (not a vector table)
        (["ortho/ortho.jpg", "ortho/ortho.jgw"], "raster"),
        (["map.png", "map.pgw", "map.prj"], "raster"),
        (["scan.jpg", "scan.jpg.aux.xml"], "raster"),
        (["sheet.jpg", "sheet.tab"], "raster"),
        (["roads.tab", "roads.map", "roads.dat", "roads.jpg"], "vector"),  # a MapInfo table
        (["preview.jpg", "notes.txt"], "vector"),  # an unplaced picture is no raster
    ],
)
def test_kind_of_members(names: list[str], kind: str) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in names:
            z.writestr(name, b"")
    data = buf.getvalue()
    assert kind_from_tail(data[-TAIL_BYTES:], len(data)) == kind


def test_members_are_listed_from_the_tail_only() -> None:
    payload = os.urandom(3 * TAIL_BYTES)  # incompressible: the directory starts far from 0
    data = _zip({"big/scan.tif": payload, "big/scan.tfw": b"1\n0\n0\n-1\n0\n0\n"})
    tail = data[-TAIL_BYTES:]
    assert members_from_tail(tail, len(data)) == ["big/scan.tif", "big/scan.tfw"]
    assert kind_from_tail(tail, len(data)) == "raster"
    # ZIP64 records are read too
    data64 = _zip({"a.tif": payload, "b.tfw": b"x"}, zip64=True)
    assert members_from_tail(data64[-TAIL_BYTES:], len(data64)) == ["a.tif", "b.tfw"]


def test_what_cannot_be_listed_from_the_tail_stays_a_vector() -> None:
    many = {f"tiles/tile_{i:05d}_with_a_rather_long_name.tif": b"" for i in range(5000)}
    data = _zip(many)  # its directory is larger than the tail
    assert members_from_tail(data[-TAIL_BYTES:], len(data)) is None
    assert kind_from_tail(data[-TAIL_BYTES:], len(data)) == "vector"
    assert members_from_tail(data, len(data)) is not None  # the whole directory: listed
    assert members_from_tail(b"not a zip at all", 16) is None
    assert members_from_tail(b"", 0) is None
    truncated = _zip({"a.tif": b"x" * 100})[:-10]
    assert kind_from_tail(truncated, len(truncated)) == "vector"


def _blob(path: str, data: bytes, etag: str = "e1") -> BlobInfo:
    return BlobInfo(path=path, size=len(data), etag=etag)


def test_plan_tick_routes_a_raster_zip_and_reads_each_zip_once() -> None:
    files = {
        "in/scan.zip": _zip({"scan.tif": b"II*\x00", "scan.tfw": b"1"}),
        "in/roads.zip": _zip({"roads.shp": b"", "roads.shx": b"", "roads.dbf": b""}),
        "in/dem.tif.zip": _zip({"dem.tif": b"II*\x00"}),  # a raster by name: not read
    }
    reads: list[str] = []

    def tail(blob: BlobInfo) -> bytes:
        reads.append(blob.path)
        return files[blob.path][-TAIL_BYTES:]

    listing = [_blob(p, d) for p, d in sorted(files.items())]
    plan = bronze.plan_tick(listing, {}, read_tail=tail)
    assert sorted(b.path for b in plan.new["raster"]) == ["in/dem.tif.zip", "in/scan.zip"]
    assert [b.path for b in plan.new["vector"]] == ["in/roads.zip"]
    assert sorted(reads) == ["in/roads.zip", "in/scan.zip"] and plan.zips_read == 2
    # Next tick, and after a new upload (new etag): the kind stays, nothing is read again.
    reads.clear()
    listing[2] = _blob("in/scan.zip", files["in/scan.zip"], etag="e2")
    again = bronze.plan_tick(listing, plan.state, read_tail=tail)
    assert [b.path for b in again.changed["raster"]] == ["in/scan.zip"]
    assert reads == [] and not again.new["raster"] and not again.new["vector"]
    # Without a tail reader (older callers) every .zip is a vector, as named.
    by_name = bronze.plan_tick(listing, {})
    assert sorted(b.path for b in by_name.new["vector"]) == ["in/roads.zip", "in/scan.zip"]


def test_plan_tick_zip_reads_count_against_the_budget_and_failures() -> None:
    data = _zip({"scan.tif": b"II*\x00"})
    listing = [_blob(f"in/{i}.zip", data) for i in range(3)]
    plan = bronze.plan_tick(listing, {}, read_tail=lambda b: data, max_zip_reads=2)
    assert len(plan.new["raster"]) == 2 and plan.deferred == 1 and plan.zips_read == 2
    assert "in/2.zip" not in plan.state  # judged next tick
    assert plan.sniffed == 0  # the budget of files without an extension is not used up

    def flaky(blob: BlobInfo) -> bytes:
        raise TransientError("store busy")

    plan = bronze.plan_tick(listing[:1], {}, read_tail=flaky)
    assert [(b.path, "will retry" in why) for b, why in plan.retry] == [("in/0.zip", True)]
    assert not plan.new["raster"] and not plan.new["vector"]

    def broken(blob: BlobInfo) -> bytes:
        raise PermissionError("denied")

    plan = bronze.plan_tick(listing[:1], {}, read_tail=broken)  # the vector run reports it
    assert [b.path for b in plan.new["vector"]] == ["in/0.zip"]


def _tif(path: Path) -> bytes:
    profile = dict(driver="GTiff", width=8, height=8, count=1, dtype="uint8", crs="EPSG:4326")
    with rasterio.open(path, "w", transform=from_origin(5, 45, 0.1, 0.1), **profile) as dst:
        dst.write(np.arange(64, dtype="uint8").reshape(1, 8, 8))
    return path.read_bytes()


def test_ingest_plans_and_the_raster_opener_takes_the_raster_beside_a_readme(tmp_path: Path):
    data = _zip({
        "scan/scan.tif": _tif(tmp_path / "scan.tif"),
        "scan/README.txt": b"scanned in 1998",
        "__MACOSX/scan/._scan.tif": b"\x00",
    })  # fmt: skip
    path = tmp_path / "delivery.zip"
    path.write_bytes(data)
    blob = _blob("in/delivery.zip", data)
    plan = plan_for([blob], read_tail=lambda b: data[-TAIL_BYTES:])
    assert [b.path for b in plan.new["raster"]] == ["in/delivery.zip"]
    assert resolve_gdal_path(path, "in/delivery.zip").endswith("scan/scan.tif")
    with rasterio.open(resolve_gdal_path(path, "in/delivery.zip")) as ds:
        assert ds.read(1).sum() == sum(range(64))
