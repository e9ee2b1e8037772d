"""Which silver GeoParquet files are published, under which view names, and where DuckDB reads them.

Published datasets are the ``.parquet`` files the vector stage keeps in the silver container
(``<silver_prefix>/<table>.parquet``, one per PostGIS table) and the H3 aggregates beside them
(``<silver_prefix>/h3/<table>_res<R>.parquet``, view ``<table>_h3_res<R>``). Unpublishing a file
deletes them, so the listing is the truth. DuckDB reads local files: the local blob store hands
out its own paths, Azure blobs are downloaded into a cache folder (re-downloaded only when their
etag changes; files no longer published are removed from the cache).

``geo-platform query`` reads them through ``query_sources`` instead: on Azure every view is an
``az://<container>/<path>`` URL that DuckDB's azure extension reads in place (only the row
groups and columns a query needs), with the blob store's own credentials; nothing is downloaded
first. The catalog file keeps the cached copies, so that it opens without credentials.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from geo_platform.lib.naming import short_hash
from geo_platform.lib.types import BlobInfo
from geo_platform.store.analytics import H3_FOLDER
from geo_platform.store.blobs.azure import AzureBlobStore
from geo_platform.store.blobs.base import BlobStore
from geo_platform.store.blobs.local import LocalBlobStore
from geo_platform.store.duckdb_ext import AzureAccess
from geo_platform.store.secret_config import resolve_connection_string
from geo_platform.store.silver import STAGING_ROOT

_H3_NAME = re.compile(r"^(?P<table>.+)_res(?P<res>\d{1,2})$")


def view_name(blob_path: str) -> str | None:
    """The view a silver blob is registered under, or None if it is not a published dataset."""
    if not blob_path.endswith(".parquet") or blob_path.startswith(STAGING_ROOT + "/"):
        return None
    folder, file = posixpath.split(blob_path)
    stem = file[: -len(".parquet")]
    if posixpath.basename(folder) == H3_FOLDER:
        m = _H3_NAME.match(stem)
        return f"{m['table']}_h3_res{m['res']}" if m else None
    return stem


def published_blobs(store: BlobStore, container: str) -> dict[str, BlobInfo]:
    """{view name: blob} for every published GeoParquet file (names made unique if needed)."""
    out: dict[str, BlobInfo] = {}
    for info in store.list_blobs(container):
        name = view_name(info.path)
        if name is None:
            continue
        if name in out:  # table names are unique by construction; never shadow silently
            name = f"{name}_{short_hash(info.path)}"
        out[name] = info
    return out


def cache_dir(analytics_dir: Path) -> Path:
    """Where Azure blobs are downloaded for DuckDB (``Settings.analytics_dir``/cache)."""
    return analytics_dir / "cache"


def catalog_path(analytics_dir: Path) -> Path:
    """The DuckDB catalog file (``Settings.analytics_dir``/catalog.duckdb)."""
    return analytics_dir / "catalog.duckdb"


def local_paths(
    store: BlobStore, container: str, blobs: dict[str, BlobInfo], cache: Path
) -> dict[str, Path]:
    """{view name: local file} for DuckDB (local store: in place; otherwise a cached copy)."""
    if isinstance(store, LocalBlobStore):
        return {name: store.file_path(container, b.path) for name, b in blobs.items()}
    root = cache / container
    out: dict[str, Path] = {}
    for name, b in blobs.items():
        dest = root / b.path
        tag = dest.with_name(dest.name + ".etag")
        if not (dest.is_file() and tag.is_file() and tag.read_text() == b.etag):
            store.download_to(container, b.path, dest)
            tag.write_text(b.etag)
        out[name] = dest
    _prune(root, {p.resolve() for p in out.values()})
    return out


def _prune(root: Path, keep: set[Path]) -> None:
    if not root.is_dir():
        return
    for f in root.rglob("*.parquet"):
        if f.resolve() not in keep:
            f.unlink(missing_ok=True)
            f.with_name(f.name + ".etag").unlink(missing_ok=True)


def published_views(store: BlobStore, container: str, analytics_dir: Path) -> dict[str, Path]:
    """Every published dataset as {view name: local Parquet path} (downloads cached under
    ``analytics_dir``)."""
    blobs = published_blobs(store, container)
    return local_paths(store, container, blobs, cache_dir(analytics_dir))


@dataclass(frozen=True)
class QuerySources:
    """What ``geo-platform query`` reads: {view name: local path or ``az://`` URL}, and the
    credentials for the ``az://`` ones (None when every view is a local file)."""

    views: dict[str, str]
    azure: AzureAccess | None = None


def az_url(container: str, blob_path: str) -> str:
    """The ``az://`` URL DuckDB's azure extension reads a blob by."""
    return f"az://{container}/{blob_path}"


def query_sources(store: BlobStore, container: str, analytics_dir: Path) -> QuerySources:
    """Every published dataset for an ad-hoc query: local files in place, Azure blobs as
    ``az://`` URLs read directly (no download), other stores through the download cache."""
    blobs = published_blobs(store, container)
    if isinstance(store, AzureBlobStore):
        access = AzureAccess(
            connection_string=resolve_connection_string(store.connection_string),
            account_url=store.account_url,
        )
        return QuerySources({n: az_url(container, b.path) for n, b in blobs.items()}, access)
    paths = local_paths(store, container, blobs, cache_dir(analytics_dir))
    return QuerySources({n: str(p) for n, p in paths.items()})
