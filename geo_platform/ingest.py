"""`geo-platform ingest`: upload files into bronze and, with ``--wait``, publish them now.

With ``wait`` the files go through the same sensor planning (``requests_for_plan``) and the same
asset jobs as the bronze sensor would launch, executed in this process against the configured
Dagster instance, so their runs, materializations and failures show in the UI as usual.
Each pipeline stage runs only for the files that passed the stage before.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from geo_platform.lib.bronze import TickPlan, classify
from geo_platform.lib.naming import blob_for_partition_key, normalize_blob_path
from geo_platform.lib.types import BlobInfo, DataKind
from geo_platform.resources.blob_store import BlobStore

OUTPUT_KEYS = {"stac_items": "geo_platform/stac_items", "tables": "geo_platform/tables",
               "blobs": "geo_platform/blobs"}  # fmt: skip


# In-process runs log to the instance (and so the UI) as usual; the terminal gets the summary
# table, which names every failed file and its error.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass
class FileResult:
    file: str
    blob: str
    status: str = "uploaded"
    error: str | None = None
    stac_items: list[dict[str, str]] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def collect_files(paths: Iterable[Path], prefix: str = "") -> list[tuple[Path, str]]:
    """(local file, blob path) pairs: folders are walked, names kept relative to the folder."""
    out: list[tuple[Path, str]] = []
    pre = prefix.strip("/")
    for root in paths:
        if root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames.sort()
                for name in sorted(filenames):
                    f = Path(dirpath) / name
                    rel = f.relative_to(root).as_posix()
                    out.append((f, normalize_blob_path(f"{pre}/{rel}" if pre else rel)))
        elif root.is_file():
            out.append((root, normalize_blob_path(f"{pre}/{root.name}" if pre else root.name)))
        else:
            raise FileNotFoundError(f"{root}: no such file or folder")
    return out


def upload(
    store: BlobStore, container: str, files: list[tuple[Path, str]]
) -> Iterator[tuple[Path, BlobInfo]]:
    store.ensure_container(container)
    for local, blob in files:
        yield local, store.upload_file(container, blob, local)


def plan_for(blobs: list[BlobInfo]) -> TickPlan:
    """A tick plan in which every given supported blob is new (``ingest`` always publishes)."""
    plan = TickPlan()
    for blob in blobs:
        cls = classify(blob.path, blob.size)
        if cls.kind in ("raster", "vector"):
            plan.new[cls.kind].append(blob)
        elif cls.kind == "unsupported":
            plan.unsupported.append((blob, cls.reason))
    return plan


def execute_pipeline(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    stages: dict[DataKind, list[str]],
    keys_by_kind: dict[DataKind, list[str]],
    results: dict[str, FileResult],
) -> None:
    """Run each stage's job over the keys still alive, recording failures and outputs per file."""
    for kind, jobs in stages.items():
        alive = list(keys_by_kind.get(kind, []))
        for job_name in jobs:
            if not alive:
                break
            job = defs.resolve_job_def(job_name)
            ok: set[str] = set()
            for group in _ranges(instance, kind, alive):
                tags = {
                    ASSET_PARTITION_RANGE_START_TAG: group[0],
                    ASSET_PARTITION_RANGE_END_TAG: group[-1],
                }
                run = job.execute_in_process(
                    instance=instance,
                    run_config=QUIET,
                    tags=tags if len(group) > 1 else None,
                    partition_key=group[0] if len(group) == 1 else None,
                    raise_on_error=False,
                )
                ok |= _record_run(run, results, group)
            alive = [k for k in alive if k in ok]
        for key in alive:
            res = results[blob_for_partition_key(key)]
            if res.status != "failed":
                res.status = "published"


def _ranges(instance: dg.DagsterInstance, kind: DataKind, keys: list[str]) -> list[list[str]]:
    from geo_platform.defs.bronze.partitions import PARTITIONS
    from geo_platform.defs.bronze.sensors import contiguous_ranges

    order = {k: i for i, k in enumerate(instance.get_dynamic_partitions(PARTITIONS[kind].name))}
    return contiguous_ranges(order, keys, 25)


def _record_run(
    run: dg.ExecuteInProcessResult, results: dict[str, FileResult], group: list[str]
) -> set[str]:
    ok: set[str] = set()
    for event in run.get_asset_materialization_events():
        mat = event.materialization
        if mat is None or mat.partition is None:
            continue
        ok.add(mat.partition)
        res = results.get(blob_for_partition_key(mat.partition))
        if res is None:
            continue
        for attr, meta_key in OUTPUT_KEYS.items():
            value = mat.metadata.get(meta_key)
            if value is not None:
                getattr(res, attr).extend(v for v in value.value if v not in getattr(res, attr))  # type: ignore[union-attr]
    for event in run.get_step_failure_events():
        data = event.step_failure_data
        failed = {}
        if data.user_failure_data is not None:
            meta = data.user_failure_data.metadata.get("failed_files")
            failed = dict(meta.value) if meta is not None else {}  # type: ignore[arg-type]
        for blob, message in failed.items():
            if blob in results:
                results[blob].status, results[blob].error = "failed", str(message)
        if not failed and data.error is not None:
            message = data.error.message.strip().splitlines()[-1][:500]
            for key in group:
                res = results[blob_for_partition_key(key)]
                if key not in ok and res.status != "failed":
                    res.status, res.error = "failed", message
    return ok
