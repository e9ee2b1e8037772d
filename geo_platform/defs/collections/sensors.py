"""The collection sensor: a changed file under a collection prefix re-runs that collection.

Collections are the prefixes of ``PlatformResource.raster_collections``
(GEO_PLATFORM_RASTER_COLLECTIONS, the same value the bronze sensor reads) plus every folder
holding a ``_collection.json`` marker. The cursor keeps, per collection, a digest of its members'
(path, etag) list: any new, changed or removed member changes the digest and requests one run
of the collection partition (the run itself only processes what changed). Run keys carry the
digest, so a re-delivered listing is a no-op.
"""

import json

import dagster as dg

from geo_platform.defs.collections.jobs import raster_collection_job
from geo_platform.defs.collections.partitions import PARTITIONS_NAME, raster_collection_partitions
from geo_platform.lib.raster.collection import (
    listing_digest,
    marker_prefixes,
    members,
    parse_prefixes,
    partition_key,
)
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PlatformResource


def plan_collections(
    listing: list, configured: str, cursor: dict[str, str]
) -> tuple[dict[str, str], list[str]]:
    """(new cursor {prefix: digest}, prefixes whose members changed)."""
    prefixes = sorted(
        set(parse_prefixes(configured)) | set(marker_prefixes(b.path for b in listing))
    )
    state: dict[str, str] = {}
    changed = []
    for prefix in prefixes:
        found = members(listing, prefix)
        if not found:
            continue
        state[prefix] = listing_digest(found)
        if cursor.get(prefix) != state[prefix]:
            changed.append(prefix)
    return state, changed


@dg.sensor(
    job=raster_collection_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Adds raster collection partitions and runs a collection when its files change.",
)
def raster_collection_sensor(
    context: dg.SensorEvaluationContext,
    blob_store: dg.ResourceParam[BlobStore],
    platform: PlatformResource,
) -> dg.SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {}
    listing = list(blob_store.list_blobs(platform.bronze_container))
    state, changed = plan_collections(listing, platform.raster_collections, cursor)
    known = set(context.instance.get_dynamic_partitions(PARTITIONS_NAME))
    keys = [partition_key(p) for p in changed]
    new = [k for k in keys if k not in known]
    runs = [
        dg.RunRequest(partition_key=k, run_key=f"{k}:{state[p]}")
        for k, p in zip(keys, changed, strict=True)
    ]
    adds = [raster_collection_partitions.build_add_request(new)] if new else []
    return dg.SensorResult(
        run_requests=runs, dynamic_partitions_requests=adds, cursor=json.dumps(state)
    )
