"""Publishing one raster collection (a bronze folder prefix) incrementally.

Steps: list the members under the prefix, compare with the silver ``manifest.json`` (etag per
member), build COGs (analysis tier, optionally reprojected to the collection's ``target_crs``)
for new or changed members in a process pool, upload them with their STAC items, update the
MosaicJSON quadkey by quadkey (or build it when there is none), write the mosaic and manifest
last, then publish the items in pgstac and give the collection its ``mosaic`` asset and pgstac
mosaic search. Members removed from bronze lose their silver files, their items and their place
in the mosaic.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from geo_platform.lib.errors import GeoPlatformError
from geo_platform.lib.raster.cog import CogBuildResult, build_cog_tiers
from geo_platform.lib.raster.collection import (
    MANIFEST_NAME,
    MARKER_NAME,
    MEMBER_FOLDER,
    MOSAIC_NAME,
    CollectionManifest,
    collection_id_for,
    collection_silver_prefix,
    marker_options,
    member_item_id,
    members,
    options_key,
)
from geo_platform.lib.raster.mosaic import (
    MosaicSource,
    build_mosaic,
    sources_from_items,
    update_mosaic,
)
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.stac.collection import with_collection_link
from geo_platform.lib.stac.raster_item import build_raster_item
from geo_platform.lib.types import BlobInfo, Provenance
from geo_platform.store import pgstac
from geo_platform.store.blobs.base import BlobStore
from geo_platform.store.catalog import publish_sources
from geo_platform.store.mosaic_search import attach_mosaic
from geo_platform.store.silver import STAC_FOLDER
from geo_platform.store.tiler_access import with_tiler_access

Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]
"""Opens a pgstac connection for writes (``PgSTACResource.connect``)."""


@dataclass(frozen=True)
class CollectionSettings:
    """The platform configuration a collection publication needs (``PlatformResource``)."""

    bronze_container: str = "bronze"
    silver_container: str = "silver"
    code_version: str = "0.1.0"


@dataclass(frozen=True)
class CollectionPublished:
    """What one run did to a collection: member counts, members that failed (blob -> error),
    the mosaic (href, ``full`` or ``incremental``, quadkeys, pgstac search hash) and the
    collection's target CRS, if any."""

    collection: str
    members: int
    built: int
    unchanged: int
    removed: int
    failed: dict[str, str]
    mosaic_href: str
    mosaic_mode: str
    mosaic_quadkeys: int
    mosaic_search: str
    target_crs: str | None

    @property
    def metadata(self) -> dict[str, Any]:
        """Run metadata (JSON-able values; ``mosaic_href`` is an href)."""
        return asdict(self)


def collection_options(
    store: BlobStore, container: str, prefix: str, overrides: dict[str, Any]
) -> dict[str, Any]:
    """Options of a collection: its marker's JSON, then run config ``overrides`` (non-None)."""
    opts: dict[str, Any] = {}
    marker = f"{prefix}{MARKER_NAME}"
    if store.exists(container, marker):
        with store.local_copy(container, marker) as local:
            opts.update(marker_options(local.read_text(), marker))
    opts.update({k: v for k, v in overrides.items() if v is not None})
    return opts


def _raster_options(opts: dict[str, Any]) -> RasterOptions:
    keep: dict[str, Any] = {
        k: opts[k] for k in ("target_crs", "resampling", "web_optimized") if k in opts
    }
    return RasterOptions.from_mapping({"tiers": ("analysis",), **keep})


def _build_one(src: str, out_dir: str, options: RasterOptions, name: str) -> CogBuildResult:
    """Worker: one member -> analysis COG (+ thumbnail), validated."""
    return build_cog_tiers(Path(src), Path(out_dir), options, name=name)


def build_members(
    locals_: dict[str, Path], work: Path, options: RasterOptions, workers: int
) -> tuple[dict[str, CogBuildResult], dict[str, str]]:
    """Build every member (blob -> local file) in a process pool; (results, errors by blob)."""
    results: dict[str, CogBuildResult] = {}
    errors: dict[str, str] = {}
    jobs = {blob: str(work / f"m{i:06d}") for i, blob in enumerate(sorted(locals_))}
    if workers <= 1 or len(jobs) <= 1:
        for blob, out in jobs.items():
            try:
                results[blob] = _build_one(str(locals_[blob]), out, options, blob)
            except GeoPlatformError as exc:
                errors[blob] = exc.message
        return results, errors
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {
            blob: pool.submit(_build_one, str(locals_[blob]), out, options, blob)
            for blob, out in jobs.items()
        }
        for blob, future in futures.items():
            try:
                results[blob] = future.result()
            except GeoPlatformError as exc:
                errors[blob] = exc.message
    return results, errors


@dataclass
class _Run:
    """One run over a collection: where it lives, its manifest and what changed."""

    prefix: str
    root: str
    cid: str
    manifest: CollectionManifest
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def publish_collection(
    store: BlobStore,
    connect: Connect,
    settings: CollectionSettings,
    prefix: str,
    *,
    run_id: str,
    overrides: dict[str, Any] | None = None,
    full_rebuild: bool = False,
    workers: int | None = None,
) -> CollectionPublished:
    """Bring the collection at ``prefix`` up to date: build new or changed members, drop removed
    ones, update the mosaic and manifest in silver, then publish the items and the collection's
    mosaic in pgstac (one transaction on a connection from ``connect``)."""
    bronze, silver = settings.bronze_container, settings.silver_container
    opts = collection_options(store, bronze, prefix, overrides or {})
    listing = members(store.list_blobs(bronze, prefix=prefix), prefix)
    if not listing:
        raise GeoPlatformError("the collection has no raster files", path=prefix)
    root = collection_silver_prefix(prefix)
    old = _read_json(store, silver, f"{root}/{MANIFEST_NAME}")
    manifest = CollectionManifest.from_json(
        None if full_rebuild or old is None else json.dumps(old), prefix, options_key(opts)
    )
    run = _Run(prefix, root, collection_id_for(prefix), manifest)
    todo, removed = manifest.plan(listing)
    with tempfile.TemporaryDirectory(prefix="collection-") as tmp:
        workers = workers or len(os.sched_getaffinity(0))
        _build_and_upload(
            store, settings, run, todo, _raster_options(opts), run_id, Path(tmp), workers
        )
    _remove_members(store, silver, run, removed)
    if not manifest.members:
        raise GeoPlatformError(f"no member could be published: {run.errors}", path=prefix)
    mosaic, mode = _mosaic(store, silver, root, manifest, run.items, removed, old is None)
    store.upload_bytes(
        silver, f"{root}/{MOSAIC_NAME}", json.dumps(mosaic).encode(), "application/json"
    )
    store.upload_bytes(
        silver, f"{root}/{MANIFEST_NAME}", manifest.to_json().encode(), "application/json"
    )
    mosaic_href = store.href(silver, f"{root}/{MOSAIC_NAME}")
    search_id = _publish_catalog(connect, run, removed, mosaic_href)
    return CollectionPublished(
        collection=run.cid,
        members=len(manifest.members),
        built=len(run.items),
        unchanged=len(listing) - len(todo),
        removed=len(removed),
        failed=run.errors,
        mosaic_href=mosaic_href,
        mosaic_mode=mode,
        mosaic_quadkeys=len(mosaic["tiles"]),
        mosaic_search=search_id,
        target_crs=opts.get("target_crs") or ("EPSG:3857" if opts.get("web_optimized") else None),
    )


def _build_and_upload(
    store: BlobStore,
    settings: CollectionSettings,
    run: _Run,
    todo: list[BlobInfo],
    options: RasterOptions,
    run_id: str,
    work: Path,
    workers: int,
) -> None:
    """Build the ``todo`` members, upload each built one with its item, record it in the
    manifest; members that fail are recorded in ``run.errors``."""
    if not todo:
        return
    with store.local_copies(settings.bronze_container, [b.path for b in todo]) as locals_:
        results, run.errors = build_members(locals_, work, options, workers)
    for blob in todo:
        if blob.path in results:
            item = _upload_member(store, settings, run, blob, results[blob.path], run_id)
            run.items[blob.path] = item
            run.manifest.members[blob.path] = _entry(blob, item)


def _remove_members(store: BlobStore, silver: str, run: _Run, removed: list[str]) -> None:
    """Delete the silver files of members gone from bronze and drop them from the manifest."""
    for path in removed:
        entry = run.manifest.members.pop(path)
        store.delete_prefix(silver, f"{run.root}/{MEMBER_FOLDER}/{entry['item_id']}/")
        store.delete(silver, f"{run.root}/{STAC_FOLDER}/{entry['item_id']}.json")


def _publish_catalog(connect: Connect, run: _Run, removed: list[str], mosaic_href: str) -> str:
    """Publish the new items, unpublish the removed members' items and attach the mosaic to
    the collection, in one transaction; return the mosaic's pgstac search hash."""
    by_source: dict[str, list[dict[str, Any]]] = {b: [i] for b, i in run.items.items()}
    by_source.update({path: [] for path in removed})
    with connect() as conn:
        pgstac.prepare(conn)
        if by_source:
            publish_sources(conn, by_source, "raster")
        search_id = attach_mosaic(conn, run.cid, mosaic_href)
        conn.commit()
    return search_id


def _read_json(store: BlobStore, container: str, path: str) -> Any:
    if not store.exists(container, path):
        return None
    with store.local_copy(container, path) as local:
        return json.loads(local.read_text())


def _upload_member(
    store: BlobStore,
    settings: CollectionSettings,
    run: _Run,
    blob: BlobInfo,
    result: CogBuildResult,
    run_id: str,
) -> dict[str, Any]:
    """Upload a member's COG and thumbnail, then its STAC item; return the item."""
    silver = settings.silver_container
    item_id = member_item_id(run.prefix, blob.path)
    folder = f"{run.root}/{MEMBER_FOLDER}/{item_id}"
    hrefs: dict[str, str] = {}
    analysis = result.tiers["analysis"].path
    assert analysis is not None
    store.upload_file(silver, f"{folder}/analysis.tif", analysis)
    hrefs["analysis"] = store.href(silver, f"{folder}/analysis.tif")
    if result.thumbnail is not None:
        store.upload_file(silver, f"{folder}/thumbnail.png", result.thumbnail)
        hrefs["thumbnail"] = store.href(silver, f"{folder}/thumbnail.png")
    provenance = Provenance(
        source_blob=blob.path,
        source_etag=blob.etag,
        source_href=store.href(settings.bronze_container, blob.path),
        run_id=run_id,
        code_version=settings.code_version,
        extra={"collection_prefix": run.prefix},
    )
    item = with_collection_link(
        build_raster_item(
            result,
            item_id=item_id,
            collection_id=run.cid,
            hrefs=hrefs,
            provenance=provenance,
            source_size=blob.size,
            source_last_modified=blob.last_modified,
        ).to_dict(include_self_link=False)
    )
    (item,) = with_tiler_access(store, silver, [item])  # Azure: the /vsiaz/ alternates
    store.upload_bytes(
        silver,
        f"{run.root}/{STAC_FOLDER}/{item_id}.json",
        json.dumps(item).encode(),
        "application/json",
    )
    return item


def _entry(blob: BlobInfo, item: dict[str, Any]) -> dict[str, Any]:
    (source,) = sources_from_items([item])
    return {"etag": blob.etag, "item_id": item["id"], **asdict(source)}


def _mosaic(
    store: BlobStore,
    container: str,
    root: str,
    manifest: CollectionManifest,
    items: dict[str, dict[str, Any]],
    removed: list[str],
    fresh: bool,
) -> tuple[dict[str, Any], str]:
    """Update the stored mosaic with the new members (incremental), or build it from the
    manifest when there is none (first run, or rebuild)."""
    current = None if fresh else _read_json(store, container, f"{root}/{MOSAIC_NAME}")
    if current is not None:
        added = [_source(manifest.members[b]) for b in items]
        gone = [str(e["href"]) for e in _removed_entries(current, manifest, removed)]
        return update_mosaic(current, added, removed=gone), "incremental"
    sources = [_source(e) for e in manifest.members.values()]
    return build_mosaic(sources, name=root), "full"


def _removed_entries(
    current: dict[str, Any], manifest: CollectionManifest, removed: list[str]
) -> list[dict[str, Any]]:
    """Hrefs in the mosaic no member of the manifest has any more."""
    live = {e["href"] for e in manifest.members.values()}
    listed = {a for assets in current.get("tiles", {}).values() for a in assets}
    return [{"href": h} for h in sorted(listed - live)] if removed else []


def _source(entry: dict[str, Any]) -> MosaicSource:
    return MosaicSource(
        entry["href"], tuple(entry["bounds"]), int(entry["minzoom"]), int(entry["maxzoom"])
    )
