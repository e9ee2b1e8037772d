"""Bronze assets: each bronze file, inventoried, and a summary of the whole container.

``bronze_raster`` and ``bronze_vector`` are the first stage of a file's way to the catalog
(``geo_platform.defs.stages``; the per-kind multi-assets are assembled in ``defs.pipeline``).
"""

from collections import Counter, defaultdict
from typing import Any

import dagster as dg

from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.defs.stages import Stage, StageContext, per_file
from geo_platform.lib.bronze import classify, extension
from geo_platform.lib.errors import NotFoundError
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.naming import partition_key_for_blob
from geo_platform.lib.types import DataKind
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PlatformResource
from geo_platform.store.bronze import bronze_local_copy

BRONZE_GROUP = "bronze"


def _inventory_metadata(
    store: BlobStore, platform: PlatformResource, kind: DataKind, blob: str
) -> dict[str, Any]:
    info = store.stat(platform.bronze_container, blob)
    if info is None:
        raise NotFoundError("the bronze blob no longer exists", path=blob)
    with bronze_local_copy(store, platform.bronze_container, blob) as local:
        inv = inventory_file(local, blob, kind)
    meta: dict[str, Any] = {
        "blob": blob,
        "href": dg.MetadataValue.path(store.href(platform.bronze_container, blob)),
        "etag": info.etag,
        "format": inv.format,
        "driver": inv.driver,
        "size_bytes": inv.size,
        "sha256": inv.sha256,
        "crs": inv.crs or "none",
    }
    if inv.bbox:
        meta["bbox"] = dg.MetadataValue.json(list(inv.bbox))
    if kind == "raster":
        meta.update(width=inv.width, height=inv.height, bands=inv.bands, dtypes=inv.dtypes)
    else:
        meta["features"] = inv.features or 0
        meta["layers"] = dg.MetadataValue.json(inv.layers)
    return meta


def _bronze_stage(kind: DataKind) -> Stage:
    def inventory(ctx: StageContext, _key: str, blob: str) -> dict[str, Any]:
        res = ctx.resources
        return _inventory_metadata(res.blob_store, res.platform, kind, blob)

    spec = dg.AssetSpec(
        f"bronze_{kind}",
        group_name=BRONZE_GROUP,
        kinds={kind, "blob"},
        description=(
            f"A raw {kind} file as delivered to the bronze container, one partition per file. "
            "Materializing it inventories the file: format sniffed from its content, size, "
            "sha256, CRS, bbox and bands or layers. A file that cannot be read fails here."
        ),
    )
    return Stage(spec, per_file(inventory), resources=frozenset({"blob_store", "platform"}))


bronze_raster = _bronze_stage("raster")
bronze_vector = _bronze_stage("vector")


@dg.asset(
    group_name=BRONZE_GROUP,
    kinds={"blob"},
    deps=["bronze_raster", "bronze_vector"],
    description=(
        "Summary of the bronze container: file counts and bytes by kind and format, files the "
        "platform cannot publish (and why), and bronze partitions whose last run failed."
    ),
)
def bronze_inventory(
    context: dg.AssetExecutionContext,
    blob_store: dg.ResourceParam[BlobStore],
    platform: PlatformResource,
) -> dg.MaterializeResult:
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    by_format: dict[str, dict[str, int]] = defaultdict(lambda: {"files": 0, "bytes": 0})
    unsupported: dict[str, str] = {}
    # A file's partition says its kind where its name does not (a raster zip, a file
    # recognised by its content); other blobs are judged by name.
    partitioned = {
        key: kind
        for kind, parts in PARTITIONS.items()
        for key in context.instance.get_dynamic_partitions(parts.name)
    }
    for blob in blob_store.list_blobs(platform.bronze_container):
        cls = classify(blob.path, blob.size)
        # content decided, if any; a .map not taken for a PCRaster raster stays a sidecar
        by_name = "unsupported" if cls.needs_content and cls.kind != "sidecar" else cls.kind
        kind = partitioned.get(partition_key_for_blob(blob.path), by_name)
        counts[kind] += 1
        sizes[kind] += blob.size
        fmt = f"{kind}:{extension(blob.path) or '(none)'}"
        by_format[fmt]["files"] += 1
        by_format[fmt]["bytes"] += blob.size
        if kind == "unsupported" and len(unsupported) < 500:
            unsupported[blob.path] = cls.reason
    failed = _failed_partitions(context)
    return dg.MaterializeResult(
        metadata={
            "files_total": sum(counts.values()),
            "bytes_total": sum(sizes.values()),
            **{f"files_{k}": v for k, v in sorted(counts.items())},
            **{f"bytes_{k}": v for k, v in sorted(sizes.items())},
            "by_format": dg.MetadataValue.json(dict(sorted(by_format.items()))),
            "unsupported": dg.MetadataValue.json(unsupported),
            "failed_partitions": dg.MetadataValue.json(failed),
            "failed_count": sum(len(v) for v in failed.values()),
        }
    )


def _failed_partitions(context: dg.AssetExecutionContext) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    instance = context.instance
    for kind, parts in PARTITIONS.items():
        keys = instance.get_dynamic_partitions(parts.name)
        if not keys:
            continue
        status = instance.get_status_by_partition(dg.AssetKey(f"bronze_{kind}"), keys, parts)
        failed = [k for k, s in (status or {}).items() if s is not None and s.value == "FAILED"]
        if failed:
            out[kind] = failed[:500]
    return out
