"""Issue 17: bad input is refused at the bronze stage, uniformly: each case with its own error
class and a message that names the blob, never the worker's temporary folder.

``inventory_file`` is what the bronze stage runs on the worker's local copy of a blob; here the
copy sits in a ``geo-platform-*`` folder under the temporary directory, as the blob stores'
``local_copies`` put it, so any leaked GDAL path would show ``/tmp``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point

from geo_platform.lib.errors import (
    EmptyFileError,
    FormatMismatchError,
    GeoPlatformError,
    UnsafeArchiveError,
    gdal_input_error,
    without_local_paths,
)
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.types import DataKind
from geo_platform.lib.vector.read import open_source
from geo_platform_tests.fixtures.helpers import zip_bytes

HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
    b"<body><form action='/login'>Please sign in</form></body></html>\n"
)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504


@pytest.fixture(scope="module")
def shapefile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The parts of a good one-point Shapefile, by member name."""
    folder = tmp_path_factory.mktemp("shp")
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(6.1, 45.2)], crs="EPSG:4326").to_file(
        folder / "sites.shp"
    )
    parts = (".shp", ".shx", ".dbf", ".prj")
    return {f"sites/sites{s}": (folder / f"sites{s}").read_bytes() for s in parts}


def _worker_copy(tmp_path: Path, blob: str, data: bytes) -> Path:
    """A local copy of ``blob`` as a worker holds it (temporary folder, blob's base name)."""
    folder = tmp_path / "geo-platform-k2x9"
    folder.mkdir(exist_ok=True)
    local = folder / blob.rsplit("/", 1)[-1]
    local.write_bytes(data)
    return local


def _refused(
    tmp_path: Path, blob: str, kind: DataKind, data: bytes, cls: type[GeoPlatformError]
) -> str:
    """The bronze stage's error for ``blob``: of class ``cls``, naming the blob, no local path."""
    local = _worker_copy(tmp_path, blob, data)
    with pytest.raises(GeoPlatformError) as err:
        inventory_file(local, blob, kind)
    message = str(err.value)
    assert type(err.value) is cls, message
    assert err.value.path == blob and message.startswith(f"{blob}: ")
    assert "/tmp" not in message and str(tmp_path) not in message
    assert "geo-platform-k2x9" not in message and "/vsizip/" not in message
    return err.value.message


# --- unsafe archives ---------------------------------------------------------------------------
def test_traversal_member_beside_a_good_shapefile(tmp_path: Path, shapefile) -> None:
    """The good Shapefile does not carry the archive through: it is refused at bronze, as
    unsafe, naming the member (it used to pass bronze and fail only at the table stage)."""
    data = zip_bytes({**shapefile, "../../etc/cron.d/evil": b"* * * * * root sh\n"})
    message = _refused(tmp_path, "uploads/sites.zip", "vector", data, UnsafeArchiveError)
    assert "'../../etc/cron.d/evil'" in message and "path traversal" in message
    # the table stage refuses it the same way
    with pytest.raises(UnsafeArchiveError, match=r"'\.\./\.\./etc/cron\.d/evil'"):
        open_source(tmp_path / "geo-platform-k2x9" / "sites.zip", "uploads/sites.zip")


@pytest.mark.parametrize(
    ("members", "shown"),
    [
        ({"../sites.shp": b"x", "../sites.shx": b"x", "../sites.dbf": b"x"}, "../sites.shp"),
        ({"/etc/passwd": b"root:x:0:0"}, "/etc/passwd"),
        ({"..\\..\\windows\\evil.shp": b"x"}, "..\\\\..\\\\windows\\\\evil.shp"),
        ({"C:/evil.geojson": b"{}"}, "C:/evil.geojson"),
    ],
)
def test_archive_of_traversal_members_only(tmp_path: Path, members, shown: str) -> None:
    message = _refused(tmp_path, "uploads/x.zip", "vector", zip_bytes(members), UnsafeArchiveError)
    assert repr(next(iter(members))) in message and shown in message


def test_raster_zip_with_traversal_member(tmp_path: Path) -> None:
    """Raster zips (an SRTM tile) are checked the same way as vector ones."""
    data = zip_bytes({"../N45E006.hgt": b"\0" * 2884802})
    message = _refused(tmp_path, "dem/N45E006.hgt.zip", "raster", data, UnsafeArchiveError)
    assert "'../N45E006.hgt'" in message


# --- wrong formats -----------------------------------------------------------------------------
WRONG: list[tuple[str, DataKind, bytes | Callable[[], bytes], str]] = [
    ("uploads/parcels.geojson", "vector", HTML, "HTML page"),
    ("uploads/parcels.kml", "vector", HTML, "HTML page"),
    ("uploads/parcels.gpkg", "vector", HTML, "HTML page"),
    ("uploads/parcels.zip", "vector", HTML, "not a zip archive"),
    ("rasters/dem.tif", "raster", HTML, "HTML page"),
    ("uploads/parcels.geojson", "vector", b"Meeting notes: send the parcels\n", "plain text"),
    ("uploads/report.geojson", "vector", PDF, "PDF document"),
    ("uploads/legacy.gpkg", "vector", OLE2, "office document"),
    ("rasters/scan.tif", "raster", PDF, "PDF document"),
    (
        "uploads/sheet.zip",
        "vector",
        lambda: zip_bytes({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}),
        "office document",
    ),
    (
        "uploads/letter.geojson",
        "vector",
        lambda: zip_bytes({"mimetype": b"application/vnd.oasis.opendocument.text"}),
        "office document",
    ),
    (
        "uploads/bundle.zip",
        "vector",
        lambda: zip_bytes({"data/parcels.geojson": HTML}),
        "zip member 'data/parcels.geojson' is named as geodata but its content is an HTML page",
    ),
    # content GDAL itself does not recognise: GDAL's message, without the local path
    ("uploads/config.geojson", "vector", b'{"not": "geojson", "n": 1}', "GDAL recognises no"),
    ("rasters/dem.tif", "raster", b"elevation survey notes\n", "GDAL recognises no raster"),
]


@pytest.mark.parametrize(("blob", "kind", "data", "says"), WRONG)
def test_wrong_format_refused_at_bronze(tmp_path: Path, blob, kind, data, says: str) -> None:
    content = data() if callable(data) else data
    message = _refused(tmp_path, blob, kind, content, FormatMismatchError)
    assert says in message


# --- empty files -------------------------------------------------------------------------------
EMPTY: list[tuple[str, DataKind, bytes | Callable[[], bytes], str]] = [
    ("uploads/parcels.geojson", "vector", b"", "empty (0 bytes)"),
    ("uploads/parcels.zip", "vector", b"", "empty (0 bytes)"),
    ("rasters/dem.tif", "raster", b"", "empty (0 bytes)"),
    ("uploads/parcels.geojson", "vector", b"  \r\n\n\t ", "no data"),
    ("uploads/parcels.zip", "vector", lambda: zip_bytes({}), "holds no files"),
    ("uploads/dirs.zip", "vector", lambda: zip_bytes({"data/": b""}), "holds no files"),
    ("dem/N45E006.hgt.zip", "raster", lambda: zip_bytes({}), "holds no files"),
    (
        "uploads/bundle.zip",
        "vector",
        lambda: zip_bytes({"data/parcels.geojson": b""}),
        "zip member 'data/parcels.geojson' is empty",
    ),
]


@pytest.mark.parametrize(("blob", "kind", "data", "says"), EMPTY)
def test_empty_refused_at_bronze(tmp_path: Path, blob, kind, data, says: str) -> None:
    content = data() if callable(data) else data
    assert says in _refused(tmp_path, blob, kind, content, EmptyFileError)


def test_good_files_beside_them_still_inventory(tmp_path: Path, shapefile) -> None:
    local = _worker_copy(tmp_path, "uploads/sites.zip", zip_bytes(shapefile))
    inv = inventory_file(local, "uploads/sites.zip", "vector")
    assert inv.features == 1 and inv.layers[0]["name"] == "sites"


# --- the one helper that keeps local paths out of messages ----------------------------------
def test_without_local_paths(tmp_path: Path) -> None:
    blob = r"in/a\1 (copy).zip"  # replacement text taken literally, not as a regex template
    local = str(tmp_path / "geo-platform-1" / "a.zip")
    text = f"'/vsizip/{local}/sub/m.shp' not found; '{local}' bad"
    assert without_local_paths(text, blob, local) == f"'{blob}/sub/m.shp' not found; '{blob}' bad"
    gdal_path = f"/vsizip/{{{tmp_path / 'x' / 'a'}}}/m.shp"
    braces = f"{gdal_path} failed"
    assert without_local_paths(braces, "in/a", gdal_path) == "in/a/m.shp failed"
    # anything under the temporary folder goes, even when the caller did not name it
    leaked = "open /tmp/geo_platform_ab12/source.geojson: no (/tmp/x/y.dbf). /tmpfile stays"
    expected = "open in/p.geojson: no (in/p.geojson). /tmpfile stays"
    assert without_local_paths(leaked, "in/p.geojson") == expected
    # a file beside the local copy (a Shapefile's .shx) is named as the blob beside the blob
    store = "/srv/blobs/bronze/in"
    sibling = f"Unable to open {store}/roads.shx or {store}/roads.SHX."
    assert without_local_paths(sibling, "in/roads.shp", f"{store}/roads.shp") == (
        "Unable to open in/roads.shx or in/roads.SHX."
    )


def test_gdal_input_error_classifies_and_scrubs() -> None:
    exc = OSError(
        "'/tmp/geo-platform-9/page.geojson' not recognized as being in a supported file "
        "format.; It might help to specify the correct driver explicitly by prefixing"
    )
    err = gdal_input_error(exc, "in/page.geojson", "vector", "/tmp/geo-platform-9/page.geojson")
    assert isinstance(err, FormatMismatchError)
    assert str(err) == (
        "in/page.geojson: GDAL recognises no vector format in it ('in/page.geojson' not "
        "recognized as being in a supported file format.)"
    )
    other = gdal_input_error(OSError("read error at /tmp/q/x.fgb"), "in/x.fgb", "vector")
    assert type(other).__name__ == "UnreadableFileError" and "/tmp" not in str(other)
