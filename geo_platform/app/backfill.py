"""`geo-platform backfill`: a real Dagster *asset* backfill, launched through the GraphQL API.

`dagster job backfill` queues one run per partition and ignores backfill policies; an asset
backfill (what the UI launches) honours them, so 500 files become about 20 runs of 25. Dagster has
no CLI for asset backfills, so this launches one with the ``launchPartitionBackfill`` mutation on
the running webserver (`make dev`), then follows its progress until it is done.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from geo_platform.lib.errors import ConfigError
from geo_platform.lib.naming import blob_for_partition_key, partition_key_for_blob
from geo_platform.resources.blob_store import BlobStore
from geo_platform.settings import Settings

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
    ... on ConflictingExecutionParamsError { message }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey invalidOutputName }
    ... on RunConflict { message }
  }
}
"""

STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      numPartitions
      assetBackfillData {
        assetBackfillStatuses {
          ... on AssetPartitionsStatusCounts {
            assetKey { path }
            numPartitionsTargeted
            numPartitionsInProgress
            numPartitionsMaterialized
            numPartitionsFailed
          }
        }
      }
    }
    ... on PythonError { message }
    ... on BackfillNotFoundError { message }
  }
}
"""

DONE_STATUSES = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


@dataclass
class BackfillProgress:
    status: str
    targeted: int = 0
    materialized: int = 0
    failed: int = 0
    in_progress: int = 0
    per_asset: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.status in DONE_STATUSES


def graphql(url: str, query: str, variables: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload: dict[str, Any] = json.loads(response.read())
    except urllib.error.URLError as exc:
        raise ConfigError(
            f"cannot reach the Dagster webserver at {url} ({exc.reason}); start it with `make dev`"
        ) from exc
    if payload.get("errors"):
        raise ConfigError(f"GraphQL error: {payload['errors'][0].get('message')}")
    return payload["data"]


def graphql_url(settings: Settings) -> str:
    """The GraphQL endpoint of the local Dagster webserver (`make dev`)."""
    return f"http://127.0.0.1:{settings.dagster_ui_port}/graphql"


def asset_keys(select: str) -> list[dg.AssetKey]:
    """``"raster_cog, raster_stac_item"`` -> asset keys (empty names are ignored)."""
    return [dg.AssetKey.from_user_string(s.strip()) for s in select.split(",") if s.strip()]


def file_partitions(keys: list[dg.AssetKey]) -> dg.DynamicPartitionsDefinition | None:
    """The one per-file partitions definition these assets share, or None when they do not
    share one (a backfill targets files of one kind)."""
    from geo_platform.definitions import defs

    graph = defs.resolve_asset_graph()
    parts_defs = {graph.get(k).partitions_def for k in keys}
    only = next(iter(parts_defs)) if len(parts_defs) == 1 else None
    return only if isinstance(only, dg.DynamicPartitionsDefinition) else None


def _unknown(
    instance: dg.DagsterInstance, partitions_def: dg.DynamicPartitionsDefinition, keys: list[str]
) -> str:
    """Why ``keys`` are no partitions of ``partitions_def``: files of the other kind (a raster
    given to a vector asset), or not in bronze at all."""
    from geo_platform.defs.bronze.partitions import PARTITIONS

    elsewhere = {kind: set(instance.get_dynamic_partitions(p.name))
                 for kind, p in PARTITIONS.items() if p.name != partitions_def.name}  # fmt: skip
    lines = []
    for key in keys[:10]:
        kind = next((k for k, names in elsewhere.items() if key in names), None)
        lines.append(f"{blob_for_partition_key(key)} is a {kind} file: select the {kind} assets"
                     if kind else f"{blob_for_partition_key(key)} is not in bronze")  # fmt: skip
    return "unknown partitions: " + "; ".join(lines)


def select_partitions(
    instance: dg.DagsterInstance,
    partitions_def: dg.DynamicPartitionsDefinition,
    asset_keys: list[dg.AssetKey],
    *,
    partitions: Iterable[str] = (),
    prefix: str | None = None,
    all_partitions: bool = False,
    failed: bool = False,
) -> list[str]:
    """The partition keys a backfill should target, in partition order."""
    existing = instance.get_dynamic_partitions(partitions_def.name)
    chosen: set[str] = set()
    if all_partitions:
        chosen.update(existing)
    if prefix is not None:
        key_prefix = partition_key_for_blob(prefix)
        chosen.update(k for k in existing if k.startswith(key_prefix))
    wanted = [partition_key_for_blob(p) for p in partitions]
    unknown = [k for k in wanted if k not in set(existing)]
    if unknown:
        raise ConfigError(_unknown(instance, partitions_def, unknown))
    chosen.update(wanted)
    if failed:
        for key in asset_keys:
            status = instance.get_status_by_partition(key, existing, partitions_def) or {}
            chosen.update(k for k, s in status.items() if s.value == "FAILED")
    return [k for k in existing if k in chosen]


def split_removed(
    store: BlobStore, container: str, partitions: list[str]
) -> tuple[list[str], list[str]]:
    """(partitions whose bronze file exists, partitions whose file was removed from bronze).

    A removed file keeps its partition (the sensor reports the removal, derived data stays until
    unpublished), but a backfill of it could only fail with ``NotFoundError``: it is left out,
    and said. One listing of the folder the partitions share, not one request per file."""
    if not partitions:
        return [], []
    blobs = {k: blob_for_partition_key(k) for k in partitions}
    present = {b.path for b in store.list_blobs(container, _common_folder(blobs.values()))}
    kept = [k for k in partitions if blobs[k] in present]
    return kept, [k for k in partitions if blobs[k] not in present]


def skip_removed(settings: Settings, partitions: list[str]) -> tuple[list[str], list[str]]:
    """``split_removed`` on the configured bronze container."""
    from geo_platform.resources.blob_store import blob_store_from_settings

    return split_removed(blob_store_from_settings(settings), settings.bronze_container, partitions)


def _common_folder(paths: Iterable[str]) -> str:
    """The deepest folder (``a/b/``) holding every path, or ``""``."""
    folders = [p.rsplit("/", 1)[0].split("/") if "/" in p else [] for p in paths]
    common: list[str] = []
    for parts in zip(*folders, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "".join(f"{part}/" for part in common)


def launch(url: str, asset_keys: list[dg.AssetKey], partitions: list[str], title: str) -> str:
    params = {
        "assetSelection": [{"path": k.path} for k in asset_keys],
        "partitionNames": partitions,
        "title": title,
        "tags": [{"key": "geo_platform/launched_by", "value": "geo-platform backfill"}],
    }
    result = graphql(url, LAUNCH, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        detail = result.get("message") or json.dumps(result)
        raise ConfigError(f"backfill not launched ({result['__typename']}): {detail}")
    return str(result["backfillId"])


def progress(url: str, backfill_id: str) -> BackfillProgress:
    data = graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
    if data["__typename"] != "PartitionBackfill":
        raise ConfigError(f"backfill {backfill_id}: {data.get('message', data['__typename'])}")
    out = BackfillProgress(status=data["status"])
    statuses = (data.get("assetBackfillData") or {}).get("assetBackfillStatuses") or []
    for st in statuses:
        if "assetKey" not in st:
            continue
        name = "/".join(st["assetKey"]["path"])
        out.per_asset[name] = {
            "targeted": st["numPartitionsTargeted"],
            "materialized": st["numPartitionsMaterialized"],
            "failed": st["numPartitionsFailed"],
            "in_progress": st["numPartitionsInProgress"],
        }
    for counts in out.per_asset.values():
        out.targeted += counts["targeted"]
        out.materialized += counts["materialized"]
        out.failed += counts["failed"]
        out.in_progress += counts["in_progress"]
    return out


def follow(
    url: str,
    backfill_id: str,
    on_update: Callable[[BackfillProgress], None],
    poll_seconds: float = 2.0,
    timeout: float = 3600.0,
) -> BackfillProgress:
    """Poll until the backfill is done (or ``timeout``), reporting each state."""
    deadline = time.monotonic() + timeout
    while True:
        state = progress(url, backfill_id)
        on_update(state)
        if state.done or time.monotonic() > deadline:
            return state
        time.sleep(poll_seconds)
