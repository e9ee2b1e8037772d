"""Issue 17: blobs recognised by content (the extension is a hint), names the platform cannot
take reported instead of stopping a tick, SRTM zips, and names GDAL must never parse."""

from __future__ import annotations

import bz2
import lzma
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio

from geo_platform.lib import bronze
from geo_platform.lib.archive_members import zip_member_names
from geo_platform.lib.content import HEAD_BYTES, content_kind
from geo_platform.lib.errors import UnsafeArchiveError
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.raster.cog import RasterOptions, build_cog_tiers, validate_cog
from geo_platform.lib.raster.inspect import inspect_raster
from geo_platform.lib.types import BlobInfo
from geo_platform_tests.fixtures.helpers import TESTDATA, zip_bytes

RGB = TESTDATA / "rasters/rgb_uint8/RGB.byte.tif"
GPKG = TESTDATA / "vectors/gpkg_multilayer/ynp_features.gpkg"
KML = TESTDATA / "vectors/kml/addresses.kml"
# Characters the blob store keeps byte for byte and GDAL/pyogrio would read as syntax.
ODD = "a;b,c #d !e ?f 'g\" {h}"


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(HEAD_BYTES)


# --- recognising blobs by content ------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (RGB.read_bytes()[:HEAD_BYTES], "raster"),
        (GPKG.read_bytes()[:HEAD_BYTES], "vector"),
        (KML.read_bytes()[:HEAD_BYTES], "vector"),
        (b'{"type": "FeatureCollection", "features": []}', "vector"),
        (b"name,lat,lon\na,1,2\n", "vector"),
        (b"id;WKT\n1;POINT (1 2)\n", "vector"),
        (zip_bytes({"deep/roads.shp": b"x", "deep/roads.dbf": b"x"}), "vector"),
        (zip_bytes({"N45E006.hgt": b"\0" * 100}), "raster"),
        (zip_bytes({"[Content_Types].xml": b"<x/>", "word/document.xml": b"<x/>"}), "unsupported"),
        (b"ncols 2\nnrows 2\nxllcorner 0\nyllcorner 0\ncellsize 1\n1 2\n3 4\n", "raster"),
        (b"name,value\na,1\n", "unsupported"),
        (b'{"not": "geojson"}', "unsupported"),
        (b"<!DOCTYPE html><html><body>404</body></html>", "unsupported"),
        (b"just some notes\n", "unsupported"),
        (b"\x00\x01\x02\x03" * 10, "unsupported"),
    ],
)
def test_content_kind(content: bytes, kind: str) -> None:
    assert content_kind(content, "blob", len(content))[0] == kind


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (bz2.compress(b"just some notes\n" * 50), "bzip2-compressed data; name it"),
        (lzma.compress(b"x" * 500), "xz-compressed data; name it after the file it holds"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(64), "a 7-Zip archive; name it with the .7z"),
        (b"Rar!\x1a\x07\x01\x00" + bytes(64), "a RAR archive; repack it as a .zip"),
    ],
)
def test_archives_the_platform_cannot_open_say_what_would_work(content: bytes, says: str):
    """A bzip2 or xz stream that is no tar, and whose name does not say what it holds, says how
    to name it, a 7z without its extension too; RAR says how to repack it (these were all
    "unrecognised binary data")."""
    kind, reason = content_kind(content, "delivery", len(content))
    assert kind == "unsupported" and says in reason


def test_zip_members_are_read_from_the_first_bytes() -> None:
    data = zip_bytes({"a/roads.shp": b"1" * 50, "a/roads.dbf": b"2", "b/rivers.shp": b"3"})
    assert zip_member_names(data) == ["a/roads.shp", "a/roads.dbf", "b/rivers.shp"]


@pytest.mark.parametrize(
    ("path", "kind", "needs_content"),
    [
        ("cogs/dem.cog", "raster", False),
        ("dem/N45E006.hgt.zip", "raster", False),
        ("dem/elevation.tif.zip", "raster", False),
        ("v/roads.shp.zip", "vector", False),
        ("v/roads.zip", "vector", False),
        ("x/scene", "unsupported", True),
        ("x/scene.data", "unsupported", True),
        ("a/../b.kml", "unsupported", False),
        ("a\\b.tif", "unsupported", False),
        ("raw/bad\udcff.tif", "unsupported", False),
    ],
)
def test_classify_by_name(path: str, kind: str, needs_content: bool) -> None:
    cls = bronze.classify(path, 10)
    assert (cls.kind, cls.needs_content) == (kind, needs_content)


def _blob(path: str, etag: str = "e1", size: int = 100) -> BlobInfo:
    return BlobInfo(path, size, etag)


def test_candidates_are_read_once_per_etag() -> None:
    reads: list[str] = []
    heads = {"x/scene": _head(RGB), "x/parks": _head(GPKG), "x/notes": b"hello\n"}

    def read(blob: BlobInfo) -> bytes:
        reads.append(blob.path)
        return heads[blob.path]

    listing = [_blob(p) for p in heads]
    plan = bronze.plan_tick(listing, {}, read_head=read)
    assert [b.path for b in plan.new["raster"]] == ["x/scene"]
    assert [b.path for b in plan.new["vector"]] == ["x/parks"]
    assert [b.path for b, _ in plan.unsupported] == ["x/notes"]
    again = bronze.plan_tick(listing, plan.state, read_head=read)
    assert len(reads) == 3 and not again.unsupported and not again.new["raster"]
    # a new etag keeps the kind (no read) and runs again; an unsupported blob is re-read
    changed = [_blob(p, "e2") for p in heads]
    third = bronze.plan_tick(changed, plan.state, read_head=read)
    assert [b.path for b in third.changed["raster"]] == ["x/scene"]
    assert reads[3:] == ["x/notes"]


def test_candidates_reported_by_name_before_are_looked_at_once() -> None:
    """A cursor from before content recognition holds 'u' (unsupported by name) for them."""
    old = {"x/scene": "u" + bronze._etag_digest("e1")}
    plan = bronze.plan_tick([_blob("x/scene")], old, read_head=lambda b: _head(RGB))
    assert [b.path for b in plan.new["raster"]] == ["x/scene"]


def test_sniff_budget_defers_the_rest() -> None:
    listing = [_blob(f"x/s{i}") for i in range(5)]
    plan = bronze.plan_tick(listing, {}, read_head=lambda b: _head(RGB), max_sniffs=2)
    assert len(plan.new["raster"]) == 2 and plan.deferred == 3
    nxt = bronze.plan_tick(listing, plan.state, read_head=lambda b: _head(RGB), max_sniffs=2)
    assert len(nxt.new["raster"]) == 2


def test_no_blob_stops_a_tick() -> None:
    def in_collection(path: str) -> bool:
        if path.startswith("broken/"):
            raise PermissionError("marker lookup refused")
        return False

    listing = [
        _blob("a/../../c.kml"),
        _blob("broken/x.tif"),
        _blob("good/y.tif"),
        _blob("z/unreadable"),
    ]

    def read(blob: BlobInfo) -> bytes:
        raise OSError("disk error")

    state = {"broken/x.tif": "r" + bronze._etag_digest("e1")}
    plan = bronze.plan_tick(listing, state, in_collection=in_collection, read_head=read)
    assert [b.path for b in plan.new["raster"]] == ["good/y.tif"]
    reasons = dict((b.path, r) for b, r in plan.unsupported)
    assert "'..' segments" in reasons["a/../../c.kml"]
    assert "could not read it" in reasons["z/unreadable"]
    assert [b.path for b, _ in plan.retry] == ["broken/x.tif"]
    # skipped is not removed: the partition keeps its state
    assert not plan.removed and plan.state["broken/x.tif"] == state["broken/x.tif"]


def test_unlisted_paths_are_never_reported_removed() -> None:
    state = {"a/x.tif": "r1", "b/y.tif": "r2"}
    plan = bronze.plan_tick([_blob("a/x.tif")], state, unlisted=lambda p: p.startswith("b/"))
    assert not plan.removed and plan.state["b/y.tif"] == "r2"
    gone = bronze.plan_tick([_blob("a/x.tif")], state)  # a complete listing: b/y.tif is gone
    assert gone.removed == {"b/y.tif": "raster"}


# --- rasters and vectors recognised by content at the bronze stage --------------------------
def test_geotiff_named_cog_or_without_extension_inventories(tmp_path: Path) -> None:
    for name in ("dem.cog", "scene", "scene.data"):
        local = tmp_path / name
        shutil.copy(RGB, local)
        inv = inventory_file(local, f"bronze/{name}", "raster")
        assert (inv.format, inv.driver, inv.bands) == ("GTiff", "GTiff", 3)


def test_vector_recognised_by_content_inventories(tmp_path: Path) -> None:
    gpkg = tmp_path / "parks.export"
    shutil.copy(GPKG, gpkg)
    csv = tmp_path / "points.txt"
    csv.write_text("name,lat,lon\na,48.1,11.5\nb,48.2,11.6\n")
    assert inventory_file(gpkg, "v/parks.export", "vector").features
    inv = inventory_file(csv, "v/points.txt", "vector")
    assert (inv.driver, inv.features, inv.layers[0]["name"]) == ("CSV", 2, "points")


# --- SRTM zips -------------------------------------------------------------------------------
def _srtmzip_bytes(folder: Path, name: str = "N45E006.hgt.zip", side: int = 1201) -> Path:
    """A synthetic SRTM tile (big-endian int16, no header) zipped as USGS delivers it."""
    yy, xx = np.mgrid[0:side, 0:side]
    dem = (200 + xx % 700 + yy // 3).astype(">i2")
    hgt = folder / "N45E006.hgt"
    dem.tofile(hgt)
    path = folder / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(hgt, "N45E006.hgt")
    hgt.unlink()
    return path


def test_srtm_zip_opens_with_the_srtmhgt_driver(tmp_path: Path) -> None:
    path = _srtmzip_bytes(tmp_path)
    assert bronze.classify("dem/N45E006.hgt.zip", 10).kind == "raster"
    inv = inventory_file(path, "dem/N45E006.hgt.zip", "raster")
    assert (inv.driver, inv.width, inv.height, inv.dtypes) == ("SRTMHGT", 1201, 1201, ["int16"])
    assert inv.bbox is not None
    west, south, east, north = inv.bbox
    assert [round(v) for v in (west, south, east, north)] == [6, 45, 7, 46]
    info = inspect_raster(path, "dem/N45E006.hgt.zip")
    result = build_cog_tiers(path, tmp_path / "out", RasterOptions(), "dem/N45E006.hgt.zip")
    analysis = result.published()["analysis"].path
    assert analysis is not None
    validate_cog(analysis)
    with rasterio.open(analysis) as cog, rasterio.open(info.gdal_path) as src:
        assert cog.crs == src.crs and np.array_equal(cog.read(1), src.read(1))


def test_all_ocean_srtm_tile_is_no_zip_bomb(tmp_path: Path) -> None:
    """A 1 arc-second tile of sea level (all zeros) compresses about 1000x: the fixed SRTM
    size proves it is no bomb."""
    hgt = tmp_path / "N45E006.hgt"
    np.zeros((3601, 3601), dtype=">i2").tofile(hgt)
    path = tmp_path / "N45E006.SRTMGL1.hgt.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(hgt, "N45E006.hgt")
    inv = inventory_file(path, "dem/N45E006.SRTMGL1.hgt.zip", "raster")
    assert (inv.driver, inv.width) == ("SRTMHGT", 3601)
    # a member of another size with that ratio is still refused
    bomb = tmp_path / "bomb.tif.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.tif", b"\0" * (30 * 2**20))
    with pytest.raises(UnsafeArchiveError):
        inventory_file(bomb, "dem/bomb.tif.zip", "raster")


def test_raster_zip_recognised_by_content_without_zip_extension(tmp_path: Path) -> None:
    path = _srtmzip_bytes(tmp_path, "srtm-download")
    assert content_kind(_head(path), path.name, path.stat().st_size)[0] == "raster"
    inv = inventory_file(path, "dem/srtm-download", "raster")
    assert inv.driver == "SRTMHGT"


# --- names that must never reach GDAL as syntax ----------------------------------------------
def test_raster_with_odd_characters_publishes(tmp_path: Path) -> None:
    local = tmp_path / f"{ODD}.tif"
    shutil.copy(RGB, local)
    inv = inventory_file(local, f"r/{ODD}.tif", "raster")
    assert inv.bands == 3
    result = build_cog_tiers(local, tmp_path / "out", RasterOptions(), f"r/{ODD}.tif")
    analysis = result.published()["analysis"].path
    assert analysis is not None
    validate_cog(analysis)
    srtm = _srtmzip_bytes(tmp_path, f"{ODD}.hgt.zip")
    assert inventory_file(srtm, f"r/{ODD}.hgt.zip", "raster").driver == "SRTMHGT"


def test_vector_with_odd_characters_inventories(tmp_path: Path) -> None:
    """pyogrio cut ``a;b.gpkg`` at the ``;`` ('No such file or directory')."""
    local = tmp_path / f"{ODD}.gpkg"
    shutil.copy(GPKG, local)
    inv = inventory_file(local, f"v/{ODD}.gpkg", "vector")
    assert inv.driver == "GPKG" and inv.features and len(inv.layers) > 1
    kml = tmp_path / f"{ODD}.kml"
    shutil.copy(KML, kml)
    assert inventory_file(kml, f"v/{ODD}.kml", "vector").features


def test_hdf4_is_named_with_what_to_do() -> None:
    """A MODIS ``.hdf`` (HDF4: no driver in the platform's GDAL) was "unrecognised binary data";
    an HDF5 file named ``.hdf`` is still a raster."""
    blob = BlobInfo(path="modis/MOD13Q1.A2024001.h18v04.061.hdf", size=4096, etag="e")
    assert bronze.classify(blob.path, blob.size).needs_content
    cls = bronze.classify_content(blob, b"\x0e\x03\x13\x01" + bytes(4092))
    assert cls.kind == "unsupported" and "HDF4 (MODIS, ASTER" in cls.reason
    assert "convert it to HDF5 or NetCDF-4" in cls.reason
    assert bronze.classify_content(blob, b"\x89HDF\r\n\x1a\n" + bytes(4088)).kind == "raster"
