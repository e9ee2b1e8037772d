"""Odd raster deliveries the bronze stage judged wrongly (raster robustness sweep):

- a PCRaster ``.map`` (a raster) was skipped as a MapInfo table's ``.map`` sidecar: content
  decides (its CSF header), and a ``.tab`` of the same stem beside it makes it a sidecar;
- a zip of a zip of rasters, and a zipped Zarr store, went to the vector pipeline, which said
  "no Shapefile in the zip": they are rasters, read in place through ``/vsizip/``;
- a loose ``.vrt`` was "skipped: unknown extension" as if ignored: it is unsupported, saying
  why and what to upload instead.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.shutil
from rasterio.transform import from_origin
from shapely.geometry import Point

from geo_platform.app.ingest import plan_for
from geo_platform.lib import bronze
from geo_platform.lib.content import HEAD_BYTES, VRT_ALONE, content_kind
from geo_platform.lib.errors import UnsupportedFormatError, gdal_input_error
from geo_platform.lib.file_kinds import listed_roles
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.raster.opening import resolve_gdal_path
from geo_platform.lib.types import BlobInfo
from geo_platform.lib.zip_kind import TAIL_BYTES, kind_from_tail

UTM = {"crs": "EPSG:32631", "transform": from_origin(600_000, 5_800_000, 10, 10)}


def _tif(path: Path, crs: bool = True) -> Path:
    data = np.arange(200, dtype="float32").reshape(1, 10, 20)
    grid = UTM if crs else {"transform": UTM["transform"]}
    with rasterio.open(path, "w", driver="GTiff", width=20, height=10, count=1,
                       dtype="float32", **grid) as dst:  # fmt: skip
        dst.write(data)
    return path


def _pcraster(folder: Path, name: str = "dem.map") -> Path:
    """A PCRaster map as ``gdal_translate -of PCRaster`` writes it (its CRS in an .aux.xml)."""
    folder.mkdir(parents=True, exist_ok=True)
    src = _tif(folder / "pcraster-source.tif")
    rasterio.shutil.copy(src, folder / name, driver="PCRaster")
    src.unlink()
    return folder / name


def _mapinfo(folder: Path) -> Path:
    """A MapInfo table (``roads.tab`` with its ``.map``, ``.dat``, ``.id``): its ``.map``."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = gpd.GeoDataFrame({"a": [1]}, geometry=[Point(6.1, 45.2)], crs="EPSG:4326")
    frame.to_file(folder / "roads.tab", driver="MapInfo File")
    return folder / "roads.map"


def _blob(path: str, data: bytes, etag: str = "e1") -> BlobInfo:
    return BlobInfo(path=path, size=len(data), etag=etag)


# --- PCRaster .map ---------------------------------------------------------------------------
def test_a_pcraster_map_is_a_raster_by_content_a_mapinfo_map_a_sidecar(tmp_path: Path) -> None:
    pcr = _pcraster(tmp_path / "p").read_bytes()
    mif = _mapinfo(tmp_path / "m").read_bytes()
    assert pcr.startswith(b"RUU CROSS SYSTEM MAP FORMAT")
    assert content_kind(pcr[:HEAD_BYTES], "dem.map", len(pcr))[0] == "raster"
    by_name = bronze.classify("x/dem.map", len(pcr))
    assert (by_name.kind, by_name.needs_content) == ("sidecar", True)
    assert bronze.classify_content(_blob("x/dem.map", pcr), pcr[:HEAD_BYTES]).kind == "raster"
    assert bronze.classify_content(_blob("x/roads.map", mif), mif[:HEAD_BYTES]).kind == "sidecar"
    # a .tab of the same stem beside it: the MapInfo table's part, not even read
    roles = listed_roles(["v/roads.tab", "v/roads.map", "v/roads.dat", "p/dem.map"])
    assert roles == {"v/roads.map": "sidecar"}
    assert bronze.classify_listed(_blob("v/roads.map", mif), roles).kind == "sidecar"
    assert bronze.classify_listed(_blob("v/roads.map", mif), roles).needs_content is False


def test_the_sensor_and_ingest_plan_a_pcraster_map_as_a_raster(tmp_path: Path) -> None:
    files = {
        "p/dem.map": _pcraster(tmp_path / "p").read_bytes(),
        "p/dem.map.aux.xml": (tmp_path / "p" / "dem.map.aux.xml").read_bytes(),
        "v/roads.tab": (_mapinfo(tmp_path / "v").parent / "roads.tab").read_bytes(),
        "v/roads.map": (tmp_path / "v" / "roads.map").read_bytes(),
        "lost/roads.map": (tmp_path / "v" / "roads.map").read_bytes(),  # its .tab elsewhere
    }
    reads: list[str] = []

    def head(blob: BlobInfo) -> bytes:
        reads.append(blob.path)
        return files[blob.path][:HEAD_BYTES]

    listing = [_blob(p, d) for p, d in files.items()]
    plan = bronze.plan_tick(listing, {}, read_head=head)
    assert [b.path for b in plan.new["raster"]] == ["p/dem.map"]
    assert [b.path for b in plan.new["vector"]] == ["v/roads.tab"]
    assert not plan.unsupported and plan.sidecars == 3
    assert sorted(reads) == ["lost/roads.map", "p/dem.map"]
    again = bronze.plan_tick(listing, plan.state, read_head=head)  # each read once per etag
    assert len(reads) == 2 and not again.new["raster"] and not again.unsupported
    assert [b.path for b in plan_for(listing, head).new["raster"]] == ["p/dem.map"]


def test_a_pcraster_map_inventories_and_opens(tmp_path: Path) -> None:
    path = _pcraster(tmp_path)
    inv = inventory_file(path, "p/dem.map", "raster")
    assert (inv.format, inv.driver, inv.width, inv.height) == ("PCRaster", "PCRaster", 20, 10)
    assert inv.crs == "EPSG:32631"  # from the .aux.xml GDAL wrote beside it


def test_a_pcraster_map_gdal_cannot_read_says_so() -> None:
    """A GDAL built without the PCRaster driver recognises no format in it: said so."""
    exc = RuntimeError("'/tmp/w/dem.map' not recognized as being in a supported file format.")
    error = gdal_input_error(exc, "p/dem.map", "raster", "/tmp/w/dem.map")
    assert "PCRaster .map is not supported by this build" in error.message
    assert "convert to GeoTIFF" in error.message


# --- a zip of zips of rasters, a zipped Zarr store --------------------------------------------
def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def _ends(data: bytes) -> tuple[bytes, bytes]:
    return data[:HEAD_BYTES], data[-TAIL_BYTES:]


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_zip_of_zipped_rasters_is_a_raster(tmp_path: Path, method: int) -> None:
    tif = _tif(tmp_path / "a.tif").read_bytes()
    noise = os.urandom(2 * TAIL_BYTES)  # the outer zip is larger than its tail
    rasters = _zip({"inner.zip": _zip({"a.tif": tif, "a.tfw": b"1"}), "big.bin": noise}, method)
    shapes = _zip({"inner.zip": _zip({"r.shp": b"x", "r.shx": b"x", "r.dbf": b"x"})}, method)
    head, tail = _ends(rasters)
    assert kind_from_tail(tail, len(rasters), lambda: head) == "raster"
    assert kind_from_tail(tail, len(rasters)) == "vector"  # without its first bytes: as named
    head, tail = _ends(shapes)
    assert kind_from_tail(tail, len(shapes), lambda: head) == "vector"
    small = _zip({"inner.zip": _zip({"a.tif": tif})}, method)
    assert kind_from_tail(small[-TAIL_BYTES:], len(small), lambda: b"") == "raster"  # all tail
    assert content_kind(small, "delivery", len(small))[0] == "raster"  # no extension


def test_ingest_plans_a_zip_of_zipped_rasters_and_the_opener_reads_through_both(
    tmp_path: Path,
) -> None:
    data = _zip({"inner.zip": _zip({"a.tif": _tif(tmp_path / "a.tif").read_bytes()})})
    path = tmp_path / "zip_in_zip.zip"
    path.write_bytes(data)
    blob = _blob("in/zip_in_zip.zip", data)
    plan = plan_for([blob], lambda b: data[:HEAD_BYTES], lambda b: data[-TAIL_BYTES:])
    assert [b.path for b in plan.new["raster"]] == ["in/zip_in_zip.zip"]
    gdal_path = resolve_gdal_path(path, blob.path)
    assert gdal_path.startswith("/vsizip/{/vsizip/") and gdal_path.endswith("inner.zip}/a.tif")
    with rasterio.open(gdal_path) as ds:
        assert ds.read(1).sum() == sum(range(200))
    assert inventory_file(path, blob.path, "raster").driver == "GTiff"


def test_a_zip_of_rasters_taken_for_a_vector_says_so_not_shapefiles(tmp_path: Path) -> None:
    """Its inner zip's first members lie beyond the first bytes the sensor reads: it went the
    vector way, where it is refused with what happened, not "no Shapefile in the zip"."""
    tif = _tif(tmp_path / "a.tif").read_bytes()
    data = _zip({"big.bin": os.urandom(2 * TAIL_BYTES), "inner.zip": _zip({"a.tif": tif})})
    head, tail = _ends(data)
    assert kind_from_tail(tail, len(data), lambda: head) == "vector"
    path = tmp_path / "delivery.zip"
    path.write_bytes(data)
    with pytest.raises(UnsupportedFormatError, match="a zip inside the zip") as refused:
        inventory_file(path, "in/delivery.zip", "vector")
    assert "Shapefile" not in refused.value.message and "inner.zip/a.tif" in refused.value.message
    assert "upload the inner zip or the rasters themselves" in refused.value.message


def _zarr(folder: Path, store: str = "dem.zarr") -> Path:
    """A Zarr store as ``gdal_translate -of Zarr`` writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    rasterio.shutil.copy(_tif(folder / "src.tif"), folder / store, driver="Zarr")
    return folder / store


def _zipped_folder(folder: Path, dest: Path, root: Path) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            archive.write(file, file.relative_to(root).as_posix())
    return dest


@pytest.mark.parametrize("at_root", [False, True])
def test_a_zipped_zarr_store_is_one_raster(tmp_path: Path, at_root: bool) -> None:
    store = _zarr(tmp_path / "z")
    path = _zipped_folder(store, tmp_path / "dem_zarr.zip", store if at_root else store.parent)
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        assert any(n.endswith((".zarray", "zarr.json")) for n in archive.namelist())
    assert kind_from_tail(data[-TAIL_BYTES:], len(data)) == "raster"
    gdal_path = resolve_gdal_path(path, "in/dem_zarr.zip")
    assert gdal_path.endswith("dem_zarr.zip" if at_root else "dem_zarr.zip/dem.zarr")
    inv = inventory_file(path, "in/dem_zarr.zip", "raster")
    assert (inv.driver, inv.width, inv.height, inv.crs) == ("Zarr", 20, 10, "EPSG:32631")


def test_zarr_v3_metadata_and_zarr_json_are_no_vector() -> None:
    from geo_platform.lib.archive_members import zarr_stores, zip_kind

    v3 = ["cube.zarr/zarr.json", "cube.zarr/dem/zarr.json", "cube.zarr/dem/c/0/0"]
    assert zarr_stores(v3) == ["cube.zarr"] and zip_kind(v3)[0] == "raster"
    v2 = [".zgroup", "dem/.zarray", "dem/0.0", "x/.zarray"]
    assert zarr_stores(v2) == [""]
    assert zip_kind(["metadata.json", "points.geojson"])[0] == "vector"


# --- a loose VRT ------------------------------------------------------------------------------
def test_a_loose_vrt_is_unsupported_saying_why_a_zip_of_it_and_its_source_a_raster(
    tmp_path: Path,
) -> None:
    vrt = b'<VRTDataset rasterXSize="20" rasterYSize="10"><VRTRasterBand/></VRTDataset>'
    assert bronze.classify("x/dem.vrt", len(vrt)) == bronze.Classification("unsupported", VRT_ALONE)
    assert bronze.classify_content(_blob("x/mosaic", vrt), vrt).reason == VRT_ALONE
    assert "upload a zip holding the .vrt and the files it references" in VRT_ALONE
    plan = plan_for([_blob("x/dem.vrt", vrt)], lambda b: vrt)
    assert [(b.path, why) for b, why in plan.unsupported] == [("x/dem.vrt", VRT_ALONE)]
    data = _zip({"dem.vrt": vrt, "dem.tif": _tif(tmp_path / "dem.tif").read_bytes()})
    path = tmp_path / "vrt_with_source.zip"
    path.write_bytes(data)
    assert kind_from_tail(data[-TAIL_BYTES:], len(data)) == "raster"
    assert resolve_gdal_path(path, "x/vrt_with_source.zip").endswith("/dem.tif")
