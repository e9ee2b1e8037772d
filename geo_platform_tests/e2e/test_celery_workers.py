"""Steps on two Celery workers that share nothing but Azurite, PostgreSQL and Redis.

GEO_PLATFORM_EXECUTOR=celery: a run submits each step to Redis (dagster-celery) and whichever
worker is free executes it. Two workers are started here with ``dagster-celery worker start``,
each in its own working directory, with its own TMPDIR, state folder, DAGSTER_HOME and local
Dagster storage (step logs): the only things they share with each other and with the runs are
the blob store (Azurite, private containers, GEO_PLATFORM_BLOB_BACKEND=azure), PostgreSQL
(the catalog, and Dagster's instance in a database of its own) and Redis (ours, started by
``geo_platform.services.redis`` on a free port).

1. The raster and the vector pipeline run at the same time (``dagster job execute``, one run
   each): their steps run on the two workers, which the runs' own records prove (dagster-celery's
   engine event names the Celery worker, and the silver materializations carry the host and
   pid of the process that made them; each pid is checked to belong to that worker).
2. A worker is killed (SIGKILL, the whole process group) in the middle of a raster step: its
   step message was never acknowledged (late acks), so Redis hands it to the other worker once
   the visibility timeout has passed; the run succeeds and the file is published exactly once.

Both are slow (``make test`` runs them, ``make test-quick`` does not). Two quick tests check the
worker configuration against the executor's and that ``services up`` starts Redis for Celery.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import psycopg
import pytest
import rasterio
from psycopg import sql

from geo_platform import services as platform_services
from geo_platform.defs.bronze.partitions import PARTITIONS
from geo_platform.lib import naming
from geo_platform.resources.blob_store import blob_store_from_settings
from geo_platform.resources.celery import celery_config, write_worker_config
from geo_platform.services import redis as redis_service
from geo_platform.settings import REPO_ROOT, Settings, load_settings
from geo_platform_tests.fixtures.helpers import TESTDATA

# Short enough that the test waits little for the killed worker's step, long enough that a
# healthy step (a few seconds here) is never handed out twice.
VISIBILITY_TIMEOUT = 20
VENV_BIN = Path(sys.executable).parent
LOCAL_STORAGE_ENV = "GEO_PLATFORM_TEST_LOCAL_STORAGE"
# Where each process keeps Dagster's local files (step logs, local artifacts): read from the
# environment of the process that uses the instance, so every worker writes to its own folder.
LOCAL_STORAGE = f"""
local_artifact_storage:
  module: dagster._core.storage.root
  class: LocalArtifactStorage
  config:
    base_dir: {{env: {LOCAL_STORAGE_ENV}}}
compute_logs:
  module: dagster._core.storage.local_compute_log_manager
  class: LocalComputeLogManager
  config:
    base_dir: {{env: {LOCAL_STORAGE_ENV}}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Worker:
    name: str
    root: Path
    log: Path
    proc: subprocess.Popen[bytes]

    def owns(self, pid: int) -> bool:
        """True if ``pid`` is a process of this worker (its process group)."""
        try:
            return os.getpgid(pid) == self.proc.pid
        except ProcessLookupError:
            return False

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


@dataclass
class Cluster:
    env: dict[str, str]
    settings: Settings
    instance: dg.DagsterInstance
    workers: dict[str, Worker]
    prefix: str
    tmp: Path


def _isolated_env(base: dict[str, str], root: Path) -> dict[str, str]:
    """``base`` with this process's own working folders: TMPDIR, state, Dagster local storage."""
    for sub in ("tmp", "state", "dagster-local"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return {
        **base,
        "TMPDIR": str(root / "tmp"),
        "GEO_PLATFORM_STATE_DIR": str(root / "state"),
        LOCAL_STORAGE_ENV: str(root / "dagster-local"),
        "PATH": f"{VENV_BIN}{os.pathsep}{base.get('PATH', '')}",
    }


def _start_worker(name: str, env: dict[str, str], home_yaml: Path, root: Path) -> Worker:
    worker_env = _isolated_env(env, root)
    home = root / "dagster_home"  # dagster-celery writes the worker's Celery config module here
    home.mkdir(parents=True)
    shutil.copy(home_yaml, home / "dagster.yaml")
    worker_env["DAGSTER_HOME"] = str(home)
    with_env = dataclasses.replace(load_settings(), **_settings_overrides(worker_env))
    config = write_worker_config(with_env, root / "celery-worker.yaml")
    log = root / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(VENV_BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
             "-y", str(config), "-n", name, "--", "--concurrency=1", "--pool=prefork",
             "--without-mingle", "--without-gossip"],
            cwd=root, env=worker_env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return Worker(name, root, log, proc)


def _settings_overrides(env: dict[str, str]) -> dict[str, Any]:
    """The fields of Settings this test sets through the environment."""
    return {
        "executor": "celery",
        "redis_port": int(env["GEO_PLATFORM_REDIS_PORT"]),
        "redis_url": "",
        "celery_visibility_timeout": int(env["GEO_PLATFORM_CELERY_VISIBILITY_TIMEOUT"]),
        "blob_backend": "azure",
        "azure_connection_string": env["AZURE_STORAGE_CONNECTION_STRING"],
        "azure_account_url": "",
        "bronze_container": env["GEO_PLATFORM_BRONZE_CONTAINER"],
        "silver_container": env["GEO_PLATFORM_SILVER_CONTAINER"],
    }


def _wait_ready(workers: list[Worker], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    pending = list(workers)
    while pending and time.monotonic() < deadline:
        for w in list(pending):
            assert w.proc.poll() is None, f"worker {w.name} exited:\n{w.log.read_text()[-3000:]}"
            if " ready." in w.log.read_text(errors="replace"):
                pending.remove(w)
        time.sleep(0.3)
    assert not pending, f"workers not ready: {[w.name for w in pending]}"


@pytest.fixture(scope="module")
def cluster(
    pg_instance_env: dict[str, str],
    pg_dsn: str,
    azurite_connection_string: str,
    settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    run = uuid.uuid4().hex[:8]
    tmp = tmp_path_factory.mktemp("celery")
    # Our own Redis for this module, on a free port, started by the services code.
    redis_settings = dataclasses.replace(settings, executor="celery", redis_port=_free_port())
    redis_service.ensure_redis(redis_settings)
    home_yaml = Path(pg_instance_env["DAGSTER_HOME"]) / "dagster.yaml"
    home_yaml.write_text((REPO_ROOT / "dagster.yaml").read_text() + LOCAL_STORAGE)
    env = {
        **os.environ,
        **pg_instance_env,
        "GEO_PLATFORM_EXECUTOR": "celery",
        "GEO_PLATFORM_REDIS_PORT": str(redis_settings.redis_port),
        "GEO_PLATFORM_CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "GEO_PLATFORM_BLOB_BACKEND": "azure",
        "AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string,
        "GEO_PLATFORM_BRONZE_CONTAINER": f"cel-bronze-{run}",
        "GEO_PLATFORM_SILVER_CONTAINER": f"cel-silver-{run}",
        "GEO_PLATFORM_DUPLICATES": "publish",
    }
    for key in ("GEO_PLATFORM_REDIS_URL", "AZURE_STORAGE_ACCOUNT_URL"):
        env.pop(key, None)
    test_settings = dataclasses.replace(settings, **_settings_overrides(env))
    workers: dict[str, Worker] = {}
    old_local = os.environ.get(LOCAL_STORAGE_ENV)
    os.environ[LOCAL_STORAGE_ENV] = str(tmp / "test-process")
    try:
        for name in ("w1", "w2"):
            workers[name] = _start_worker(name, env, home_yaml, tmp / name)
        with dg.DagsterInstance.from_config(pg_instance_env["DAGSTER_HOME"]) as instance:
            _wait_ready(list(workers.values()))
            yield Cluster(env, test_settings, instance, workers, f"cel{run}", tmp)
    finally:
        for worker in workers.values():
            worker.kill()
        redis_service.stop_redis(redis_settings)
        if old_local is None:
            os.environ.pop(LOCAL_STORAGE_ENV, None)
        else:
            os.environ[LOCAL_STORAGE_ENV] = old_local
        _drop_outputs(test_settings, f"cel{run}")


def _drop_outputs(settings: Settings, prefix: str) -> None:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(settings.azure_connection_string)
    for container in (settings.bronze_container, settings.silver_container):
        with contextlib.suppress(Exception):  # never created when a test failed early
            service.delete_container(container)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM pgstac.collections WHERE id LIKE %s", (f"{prefix}%",)
        )]  # fmt: skip
        for cid in ids:
            conn.execute("SELECT pgstac.delete_collection(%s)", (cid,))
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s",
            (settings.geo_schema, f"{prefix}%"),
        )]  # fmt: skip
        for table in tables:
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
                    sql.Identifier(settings.geo_schema), sql.Identifier(table)
                )
            )


# --- helpers ---------------------------------------------------------------------------------
def _add_file(cluster: Cluster, kind: str, local: Path, blob: str) -> str:
    """Upload ``local`` into bronze as ``blob`` and add its partition; the partition key."""
    store = blob_store_from_settings(cluster.settings)
    store.ensure_container(cluster.settings.bronze_container)
    store.upload_file(cluster.settings.bronze_container, blob, local)
    key = naming.partition_key_for_blob(blob)
    cluster.instance.add_dynamic_partitions(PARTITIONS[kind].name, [key])  # type: ignore[index]
    return key


def _launch(cluster: Cluster, job: str, key: str, label: str) -> subprocess.Popen[bytes]:
    """A run of ``job`` over one partition, its steps sent to the workers (a run coordinator
    of its own: `dagster job execute`, in its own folders too)."""
    env = _isolated_env(cluster.env, cluster.tmp / f"run-{label}")
    tags = json.dumps({"dagster/partition": key, "geo_platform/test": label})
    log = (cluster.tmp / f"run-{label}.log").open("wb")
    return subprocess.Popen(
        [str(VENV_BIN / "dagster"), "job", "execute", "-m", "geo_platform.definitions",
         "-j", job, "--tags", tags],
        cwd=cluster.tmp / f"run-{label}", env=env, stdin=subprocess.DEVNULL, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip


def _finish(cluster: Cluster, proc: subprocess.Popen[bytes], label: str, timeout: float) -> str:
    """Wait for the run of ``label``; its run id (the run must have succeeded)."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    run = _run_of(cluster, label)
    output = (cluster.tmp / f"run-{label}.log").read_text(errors="replace")[-4000:]
    logs = "\n".join(
        f"--- {w.name}\n{w.log.read_text(errors='replace')[-3000:]}"
        for w in cluster.workers.values()
    )
    assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS, f"{output}\n{logs}"
    assert proc.returncode == 0, output
    return run.run_id


def _run_of(cluster: Cluster, label: str) -> dg.DagsterRun | None:
    runs = cluster.instance.get_runs(dg.RunsFilter(tags={"geo_platform/test": label}))
    return runs[0] if runs else None


def _events(cluster: Cluster, run_id: str) -> list[dg.DagsterEvent]:
    return [e.dagster_event for e in cluster.instance.all_logs(run_id) if e.dagster_event]


def _celery_workers(events: list[dg.DagsterEvent]) -> list[str]:
    """The Celery worker names dagster-celery recorded for the run's steps, in order."""
    names = []
    for event in events:
        if event.event_type == dg.DagsterEventType.ENGINE_EVENT:
            meta = event.engine_event_data.metadata
            if "Celery worker" in meta:
                names.append(str(meta["Celery worker"].value).split("@")[0])
    return names


def _materializations(events: list[dg.DagsterEvent], asset: str) -> list[dg.AssetMaterialization]:
    mats = [
        e.step_materialization_data.materialization for e in events if e.is_step_materialization
    ]
    return [m for m in mats if m.asset_key == dg.AssetKey(asset)]


def _items(cluster: Cluster, blob: str) -> int:
    with psycopg.connect(cluster.settings.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pgstac.items WHERE collection = %s",
            (naming.collection_id(blob),),
        ).fetchone()
    return int(row[0]) if row else 0


def _silver_layout(cluster: Cluster, blob: str) -> set[str]:
    """The silver blobs of a bronze file, relative to its folder, with its name as ``NAME``."""
    store = blob_store_from_settings(cluster.settings)
    name = blob.rsplit("/", 1)[1]
    return {
        info.path[len(blob) + 1 :].replace(name, "NAME")
        for info in store.list_blobs(cluster.settings.silver_container, prefix=blob + "/")
    }


def _big_raster(path: Path, size: int = 2500) -> Path:
    """A noisy RGB raster (hard to compress): its COG tiers take seconds, long enough to kill
    the worker in the middle of the step."""
    rng = np.random.default_rng(16)
    data = rng.integers(0, 255, (3, size, size), dtype=np.uint8)
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
        "crs": "EPSG:32632", "transform": rasterio.Affine(10, 0, 500_000, 0, -10, 5_200_000),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


# --- tests -----------------------------------------------------------------------------------
def test_services_up_starts_redis_for_the_celery_executor(
    services: dict[str, Any], settings: Settings, tmp_path: Path
) -> None:
    """`services up` starts our Redis only when steps run on Celery, and never an external one."""
    base = dataclasses.replace(settings, redis_port=_free_port(), dagster_home=tmp_path / "home")
    assert platform_services.up(base)["redis"]["running"] is False  # multiprocess: not wanted
    celery = dataclasses.replace(base, executor="celery")
    try:
        status = platform_services.up(celery)["redis"]
        assert status["running"] is True and redis_service.ping(celery.redis_port)
        assert platform_services.up(celery)["redis"]["pid"] == status["pid"]  # idempotent
    finally:
        assert redis_service.stop_redis(celery)
    assert not redis_service.ping(celery.redis_port)
    external = dataclasses.replace(celery, redis_url="rediss://:pw@cache.example:6380/0")
    assert not redis_service.wanted(external)
    assert redis_service.redis_status(external)["url"] == "rediss://:***@cache.example:6380/0"


def test_the_worker_configuration_is_the_executors(tmp_path: Path, settings: Settings) -> None:
    """The YAML a worker starts from validates as the executor's config and says the same."""
    from dagster_celery.cli import get_validated_config

    path = write_worker_config(settings, tmp_path / "worker.yaml")
    validated = get_validated_config(str(path))
    assert validated["broker"] == validated["backend"] == settings.broker_url
    source = validated["config_source"]
    assert source == celery_config(settings)["config_source"]
    assert source["task_acks_late"] is True and source["worker_prefetch_multiplier"] == 1
    timeout = source["broker_transport_options"]["visibility_timeout"]
    assert timeout == settings.celery_visibility_timeout
    # An external Redis URL (maybe with a password) is read from the environment, not copied.
    external = dataclasses.replace(settings, redis_url="rediss://:secret@cache.example:6380/0")
    assert celery_config(external)["broker"] == {"env": "GEO_PLATFORM_REDIS_URL"}
    assert "secret" not in json.dumps(celery_config(external))


def test_the_aks_workers_run_the_executors_configuration(settings: Settings) -> None:
    """deploy/celery/workers.yaml: its worker configuration is the runs' (external Redis from
    GEO_PLATFORM_REDIS_URL, default visibility timeout), and the workers start from it."""
    import yaml

    docs = list(yaml.safe_load_all((REPO_ROOT / "deploy/celery/workers.yaml").read_text()))
    config_map = next(d for d in docs if d["kind"] == "ConfigMap")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    production = dataclasses.replace(
        settings, redis_url="rediss://cache.example:6380/0", celery_visibility_timeout=7200
    )
    written = yaml.safe_load(config_map["data"]["celery-worker.yaml"])
    assert written == {"execution": {"config": celery_config(production)}}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert container["command"] == ["dagster-celery"] and args[:4] == ["worker", "start", "-A",
        "dagster_celery.app"]  # fmt: skip
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    config_path = args[args.index("-y") + 1]
    assert config_path == mounts["celery-config"] + "/celery-worker.yaml"
    sources = {next(iter(e.values()))["name"] for e in container["envFrom"]}
    assert sources == {"geo-platform-config", "geo-platform-secrets"}


@pytest.mark.slow
@pytest.mark.azurite
def test_raster_and_vector_steps_run_on_both_workers(cluster: Cluster) -> None:
    raster_blob = f"{cluster.prefix}/raster/dem-hills.tif"
    vector_blob = f"{cluster.prefix}/vector/kinked.geojson"
    raster_key = _add_file(
        cluster, "raster", TESTDATA / "rasters/dem_float32/dem-hills.tiff", raster_blob
    )
    vector_key = _add_file(
        cluster, "vector", TESTDATA / "vectors/geojson_invalid/switzerlandKinked.geojson",
        vector_blob,
    )  # fmt: skip
    started = time.monotonic()
    runs = {
        "raster": _launch(cluster, "raster_pipeline_job", raster_key, "raster"),
        "vector": _launch(cluster, "vector_pipeline_job", vector_key, "vector"),
    }
    run_ids = {label: _finish(cluster, proc, label, 240) for label, proc in runs.items()}
    elapsed = time.monotonic() - started

    where: dict[str, tuple[str, int, str]] = {}
    for label, silver in (("raster", "raster_cog"), ("vector", "vector_table")):
        events = _events(cluster, run_ids[label])
        names = _celery_workers(events)
        assert len(names) == 1, names  # one step (the file pipeline), executed once
        (mat,) = _materializations(events, silver)
        pid = int(mat.metadata["worker_pid"].value)  # type: ignore[arg-type]
        host = str(mat.metadata["worker_host"].value)
        assert cluster.workers[names[0]].owns(pid), (label, names[0], pid)
        starts = [e.pid for e in events if e.event_type == dg.DagsterEventType.STEP_START]
        assert starts == [pid]
        # The step's logs are in that worker's own local storage, and in no other folder.
        holders = [p.parents[1].name for p in cluster.tmp.glob(f"*/dagster-local/{run_ids[label]}")]
        assert holders == [names[0]], holders
        where[label] = (names[0], pid, host)
    print(f"\nsteps: {where} in {elapsed:.1f} s")
    assert {name for name, _, _ in where.values()} == {"w1", "w2"}, where
    assert _items(cluster, raster_blob) == 1 and _items(cluster, vector_blob) == 1
    # The silver container is private: no anonymous access on Azure.
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(cluster.settings.azure_connection_string)
    for container in (cluster.settings.bronze_container, cluster.settings.silver_container):
        props = service.get_container_client(container).get_container_properties()
        assert props.public_access is None, container


@pytest.mark.slow
@pytest.mark.azurite
def test_a_worker_killed_mid_step_is_survived(cluster: Cluster) -> None:
    blob = f"{cluster.prefix}/killed/noise.tif"
    key = _add_file(cluster, "raster", _big_raster(cluster.tmp / "noise.tif"), blob)
    proc = _launch(cluster, "raster_pipeline_job", key, "killed")
    # Wait until the step is in its COG stage (bronze inventory materialized), then kill the
    # worker executing it, whole (its main process and the pool process running the step).
    deadline = time.monotonic() + 180
    victim: Worker | None = None
    while victim is None and time.monotonic() < deadline:
        assert proc.poll() is None, (cluster.tmp / "run-killed.log").read_text()[-3000:]
        run = _run_of(cluster, "killed")
        events = _events(cluster, run.run_id) if run else []
        if _materializations(events, "bronze_raster"):
            start = next(e for e in events if e.event_type == dg.DagsterEventType.STEP_START)
            victim = next(w for w in cluster.workers.values() if w.owns(start.pid))
            assert not _materializations(events, "raster_cog"), "the step ended too soon"
            victim.kill()
            killed_at = time.monotonic()
        else:
            time.sleep(0.1)
    assert victim is not None, "the step never started"
    survivor = next(w for w in cluster.workers.values() if w is not victim)

    run_id = _finish(cluster, proc, "killed", VISIBILITY_TIMEOUT + 150)
    recovered = time.monotonic() - killed_at
    events = _events(cluster, run_id)
    assert _celery_workers(events) == [victim.name, survivor.name]
    starts = [e.pid for e in events if e.event_type == dg.DagsterEventType.STEP_START]
    assert len(starts) == 2 and survivor.owns(starts[1]), starts
    # Published once: one catalog materialization, by the survivor, and one item in pgstac.
    (item_mat,) = _materializations(events, "raster_stac_item")
    (cog_mat,) = _materializations(events, "raster_cog")
    assert survivor.owns(int(cog_mat.metadata["worker_pid"].value))  # type: ignore[arg-type]
    assert item_mat.partition == key
    assert _items(cluster, blob) == 1
    # Nothing left behind by the killed attempt: the file's silver blobs are those of any
    # raster published in one go (the first test's).
    assert _silver_layout(cluster, blob) == _silver_layout(
        cluster, f"{cluster.prefix}/raster/dem-hills.tif"
    )
    print(
        f"\nkilled {victim.name} (step pid {starts[0]}) mid-step; {survivor.name} "
        f"(pid {starts[1]}) finished it {recovered:.1f} s later"
    )
