"""One contract, two backends: every test runs on a local folder and on Azurite.

Each test gets its own container, so tests never see each other's blobs.
"""

from __future__ import annotations

import dataclasses
import os
import unicodedata
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pyogrio
import pytest
from azure.storage.blob import BlobClient, BlobServiceClient

from geo_platform.lib.errors import (
    ConfigError,
    NotFoundError,
    StorageUnavailableError,
    UnsafePathError,
)
from geo_platform.resources.blob_store import (
    AzureBlobStore,
    BlobStore,
    LocalBlobStore,
    blob_store_from_settings,
)
from geo_platform.settings import Settings


@dataclass
class Case:
    store: BlobStore
    container: str
    backend: str


@pytest.fixture(params=["local", pytest.param("azure", marks=pytest.mark.azurite)])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    container = f"t-{uuid.uuid4().hex[:20]}"
    if request.param == "local":
        store: BlobStore = LocalBlobStore(root=str(tmp_path / "blobs"))
        store.ensure_container(container)
        yield Case(store, container, "local")
        return
    conn = request.getfixturevalue("azurite_connection_string")
    store = AzureBlobStore(connection_string=conn, page_size=7)
    store.ensure_container(container)
    try:
        yield Case(store, container, "azure")
    finally:
        BlobServiceClient.from_connection_string(conn).delete_container(container)


def _read(case: Case, path: str) -> bytes:
    with case.store.local_copy(case.container, path) as local:
        return local.read_bytes()


def test_bytes_round_trip_with_stat_and_local_copy(case: Case) -> None:
    info = case.store.upload_bytes(case.container, "stac/items/a.json", b'{"id": "a"}')
    assert (info.path, info.size) == ("stac/items/a.json", 11) and info.etag
    stat = case.store.stat(case.container, "stac/items/a.json")
    assert stat is not None and (stat.size, stat.etag) == (11, info.etag)
    assert case.store.exists(case.container, "stac/items/a.json")
    with case.store.local_copy(case.container, "stac/items/a.json") as local:
        assert local.name == "a.json" and local.read_bytes() == b'{"id": "a"}'
    # Paths are cleaned by the one sanitizer: same blob, however it is spelled.
    assert case.store.stat(case.container, "stac//items/./a.json") == stat


def test_file_upload_streams_large_files_and_download(case: Case, tmp_path: Path) -> None:
    src = tmp_path / "big.tif"
    payload = os.urandom(9 * 1024 * 1024 + 123)  # over the single-PUT limit: block upload
    src.write_bytes(payload)
    info = case.store.upload_file(case.container, "rasters/big.tif", src)
    assert info.size == len(payload)
    dest = case.store.download_to(case.container, "rasters/big.tif", tmp_path / "out" / "x.tif")
    assert dest.read_bytes() == payload


def test_rewrite_changes_etag(case: Case) -> None:
    first = case.store.upload_bytes(case.container, "a.bin", b"one")
    second = case.store.upload_bytes(case.container, "a.bin", b"two")
    assert first.etag != second.etag
    stat = case.store.stat(case.container, "a.bin")
    assert stat is not None and stat.etag == second.etag
    assert _read(case, "a.bin") == b"two"


def test_listing_is_sorted_by_full_path_and_honours_prefixes(case: Case) -> None:
    names = ["b.tif", "a/y/z.tif", "a.tif", "a-b.tif", "a/x.tif", "ab/c.tif", "A.tif"]
    for name in names:
        case.store.upload_bytes(case.container, name, name.encode())
    listed = [b.path for b in case.store.list_blobs(case.container)]
    assert listed == sorted(names)  # a-b.tif < a.tif < a/x.tif < a/y/z.tif < ab/c.tif
    assert [b.path for b in case.store.list_blobs(case.container, "a/")] == ["a/x.tif", "a/y/z.tif"]
    assert [b.path for b in case.store.list_blobs(case.container, "a")] == sorted(
        n for n in names if n.startswith("a")
    )
    assert [b.path for b in case.store.list_blobs(case.container, "a/y")] == ["a/y/z.tif"]
    assert list(case.store.list_blobs(case.container, "nothing/")) == []
    sizes = {b.path: b.size for b in case.store.list_blobs(case.container)}
    assert sizes == {n: len(n.encode()) for n in names}


def test_listing_is_paginated_and_lazy(case: Case) -> None:
    names = [f"tiles/{folder}/t{i:02d}.tif" for folder in "abc" for i in range(10)]
    for name in names:
        case.store.upload_bytes(case.container, name, b"x")
    it = case.store.list_blobs(case.container, "tiles/")
    first = next(it)
    # Pages (Azure: 7 per page here) and folders (local) are fetched as the caller iterates:
    # a blob deleted after the first result but before its page is read is not reported.
    assert case.store.delete(case.container, "tiles/c/t09.tif")
    rest = [b.path for b in it]
    assert [first.path, *rest] == names[:-1]


HOSTILE = [
    "with space/file name.tif",
    'quotes/it\'s "quoted".gpkg',
    "unicode/" + unicodedata.normalize("NFC", "café.tif"),
    "unicode/" + unicodedata.normalize("NFD", "café.tif"),
    "unicode/日本語 データ.geojson",
    "punct/hash#and?query%25&plus+semi;colon=eq.tif",
    "punct/percent%2Fslash.tif",
    "long/" + "x" * 196 + ".tif",
    "emoji/🌍 map.tif",
]


def test_hostile_names_round_trip(case: Case) -> None:
    assert len(set(HOSTILE)) == len(HOSTILE)  # NFC and NFD spellings are distinct blobs
    for i, name in enumerate(HOSTILE):
        info = case.store.upload_bytes(case.container, name, f"content {i}".encode())
        assert info.path == name
    listed = [b.path for b in case.store.list_blobs(case.container)]
    assert sorted(listed) == sorted(HOSTILE)
    for i, name in enumerate(HOSTILE):
        stat = case.store.stat(case.container, name)
        assert stat is not None and stat.path == name
        assert _read(case, name) == f"content {i}".encode()


def test_href_points_readers_at_the_blob_without_credentials(
    case: Case, request: pytest.FixtureRequest
) -> None:
    name = "punct/a b#c?d%e/é.tif"
    case.store.upload_bytes(case.container, name, b"payload")
    href = case.store.href(case.container, name)
    if case.backend == "local":
        assert Path(href).is_absolute() and Path(href).read_bytes() == b"payload"
        return
    conn = request.getfixturevalue("azurite_connection_string")
    assert "AccountKey" not in href and "sig=" not in href and "?" not in href and "#" not in href
    assert unquote(urlsplit(href).path).endswith(f"/{case.container}/{name}")
    # A reader holding its own credential can fetch exactly this blob from the href.
    key = dict(p.split("=", 1) for p in conn.split(";") if p)["AccountKey"]
    client = BlobClient.from_blob_url(
        href, credential={"account_name": "devstoreaccount1", "account_key": key}
    )
    assert client.download_blob().readall() == b"payload"


def test_delete_and_delete_prefix(case: Case) -> None:
    for name in ["x/1.tif", "x/2.tif", "x/sub/3.tif", "xy.tif", "y/4.tif"]:
        case.store.upload_bytes(case.container, name, b".")
    assert case.store.delete(case.container, "y/4.tif") is True
    assert case.store.delete(case.container, "y/4.tif") is False
    assert case.store.exists(case.container, "y/4.tif") is False
    assert case.store.delete_prefix(case.container, "x/") == 3
    assert [b.path for b in case.store.list_blobs(case.container)] == ["xy.tif"]
    with pytest.raises(UnsafePathError):
        case.store.delete_prefix(case.container, "")


def test_move_publishes_under_the_new_name(case: Case) -> None:
    case.store.upload_bytes(case.container, "_tmp/abc123.tif", b"new version")
    case.store.upload_bytes(case.container, "silver/x.tif", b"old version")
    info = case.store.move(case.container, "_tmp/abc123.tif", "silver/x.tif")
    assert info.path == "silver/x.tif" and info.size == len(b"new version")
    assert not case.store.exists(case.container, "_tmp/abc123.tif")
    assert _read(case, "silver/x.tif") == b"new version"
    assert [b.path for b in case.store.list_blobs(case.container)] == ["silver/x.tif"]
    with pytest.raises(NotFoundError):
        case.store.move(case.container, "_tmp/missing.tif", "silver/y.tif")
    # Moving a blob onto itself keeps it.
    assert case.store.move(case.container, "silver/x.tif", "silver//x.tif").path == "silver/x.tif"
    assert _read(case, "silver/x.tif") == b"new version"


def test_read_head_is_a_ranged_read(case: Case) -> None:
    """The sensor recognises files by their first bytes without downloading them."""
    data = bytes(range(256)) * 64
    case.store.upload_bytes(case.container, "odd/name;with,chars.bin", data)
    assert case.store.read_head(case.container, "odd/name;with,chars.bin", 100) == data[:100]
    assert case.store.read_head(case.container, "odd/name;with,chars.bin", 1 << 20) == data
    with pytest.raises(NotFoundError):
        case.store.read_head(case.container, "no/such.tif", 10)


def test_read_range_reads_the_end_of_a_blob(case: Case) -> None:
    """The sensor lists a zip's members from its last bytes without downloading it."""
    data = bytes(range(256)) * 64
    case.store.upload_bytes(case.container, "z/archive.zip", data)
    size = len(data)
    assert case.store.read_range(case.container, "z/archive.zip", size - 300, 300) == data[-300:]
    assert case.store.read_range(case.container, "z/archive.zip", 1000, 10) == data[1000:1010]
    assert case.store.read_range(case.container, "z/archive.zip", 0, size + 99) == data
    with pytest.raises(NotFoundError):
        case.store.read_range(case.container, "no/such.zip", 0, 10)


def test_missing_blobs(case: Case, tmp_path: Path) -> None:
    assert case.store.stat(case.container, "no/such.tif") is None
    assert case.store.exists(case.container, "no/such.tif") is False
    with pytest.raises(NotFoundError):
        case.store.download_to(case.container, "no/such.tif", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(NotFoundError), case.store.local_copy(case.container, "no/such.tif"):
        pass


@pytest.mark.parametrize("bad", ["../escape.tif", "/etc/passwd", "a/../../b.tif", "", "a/\x00.tif"])
def test_paths_escaping_the_container_are_refused(case: Case, bad: str) -> None:
    with pytest.raises(UnsafePathError):
        case.store.upload_bytes(case.container, bad, b"x")
    with pytest.raises(UnsafePathError):
        case.store.stat(case.container, bad)


def test_invalid_container_names_are_refused(case: Case) -> None:
    for bad in ["UPPER", "a", "../etc", "has_underscore", "a--b"]:
        with pytest.raises(ConfigError):
            case.store.upload_bytes(bad, "x.tif", b"x")


def test_ensure_container_is_idempotent(case: Case) -> None:
    case.store.ensure_container(case.container)
    case.store.ensure_container(case.container)
    assert list(case.store.list_blobs(case.container)) == []


def test_describe_has_no_secrets(case: Case) -> None:
    described = case.store.describe()
    assert described["backend"] == case.backend and described["location"]
    assert "AccountKey" not in str(described) and "Eby8vdM02x" not in str(described)


def test_local_copies_keep_shapefile_parts_together(
    case: Case, testdata: Path, tmp_path: Path
) -> None:
    """A loose shapefile stored as separate blobs opens from the sidecar-aware copy."""
    archive = testdata / "vectors" / "shp_zip_with_prj" / "naturalearth_lowres.zip"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path / "shp")
    parts = sorted(p for p in (tmp_path / "shp").rglob("*") if p.is_file())
    paths = [f"loose/world map/{p.name}" for p in parts]
    for part, path in zip(parts, paths, strict=True):
        case.store.upload_file(case.container, path, part)
    main = next(p for p in paths if p.endswith(".shp"))
    expected = pyogrio.read_info(next(p for p in parts if p.suffix == ".shp"))["features"]
    with case.store.local_copies(case.container, paths) as files:
        assert set(files) == set(paths)
        assert len({f.parent for f in files.values()}) == 1
        info = pyogrio.read_info(files[main])
        assert info["features"] == expected > 0 and info["crs"]


# --- backend-specific behaviour ----------------------------------------------------------------
def test_local_refuses_symlinks_leading_outside(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    store = LocalBlobStore(root=str(tmp_path / "root"))
    store.ensure_container("bronze")
    store.upload_bytes("bronze", "ok.txt", b"ok")
    (tmp_path / "root" / "bronze" / "link.txt").symlink_to(outside)
    (tmp_path / "root" / "bronze" / "dirlink").symlink_to(tmp_path)
    assert [b.path for b in store.list_blobs("bronze")] == ["ok.txt"]
    for bad in ["link.txt", "dirlink/secret.txt"]:
        with pytest.raises(UnsafePathError):
            store.stat("bronze", bad)
        with pytest.raises(UnsafePathError), store.local_copy("bronze", bad):
            pass


def test_local_skips_in_progress_uploads_and_hands_out_the_file(tmp_path: Path) -> None:
    store = LocalBlobStore(root=str(tmp_path))
    store.ensure_container("bronze")
    tmp_dir = tmp_path / "bronze" / ".geo-platform-tmp"
    tmp_dir.mkdir()
    (tmp_dir / "half-written").write_bytes(b"partial")
    store.upload_bytes("bronze", "done.tif", b"complete")
    assert [b.path for b in store.list_blobs("bronze")] == ["done.tif"]
    assert sorted(os.listdir(tmp_dir)) == ["half-written"]  # our own temp file is gone
    with pytest.raises(UnsafePathError):
        store.upload_bytes("bronze", ".geo-platform-tmp/x", b"x")
    with store.local_copy("bronze", "done.tif") as local:
        assert local == tmp_path.resolve() / "bronze" / "done.tif"  # no copy


@pytest.mark.azurite
def test_azure_content_type_is_set(azurite_connection_string: str) -> None:
    store = AzureBlobStore(connection_string=azurite_connection_string)
    container = f"t-{uuid.uuid4().hex[:20]}"
    store.ensure_container(container)
    try:
        store.upload_bytes(container, "item.json", b"{}")
        store.upload_bytes(container, "thumb", b"\x89PNG", content_type="image/png")
        service = BlobServiceClient.from_connection_string(azurite_connection_string)
        blob = service.get_blob_client(container, "item.json")
        assert blob.get_blob_properties().content_settings.content_type == "application/json"
        blob = service.get_blob_client(container, "thumb")
        assert blob.get_blob_properties().content_settings.content_type == "image/png"
    finally:
        BlobServiceClient.from_connection_string(azurite_connection_string).delete_container(
            container
        )


def test_azure_unreachable_is_a_transient_error() -> None:
    conn = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;"
    )
    store = AzureBlobStore(connection_string=conn, retries=0)
    with pytest.raises(StorageUnavailableError) as err:
        store.stat("bronze", "x.tif")
    assert err.value.retryable
    with pytest.raises(StorageUnavailableError):
        list(store.list_blobs("bronze"))


@pytest.mark.azurite
def test_factory_follows_settings(
    tmp_settings: Callable[..., Settings], azurite_connection_string: str, tmp_path: Path
) -> None:
    local = blob_store_from_settings(tmp_settings())
    assert isinstance(local, LocalBlobStore) and local.root == str(tmp_path / "blobs")
    azure = blob_store_from_settings(tmp_settings(blob_backend="azure"))
    assert isinstance(azure, AzureBlobStore)
    assert azure.describe()["location"].startswith("http://127.0.0.1:")
    with pytest.raises(ConfigError):
        blob_store_from_settings(tmp_settings(blob_backend="s3"))


def test_factory_prefers_account_url_with_default_credential(settings: Settings) -> None:
    store = blob_store_from_settings(
        dataclasses.replace(
            settings,
            blob_backend="azure",
            azure_connection_string="",
            azure_account_url="https://acct.blob.core.windows.net",
        )
    )
    assert isinstance(store, AzureBlobStore)
    assert (
        store.href("silver", "a b/c.tif") == "https://acct.blob.core.windows.net/silver/a%20b/c.tif"
    )
