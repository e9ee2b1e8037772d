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
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

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
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PgSTACResource, PlatformResource
from geo_platform.store.catalog import publish_sources
from geo_platform.store.mosaic_search import attach_mosaic
from geo_platform.store.silver import STAC_FOLDER


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


def publish_collection(
    store: BlobStore,
    pgstac: PgSTACResource,
    platform: PlatformResource,
    prefix: str,
    *,
    run_id: str,
    overrides: dict[str, Any] | None = None,
    full_rebuild: bool = False,
    workers: int | None = None,
) -> dict[str, Any]:
    """Bring the collection at ``prefix`` up to date; returns run metadata (JSON-able)."""
    import os

    bronze, silver = platform.bronze_container, platform.silver_container
    opts = collection_options(store, bronze, prefix, overrides or {})
    root = collection_silver_prefix(prefix)
    cid = collection_id_for(prefix)
    listing = members(store.list_blobs(bronze, prefix=prefix), prefix)
    if not listing:
        raise GeoPlatformError("the collection has no raster files", path=prefix)
    old = _read_json(store, silver, f"{root}/{MANIFEST_NAME}")
    manifest = CollectionManifest.from_json(
        None if full_rebuild or old is None else json.dumps(old), prefix, options_key(opts)
    )
    todo, removed = manifest.plan(listing)
    options = _raster_options(opts)
    workers = workers or len(os.sched_getaffinity(0))
    items: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="collection-") as tmp:
        if todo:
            with store.local_copies(bronze, [b.path for b in todo]) as locals_:
                results, errors = build_members(locals_, Path(tmp), options, workers)
            for blob in todo:
                if blob.path in results:
                    items[blob.path] = _upload_member(
                        store, platform, root, cid, prefix, blob, results[blob.path], run_id
                    )
                    manifest.members[blob.path] = _entry(blob, items[blob.path])
        for path in removed:
            entry = manifest.members.pop(path)
            store.delete_prefix(silver, f"{root}/{MEMBER_FOLDER}/{entry['item_id']}/")
            store.delete(silver, f"{root}/{STAC_FOLDER}/{entry['item_id']}.json")
        if not manifest.members:
            raise GeoPlatformError(f"no member could be published: {errors}", path=prefix)
        mosaic, mode = _mosaic(store, silver, root, manifest, items, removed, old is None)
        store.upload_bytes(
            silver, f"{root}/{MOSAIC_NAME}", json.dumps(mosaic).encode(), "application/json"
        )
        store.upload_bytes(
            silver, f"{root}/{MANIFEST_NAME}", manifest.to_json().encode(), "application/json"
        )
    mosaic_href = store.href(silver, f"{root}/{MOSAIC_NAME}")
    by_source: dict[str, list[dict[str, Any]]] = {b: [i] for b, i in items.items()}
    by_source.update({path: [] for path in removed})
    with pgstac.connect() as conn:
        if by_source:
            publish_sources(conn, by_source, "raster")
        search_id = attach_mosaic(conn, cid, mosaic_href)
        conn.commit()
    return {
        "collection": cid,
        "members": len(manifest.members),
        "built": len(items),
        "unchanged": len(listing) - len(todo),
        "removed": len(removed),
        "failed": errors,
        "mosaic_href": mosaic_href,
        "mosaic_mode": mode,
        "mosaic_quadkeys": len(mosaic["tiles"]),
        "mosaic_search": search_id,
        "target_crs": opts.get("target_crs")
        or ("EPSG:3857" if opts.get("web_optimized") else None),
    }


def _read_json(store: BlobStore, container: str, path: str) -> Any:
    if not store.exists(container, path):
        return None
    with store.local_copy(container, path) as local:
        return json.loads(local.read_text())


def _upload_member(
    store: BlobStore,
    platform: PlatformResource,
    root: str,
    cid: str,
    prefix: str,
    blob: BlobInfo,
    result: CogBuildResult,
    run_id: str,
) -> dict[str, Any]:
    """Upload a member's COG and thumbnail, then its STAC item; return the item."""
    silver = platform.silver_container
    item_id = member_item_id(prefix, blob.path)
    folder = f"{root}/{MEMBER_FOLDER}/{item_id}"
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
        source_href=store.href(platform.bronze_container, blob.path),
        run_id=run_id,
        code_version=platform.code_version,
        extra={"collection_prefix": prefix},
    )
    item = with_collection_link(
        build_raster_item(
            result,
            item_id=item_id,
            collection_id=cid,
            hrefs=hrefs,
            provenance=provenance,
            source_size=blob.size,
            source_last_modified=blob.last_modified,
        ).to_dict(include_self_link=False)
    )
    store.upload_bytes(
        silver,
        f"{root}/{STAC_FOLDER}/{item_id}.json",
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
