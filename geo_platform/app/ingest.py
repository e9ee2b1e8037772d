"""`geo-platform ingest`: upload files into bronze and, with ``--wait``, publish them now.

With ``wait`` the files go through the same sensor planning (``requests_for_plan``) and the same
asset jobs as the bronze sensor would launch, executed in this process against the configured
Dagster instance, so their runs, materializations and failures show in the UI as usual.
Each pipeline stage runs only for the files that passed the stage before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from geo_platform.app.instance import QUIET_RUN_LOGS, console_logs
from geo_platform.lib.archive_kind import archive_kind, judged_by_members
from geo_platform.lib.bronze import (
    Classification,
    TickPlan,
    classify_content,
    classify_listed,
    listed_roles,
)
from geo_platform.lib.naming import (
    blob_for_partition_key,
    normalize_blob_path,
    partition_key_for_blob,
)
from geo_platform.lib.sidecar_events import companions_prefix, files_of_sidecar
from geo_platform.lib.types import BlobInfo, DataKind
from geo_platform.resources.blob_store import BlobStore, blob_store_from_settings
from geo_platform.settings import Settings, load_settings

T = TypeVar("T")
# How a caller shows progress: (items, total, label) -> the same items (the CLI: a progress bar).
Track = Callable[[Iterable[T], int, str], Iterable[T]]

OUTPUT_KEYS = {"stac_items": "geo_platform/stac_items", "tables": "geo_platform/tables",
               "blobs": "geo_platform/blobs"}  # fmt: skip


# In-process runs log to the instance (and so the UI) as usual; the terminal gets the summary
# table, which names every failed file and its error.
QUIET = QUIET_RUN_LOGS  # the terminal's run config when not verbose (app.instance.console_logs)


@dataclass
class FileResult:
    """One file's outcome. ``status``: uploaded (no ``wait``), published, partial (published,
    but the layers in ``failed_layers`` were refused: layer -> "ErrorClass: message"), skipped
    (not a file the platform publishes) or failed (``error``). ``duplicate_of``: the bronze file
    whose content this one repeats (published before it; with the default duplicates mode the
    items point at that file's outputs, and no table or COG is built again)."""

    file: str
    blob: str
    status: str = "uploaded"
    error: str | None = None
    stac_items: list[dict[str, str]] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)
    failed_layers: dict[str, str] = field(default_factory=dict)
    duplicate_of: str | None = None

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
    check_bronze_container(store, container)
    for local, blob in files:
        yield local, store.upload_file(container, blob, local)


def check_bronze_container(store: BlobStore, container: str) -> None:
    """On Azure the bronze container must exist: creating a misspelt one would hide the files
    from the sensor watching the real one. The local store makes its folder (a fresh checkout)."""
    exists = getattr(store, "container_exists", None)  # the Azure store's
    if exists is None:
        store.ensure_container(container)
    elif not exists(container):
        from geo_platform.app.health import missing_container_message
        from geo_platform.lib.errors import ConfigError

        raise ConfigError(missing_container_message(container, "GEO_PLATFORM_BRONZE_CONTAINER"))


def plan_for(
    blobs: list[BlobInfo],
    read_head: Callable[[BlobInfo], bytes] | None = None,
    read_tail: Callable[[BlobInfo], bytes] | None = None,
) -> TickPlan:
    """A tick plan in which every given supported blob is new (``ingest`` always publishes).

    As in the sensor, a name without a known extension is only a hint: with ``read_head`` such
    a blob is classified by its first bytes (``bronze.classify_content``), and with
    ``read_tail`` a ``.zip`` holding only rasters is a raster, a ``.7z`` is listed from its
    ends, and a ``.kmz`` of GroundOverlays or of a superoverlay is a raster
    (``lib.archive_kind``)."""
    plan = TickPlan()
    roles = listed_roles(b.path for b in blobs)
    for blob in blobs:
        cls = classify_listed(blob, roles)
        if read_tail is not None and judged_by_members(blob.path, cls.kind):  # .zip, .7z, .kmz
            head = (lambda b=blob: read_head(b)) if read_head is not None else None
            cls = Classification(archive_kind(blob.path, blob.size, read_tail(blob), head))
        if cls.needs_content and read_head is not None:
            cls = classify_content(blob, read_head(blob))
        if cls.kind in ("raster", "vector"):
            plan.new[cls.kind].append(blob)
        elif cls.kind == "unsupported":
            plan.unsupported.append((blob, cls.reason))
    return plan


def run_ingest(
    paths: list[Path], prefix: str, wait: bool, track: Track[Any] | None = None
) -> list[FileResult]:
    """Upload ``paths`` into bronze under ``prefix``; with ``wait`` publish them now.

    One ``FileResult`` per file: uploaded, or (with ``wait``) published, partial, skipped or
    failed."""
    settings = load_settings()
    store = blob_store_from_settings(settings)
    files = collect_files(paths, prefix)
    results: dict[str, FileResult] = {}
    blobs = []
    uploads = upload(store, settings.bronze_container, files)
    for local, info in track(uploads, len(files), "upload") if track else uploads:
        results[info.path] = FileResult(file=str(local), blob=info.path)
        blobs.append(info)
    if wait:
        publish_now(settings, blobs, results)
        refuse_named([r for r in results.values()], [p for p in paths if p.is_file()])
    return list(results.values())


SIDECAR = "sidecar file: published with the file it belongs to"
HIDDEN_HINT = "rename it (files whose names start with a dot are ignored as hidden)"


def refuse_named(results: list[FileResult], named: list[Path]) -> None:
    """A file given by name that the platform does not publish (a lone VRT, a Word document,
    an empty file) fails (exit code 1), with the reason; one found in a folder given is only
    skipped (the README beside the data), and so is a sidecar, published with its file."""
    wanted = {str(p) for p in named}
    for r in results:
        if r.status == "skipped" and r.file in wanted and not (r.error or "").startswith(SIDECAR):
            r.status = "failed"
            if Path(r.file).name.startswith("."):
                r.error = f"{r.error}: {HIDDEN_HINT}"


def publish_now(settings: Settings, blobs: list[BlobInfo], results: dict[str, FileResult]) -> None:
    """Plan ``blobs`` as the bronze sensor would, add their partitions and run the pipeline
    in this process on the platform's instance; record the outcome in ``results``."""
    from geo_platform.app.instance import dagster_instance
    from geo_platform.definitions import defs
    from geo_platform.defs.bronze.partitions import PARTITIONS
    from geo_platform.defs.bronze.sensors import head_reader, requests_for_plan, tail_reader
    from geo_platform.defs.pipeline import PIPELINE_STAGES

    instance = dagster_instance(settings)
    store = blob_store_from_settings(settings)
    container = settings.bronze_container
    plan = plan_for(
        blobs,
        head_reader(store, container),
        tail_reader(store, container),
    )
    for blob, reason in plan.unsupported:
        results[blob.path].status, results[blob.path].error = "skipped", reason
    _sidecars(store, container, blobs, plan, results)
    req = requests_for_plan(instance, plan, settings.sensor_batch_size)
    for kind, keys in req.add.items():
        if keys:
            instance.add_dynamic_partitions(PARTITIONS[kind].name, keys)
    keys_by_kind = {
        kind: [partition_key_for_blob(b.path) for b in plan.new[kind]] for kind in PARTITIONS
    }
    # Batched as the sensor batches them: up to sensor_batch_size files and BATCH_MAX_BYTES a run
    sizes = {partition_key_for_blob(b.path): b.size or 0 for k in plan.new for b in plan.new[k]}
    batching = Batching(settings.sensor_batch_size, sizes)
    execute_pipeline(defs, instance, PIPELINE_STAGES, keys_by_kind, results, batching)


def _sidecars(
    store: BlobStore,
    container: str,
    blobs: list[BlobInfo],
    plan: TickPlan,
    results: dict[str, FileResult],
) -> None:
    """Sidecars uploaded without their file (a corrected ``.prj``): the files in bronze they
    belong to are planned again, as the sensor plans them, and reported as their own rows."""
    planned = {b.path for kind in plan.new for b in plan.new[kind]}
    uploaded = {b.path for b in blobs}
    roles = listed_roles(b.path for b in blobs)
    for blob in blobs:
        if classify_listed(blob, roles).kind != "sidecar" or blob.path in planned:
            continue
        owners = []
        candidates = store.list_blobs(container, prefix=companions_prefix(blob.path))
        for owner, kind in files_of_sidecar(blob.path, candidates):
            if owner.path in uploaded:
                continue  # uploaded with it: published with it
            owners.append(owner.path)
            if owner.path not in planned:
                planned.add(owner.path)
                plan.new[kind].append(owner)
                results[owner.path] = FileResult(file=f"(bronze) {owner.path}", blob=owner.path)
        results[blob.path].status = "skipped"
        again = f"; {', '.join(owners)} published again with it" if owners else ""
        results[blob.path].error = SIDECAR + again


@dataclass(frozen=True)
class Batching:
    """How many files a run takes (``contiguous_ranges``): at most ``size``, and with
    ``sizes`` (partition key -> bytes) at most the sensor's ``BATCH_MAX_BYTES`` of them."""

    size: int = 25
    sizes: Mapping[str, int] | None = None


@dataclass
class _Progress:
    """Which stage assets each partition has completed, and the first error it hit."""

    done: dict[str, set[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def execute_pipeline(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    stages: dict[DataKind, tuple[str, list[tuple[str, str]]]],
    keys_by_kind: dict[DataKind, list[str]],
    results: dict[str, FileResult],
    batching: Batching | None = None,
) -> None:
    """Run each kind's pipeline job over its keys (one run per contiguous batch), then carry
    any file that passed a stage but was held back by a failing neighbour through the
    remaining stages alone. Records per file: published, or failed with the first error."""
    batching = batching or Batching()
    for kind, (pipeline_job, stage_jobs) in stages.items():
        keys = list(keys_by_kind.get(kind, []))
        if not keys:
            continue
        progress = _Progress(done={k: set() for k in keys})
        _run_over(defs, instance, pipeline_job, kind, keys, progress, batching)
        for i, (asset, job) in enumerate(stage_jobs):
            before = [a for a, _ in stage_jobs[:i]]
            pending = [
                k for k in keys
                if k not in progress.failed
                and asset not in progress.done[k]
                and all(a in progress.done[k] for a in before)
            ]  # fmt: skip
            if pending:
                _run_over(defs, instance, job, kind, pending, progress, batching)
        last = stage_jobs[-1][0]
        for key in keys:
            res = results[blob_for_partition_key(key)]
            if last in progress.done[key]:
                res.status, res.error = "published", None
            else:
                res.status = "failed"
                res.error = progress.failed.get(key, "did not complete every stage")
        _collect_outputs(instance, [a for a, _ in stage_jobs], keys, results)


def _run_over(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job_name: str,
    kind: DataKind,
    keys: list[str],
    progress: _Progress,
    batching: Batching,
) -> None:
    job = defs.resolve_job_def(job_name)
    for group in _ranges(instance, kind, keys, batching):
        tags = {ASSET_PARTITION_RANGE_START_TAG: group[0], ASSET_PARTITION_RANGE_END_TAG: group[-1]}
        run = job.execute_in_process(
            instance=instance,
            run_config=console_logs(),
            tags=tags if len(group) > 1 else None,
            partition_key=group[0] if len(group) == 1 else None,
            raise_on_error=False,
        )
        _record_run(run, group, progress)


def _ranges(
    instance: dg.DagsterInstance, kind: DataKind, keys: list[str], batching: Batching
) -> list[list[str]]:
    from geo_platform.defs.bronze.partitions import PARTITIONS
    from geo_platform.defs.bronze.sensors import BATCH_MAX_BYTES, contiguous_ranges

    order = {k: i for i, k in enumerate(instance.get_dynamic_partitions(PARTITIONS[kind].name))}
    sizes = dict(batching.sizes) if batching.sizes is not None else None
    cap = BATCH_MAX_BYTES if sizes is not None else None
    return contiguous_ranges(order, keys, batching.size, sizes, cap)


def _record_run(run: dg.ExecuteInProcessResult, group: list[str], progress: _Progress) -> None:
    for event in run.get_asset_materialization_events():
        mat = event.materialization
        if mat.partition in progress.done:
            progress.done[mat.partition].add(mat.asset_key.to_user_string())
    for event in run.get_step_failure_events():
        data = event.step_failure_data
        failed: dict[str, str] = {}
        if data.user_failure_data is not None:
            meta = data.user_failure_data.metadata.get("failed_files")
            failed = dict(meta.value) if meta is not None else {}  # type: ignore[arg-type]
        for key in group:
            blob = blob_for_partition_key(key)
            if blob in failed:
                progress.failed.setdefault(key, str(failed[blob]))
            elif not failed and data.error is not None and key not in progress.failed:
                step = event.step_key or "a step"
                message = data.error.message.strip().splitlines()[-1][:500]
                if not any(step.startswith(a) for a in progress.done[key]):
                    progress.failed[key] = f"{step}: {message}"


def _collect_outputs(
    instance: dg.DagsterInstance, assets: list[str], keys: list[str], results: dict[str, FileResult]
) -> None:
    """Outputs (items, tables, silver blobs) from the latest materialization of each stage."""
    for asset in assets:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=keys),
            limit=len(keys) * 2,
        ).records
        seen: set[str] = set()
        for rec in records:  # newest first
            mat = rec.asset_materialization
            if mat is None or mat.partition is None or mat.partition in seen:
                continue
            seen.add(mat.partition)
            res = results[blob_for_partition_key(mat.partition)]
            if res.status not in ("published", "partial"):
                continue
            for attr, meta_key in OUTPUT_KEYS.items():
                value = mat.metadata.get(meta_key)
                if value is not None:
                    current = getattr(res, attr)
                    current.extend(v for v in value.value if v not in current)  # type: ignore[union-attr]
            duplicate = mat.metadata.get("duplicate_of")
            if duplicate is not None:
                res.duplicate_of = str(getattr(duplicate, "value", duplicate))
            note_failed_layers(res, mat.metadata)


def note_failed_layers(res: FileResult, metadata: Mapping[str, Any]) -> None:
    """A published file whose stage materialization names failed layers is *partial*."""
    value = metadata.get("failed_layers")
    layers = getattr(value, "value", value) or {}
    if layers:
        res.failed_layers.update({str(k): str(v) for k, v in dict(layers).items()})
        res.status = "partial"
