"""A batch run in which every file succeeds: one output per stage, each partition keeps its own
metadata (``common.add_partition_metadata``), and metadata is refused for a partition the run
does not target."""

import uuid

import dagster as dg
import pytest

from geo_platform.defs.common import add_partition_metadata, each_partition
from geo_platform.defs.stages import Stage, file_pipeline, per_file


class _Config(dg.Config):
    pass


def _range(keys: list[str]) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1]}  # fmt: skip


def _metadata(run: dg.ExecuteInProcessResult, asset: str) -> dict[str, dict]:
    """{partition: its materialization's metadata} of ``asset`` in the run."""
    out = {}
    for event in run.get_asset_materialization_events():
        mat = event.materialization
        if mat.asset_key == dg.AssetKey(asset):
            assert mat.partition not in out
            out[mat.partition] = {k: v.value for k, v in mat.metadata.items()
                                  if k in ("stage", "key")}  # fmt: skip
    return out


def test_complete_batch_keeps_each_partitions_metadata():
    parts = dg.DynamicPartitionsDefinition(name=f"s{uuid.uuid4().hex[:6]}")

    def work(stage: str):
        return per_file(lambda _ctx, key, _blob: {"stage": stage, "key": key})

    stages = [
        Stage(dg.AssetSpec("s_first"), work("first")),
        Stage(dg.AssetSpec("s_second", deps=["s_first"]), work("second")),
    ]
    asset = file_pipeline("s_files", stages, parts, _Config)
    keys = ["a", "b", "c"]
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(parts.name, [*keys, "z"])
        run = dg.materialize([asset], instance=inst, tags=_range(keys))
        assert run.success
        for stage in ("first", "second"):
            assert _metadata(run, f"s_{stage}") == {k: {"stage": stage, "key": k} for k in keys}
        # One materialization per partition and stage, none for the partition outside the run.
        mats = run.get_asset_materialization_events()
        assert sorted((e.asset_key.path[0], e.partition) for e in mats) == sorted(
            (f"s_{s}", k) for s in ("first", "second") for k in keys
        )


def test_each_partition_keeps_each_partitions_metadata():
    parts = dg.DynamicPartitionsDefinition(name=f"e{uuid.uuid4().hex[:6]}")

    @dg.asset(partitions_def=parts, name="e_one")
    def one(context: dg.AssetExecutionContext):
        yield from each_partition(context, lambda key, _blob: {"key": key})

    keys = ["a", "b"]
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(parts.name, keys)
        run = dg.materialize([one], instance=inst, tags=_range(keys))
        assert run.success
        assert _metadata(run, "e_one") == {k: {"key": k} for k in keys}


def test_metadata_for_a_partition_outside_the_run_is_refused():
    parts = dg.DynamicPartitionsDefinition(name=f"o{uuid.uuid4().hex[:6]}")

    @dg.asset(partitions_def=parts, name="o_one")
    def one(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        add_partition_metadata(context, context.asset_key, {"z": {"key": "z"}})
        return dg.MaterializeResult()

    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(parts.name, ["a", "b", "z"])
        with pytest.raises(dg.DagsterInvariantViolationError, match="does not target"):
            dg.materialize([one], instance=inst, tags=_range(["a", "b"]))


def test_a_batched_commit_can_refuse_one_file_alone():
    """The catalog stage refuses a file whose item names another file holds, and publishes the
    rest of the batch: ``commit`` returns that file's error in place of its metadata."""
    from geo_platform.defs.stages import Outcome, batched

    def commit(_ctx, prepared):
        return {k: ValueError(f"{k} clashes") if k == "b.gpkg" else {"n": v}
                for k, v in prepared.items()}  # fmt: skip

    run = batched(lambda _ctx, key, _blob: len(key), commit)
    out = run(None, ["a.gpkg", "b.gpkg", "c.gpkg"])
    assert isinstance(out["b.gpkg"], ValueError) and str(out["b.gpkg"]) == "b.gpkg clashes"
    assert [out[k] for k in ("a.gpkg", "c.gpkg")] == [Outcome({"n": 6}), Outcome({"n": 6})]
