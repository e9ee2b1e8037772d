"""unpublish_raster on real services: rasters published through the pipeline, then removed.

One module-scoped publication of several tiny rasters in separate datasets; every test works on
its own dataset (collection), so the tests are independent of their order.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import dagster as dg
import psycopg
import pytest

from geo_platform.cli.lifecycle import unpublish_lines
from geo_platform.defs.lifecycle.jobs import unpublish_raster, unpublish_run_config
from geo_platform.lib import naming
from geo_platform.lib.errors import is_retryable
from geo_platform.lib.stac.collection import dataset_collection
from geo_platform.resources.databases import PostGISResource
from geo_platform.settings import Settings
from geo_platform.store import pgstac
from geo_platform.store.silver_refs import blob_path_for_href
from geo_platform.workflows.unpublish import execute_unpublish, plan_unpublish
from geo_platform.workflows.unpublish_types import RESUME
from geo_platform_tests.fixtures.lifecycle import (
    TcpForwarder,
    audit_rows,
    delete_collections,
    lifecycle_env,
    listing,
    make_raster,
    publish,
)

NAMES = ["solo/a.tif", "keep/b.tif", "half/d.tif", "pair/g.tif", "pair/h.tif", "bad/u.tif",
         "retry/r.tif", "resume/k.tif", "auto/w.tif", "shared/s.tif"]  # fmt: skip


class Published:
    def __init__(self, inst, store, resources, prefix, dsn) -> None:
        self.inst, self.store, self.resources, self.prefix, self.dsn = (
            inst, store, resources, prefix, dsn)  # fmt: skip

    def blob(self, name: str) -> str:
        if name.startswith("system/"):
            return f"system-{self.prefix}/{name.split('/', 1)[1]}"
        return f"{self.prefix}/{name}"

    def ids(self, name: str) -> tuple[str, str]:
        blob = self.blob(name)
        return naming.collection_id(blob), naming.item_id(blob)

    def item(self, name: str) -> dict[str, Any] | None:
        with psycopg.connect(self.dsn) as conn:
            return pgstac.get_item(conn, *self.ids(name))

    def collection(self, name: str) -> dict[str, Any] | None:
        with psycopg.connect(self.dsn) as conn:
            return pgstac.get_collection(conn, self.ids(name)[0])

    def silver(self, name: str) -> dict[str, tuple[int, str]]:
        return listing(self.store, "silver", naming.silver_prefix(self.blob(name)) + "/")

    def run(self, name: str | list[str], raise_on_error: bool = True, **config: Any):
        names = [name] if isinstance(name, str) else name
        collection = self.ids(names[0])[0]
        ids = config.pop("item_ids", None) or [self.ids(n)[1] for n in names]
        run_config = unpublish_run_config("raster", item_ids=ids, collection=collection, **config)
        return unpublish_raster.execute_in_process(
            run_config=run_config, instance=self.inst, resources=self.resources,
            raise_on_error=raise_on_error, tags={"geo_platform/requested_by": "pytest"},
        )  # fmt: skip


@pytest.fixture(scope="module")
def pub(tmp_path_factory, pg_dsn: str, settings: Settings):
    tmp = tmp_path_factory.mktemp("unpublish_raster")
    prefix = f"lc{uuid.uuid4().hex[:6]}"
    store, resources = lifecycle_env(tmp / "blobs", pg_dsn, settings)
    with dg.instance_for_test() as inst:
        p = Published(inst, store, resources, prefix, pg_dsn)
        keys = [p.blob(n) for n in [*NAMES, "system/c.tif"]]
        for i, key in enumerate(keys):
            store.upload_file("bronze", key, make_raster(tmp / f"r{i}.tif", seed=i))
        publish(inst, resources, "raster", keys)
        yield p
    delete_collections(pg_dsn, sorted({naming.collection_id(k) for k in keys}))


def _user_logs(inst: dg.DagsterInstance, run_id: str) -> str:
    return "\n".join(e.user_message for e in inst.all_logs(run_id))


def test_dry_run_changes_nothing_and_reports_exactly(pub: Published) -> None:
    before_silver = listing(pub.store, "silver")
    before_bronze = listing(pub.store, "bronze")
    item = pub.item("solo/a.tif")
    assert item is not None
    res = pub.run("solo/a.tif")  # dry_run is the default
    report = res.output_for_node("unpublish_raster_items")
    assert report["dry_run"] and not report["noop"]
    [entry] = report["items"]
    expected = pub.silver("solo/a.tif")
    assert {b["path"]: b["size"] for b in entry["blobs"]} == {
        p: s for p, (s, _) in expected.items()
    }
    assert len(expected) == 5  # three COG tiers, the thumbnail and the item JSON
    assert entry["stac_item_json"] == item
    assert entry["source_blob"] == pub.blob("solo/a.tif")
    assert entry["original_run_id"] == item["properties"]["geo_platform:run_id"]
    assert report["collection"]["would_be_deleted"] is True
    assert report["totals"]["bytes"] == sum(s for s, _ in expected.values())
    logs = _user_logs(pub.inst, res.run_id)
    assert "DRY RUN" in logs
    for path in expected:
        assert path in logs
    # Nothing changed anywhere.
    assert listing(pub.store, "silver") == before_silver
    assert listing(pub.store, "bronze") == before_bronze
    assert pub.item("solo/a.tif") == item
    # Audited as a dry run (one row, marked, with its inventory); never as an unpublish.
    assert audit_rows(pub.dsn, *pub.ids("solo/a.tif")) == []
    [dry] = audit_rows(pub.dsn, *pub.ids("solo/a.tif"), dry_run=True)
    assert dry["dry_run"] is True and dry["status"] == "completed" and dry["finished_at"]
    assert dry["who"] == "pytest" and dry["run_id"] == res.run_id
    assert {b["path"] for b in dry["inventory"]["blobs"]} == set(expected)
    assert dry["result"]["message"].startswith("would unpublish 1 item(s)")
    assert dry["original_item"] is None
    assert report["audit_ids"] == [dry["id"]]
    assert report["message"].startswith("would unpublish")
    lines = unpublish_lines(report)
    assert f"collection {pub.ids('solo/a.tif')[0]}: would be deleted (empty afterwards)" in lines
    assert f"dry run recorded in audit rows: [{dry['id']}]" in lines
    # The op's output metadata (what the UI shows) says the same, and no partition is marked.
    [output] = [e for e in res.all_events if e.event_type_value == "STEP_OUTPUT"]
    meta = {k: v.value for k, v in output.event_specific_data.metadata.items()}
    assert meta["dry_run"] is True and meta["noop"] is False
    assert (meta["items"], meta["blobs"], meta["tables"], meta["rows"]) == (1, 5, 0, 0)
    assert meta["bytes"] == report["totals"]["bytes"]
    assert meta["collection_would_be_deleted"] is True
    assert meta["report"] == report and "collection_deleted" not in meta
    assert meta["audit_ids"] == [dry["id"]]
    assert [e for e in res.all_events if e.event_type_value == "ASSET_OBSERVATION"] == []


def test_real_run_removes_everything_then_rerun_is_a_noop(pub: Published) -> None:
    before_bronze = listing(pub.store, "bronze")
    item = pub.item("solo/a.tif")
    assert item is not None and pub.silver("solo/a.tif")
    res = pub.run("solo/a.tif", dry_run=False, reason="test: wrong file")
    report = res.output_for_node("unpublish_raster_items")
    assert report["result"]["collection_deleted"] is True
    assert pub.silver("solo/a.tif") == {}
    assert pub.item("solo/a.tif") is None
    assert pub.collection("solo/a.tif") is None
    assert listing(pub.store, "bronze") == before_bronze  # bronze is never touched
    [row] = audit_rows(pub.dsn, *pub.ids("solo/a.tif"))
    assert row["status"] == "completed" and row["who"] == "pytest"
    assert row["reason"] == "test: wrong file" and row["run_id"] == res.run_id
    assert row["original_item"] == item
    assert row["source_blob"] == pub.blob("solo/a.tif")
    assert row["original_run_id"] == item["properties"]["geo_platform:run_id"]
    assert len(row["inventory"]["blobs"]) == 5
    assert row["inventory"]["collection_would_be_deleted"] is True
    # The silver and catalog partitions are marked unpublished (observation, not a wipe).
    key = naming.partition_key_for_blob(pub.blob("solo/a.tif"))
    for asset in ("raster_cog", "raster_stac_item"):
        [rec] = pub.inst.fetch_observations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]), limit=5
        ).records
        assert rec.asset_observation.metadata["status"].value == "unpublished"
    # Twice: a clean no-op with a clear message, no new audit row.
    again = pub.run("solo/a.tif", dry_run=False)
    assert again.success
    report = again.output_for_node("unpublish_raster_items")
    assert report["noop"] and "already unpublished" in report["message"]
    assert "audit #" in report["message"]
    assert len(audit_rows(pub.dsn, *pub.ids("solo/a.tif"))) == 1


def test_delete_blobs_false_keeps_the_blobs(pub: Published) -> None:
    before = pub.silver("keep/b.tif")
    assert before
    pub.run("keep/b.tif", dry_run=False, delete_blobs=False)
    assert pub.silver("keep/b.tif") == before  # byte for byte: same sizes and etags
    assert pub.item("keep/b.tif") is None
    [row] = audit_rows(pub.dsn, *pub.ids("keep/b.tif"))
    assert row["delete_blobs"] is False and row["status"] == "completed"
    # Running again with the same flags: nothing to do.
    again = pub.run("keep/b.tif", dry_run=False, delete_blobs=False)
    assert again.output_for_node("unpublish_raster_items")["noop"]
    # Asking for the blobs now removes what was kept (from the audit record).
    pub.run("keep/b.tif", dry_run=False)
    assert pub.silver("keep/b.tif") == {}
    assert [r["status"] for r in audit_rows(pub.dsn, *pub.ids("keep/b.tif"))] == ["completed"] * 2


def test_protected_collection_survives(pub: Published) -> None:
    res = pub.run("system/c.tif", dry_run=False)
    report = res.output_for_node("unpublish_raster_items")
    assert report["collection"]["protected"] and not report["collection"]["would_be_deleted"]
    assert pub.item("system/c.tif") is None and pub.silver("system/c.tif") == {}
    collection = pub.collection("system/c.tif")
    assert collection is not None and collection["id"].startswith("system-")


def test_unknown_item_or_wrong_kind_fails_before_touching_anything(pub: Published) -> None:
    before = listing(pub.store, "silver")
    collection, real_id = pub.ids("bad/u.tif")
    res = pub.run("bad/u.tif", raise_on_error=False, dry_run=False,
                  item_ids=[real_id, "no-such-item.tif"])  # fmt: skip
    assert not res.success
    failure = res.get_step_failure_events()[0].step_failure_data
    assert "no-such-item.tif" in failure.user_failure_data.description
    assert "nothing was changed" in failure.user_failure_data.description
    assert len(res.get_step_failure_events()) == 1  # a permanent error: no retries
    assert listing(pub.store, "silver") == before
    assert pub.item("bad/u.tif") is not None
    assert audit_rows(pub.dsn, collection, real_id) == []
    # The vector job refuses a raster item, again before touching anything.
    from geo_platform.defs.lifecycle.jobs import unpublish_vector

    res = unpublish_vector.execute_in_process(
        run_config=unpublish_run_config(
            "vector", item_ids=[real_id], collection=collection, dry_run=False
        ),
        instance=pub.inst, resources=pub.resources, raise_on_error=False,
    )  # fmt: skip
    assert not res.success
    desc = res.get_step_failure_events()[0].step_failure_data.user_failure_data.description
    assert "raster item" in desc and "unpublish_raster" in desc
    assert listing(pub.store, "silver") == before and pub.item("bad/u.tif") is not None


def test_sibling_item_and_collection_stay(pub: Published) -> None:
    keep_before = pub.silver("pair/h.tif")
    pub.run("pair/g.tif", dry_run=False)
    assert pub.silver("pair/g.tif") == {} and pub.item("pair/g.tif") is None
    assert pub.silver("pair/h.tif") == keep_before and pub.item("pair/h.tif") is not None
    coll = pub.collection("pair/h.tif")
    assert coll is not None
    # The extent now follows the one remaining item.
    h = pub.item("pair/h.tif")
    assert coll["extent"]["spatial"]["bbox"][0] == pytest.approx(h["bbox"], abs=1e-6)


def test_failure_halfway_is_recorded_and_a_rerun_completes(pub: Published) -> None:
    """The database becomes unreachable right after the first blob is deleted."""
    collection, iid = pub.ids("half/d.tif")
    dsn = {"url": pub.dsn}
    dead = f"postgresql://nobody@127.0.0.1:{TcpForwarder(1).port}/nothing"

    def connect():
        return psycopg.connect(dsn["url"], connect_timeout=3)

    def break_db_after_first_blob(msg: str) -> None:
        if msg.startswith("deleted blob"):
            dsn["url"] = dead

    with psycopg.connect(pub.dsn) as conn:
        plan = plan_unpublish(conn, pub.store, collection=collection, item_ids=[iid],
                              silver_container="silver", geo_schema="geo")  # fmt: skip
    with pytest.raises(psycopg.OperationalError) as err:
        execute_unpublish(plan, connect, pub.store, who="pytest", log=break_db_after_first_blob)
    assert is_retryable(err.value)
    assert pub.silver("half/d.tif") == {}  # the blob step finished
    assert pub.item("half/d.tif") is not None  # the item step never ran
    [row] = audit_rows(pub.dsn, collection, iid)
    assert row["status"] == "started"  # recorded before anything was removed
    # Re-run: re-planned from what is left (the item still exists, its blobs are gone).
    dsn["url"] = pub.dsn
    with psycopg.connect(pub.dsn) as conn:
        plan = plan_unpublish(conn, pub.store, collection=collection, item_ids=[iid],
                              silver_container="silver", geo_schema="geo")  # fmt: skip
    assert all(b.size is None for b in plan.items[0].blobs)
    done = execute_unpublish(plan, connect, pub.store, who="pytest")
    assert done.collection_deleted and pub.item("half/d.tif") is None
    rows = audit_rows(pub.dsn, collection, iid)
    assert [r["status"] for r in rows] == ["failed", "completed"]
    assert "completed by audit" in rows[0]["error"]


def test_failure_after_item_deletion_resumes_from_the_audit(pub: Published) -> None:
    """The database goes away after the item is deleted: only the audit knows the item."""
    collection, iid = pub.ids("resume/k.tif")
    dsn = {"url": pub.dsn}

    def connect():
        return psycopg.connect(dsn["url"], connect_timeout=3)

    def break_after_item(msg: str) -> None:
        if msg.startswith("deleted STAC item"):
            dsn["url"] = "postgresql://nobody@127.0.0.1:1/nothing"

    with psycopg.connect(pub.dsn) as conn:
        plan = plan_unpublish(conn, pub.store, collection=collection, item_ids=[iid],
                              silver_container="silver", geo_schema="geo")  # fmt: skip
    with pytest.raises(psycopg.OperationalError):
        execute_unpublish(plan, connect, pub.store, who="pytest", log=break_after_item)
    assert pub.item("resume/k.tif") is None and pub.collection("resume/k.tif") is not None
    assert audit_rows(pub.dsn, collection, iid)[0]["status"] == "started"
    dsn["url"] = pub.dsn
    with psycopg.connect(pub.dsn) as conn:
        plan = plan_unpublish(conn, pub.store, collection=collection, item_ids=[iid],
                              silver_container="silver", geo_schema="geo")  # fmt: skip
    assert plan.items[0].state == RESUME and plan.collection_would_be_deleted
    done = execute_unpublish(plan, connect, pub.store, who="pytest")
    assert done.collection_deleted and pub.collection("resume/k.tif") is None
    assert [r["status"] for r in audit_rows(pub.dsn, collection, iid)] == ["failed", "completed"]


def test_op_retries_when_the_database_is_briefly_down(pub: Published) -> None:
    """A real connection failure (the server hangs up during the handshake): the op's retry
    policy retries with backoff and the run succeeds."""
    port = int(psycopg.conninfo.conninfo_to_dict(pub.dsn).get("port") or 5432)
    proxy = TcpForwarder(port, drop_first=1)
    via_proxy = psycopg.conninfo.make_conninfo(pub.dsn, host="127.0.0.1", port=str(proxy.port))
    resources = {**pub.resources, "postgis": PostGISResource(database_url=via_proxy)}
    proxy.start()
    try:
        collection, iid = pub.ids("retry/r.tif")
        res = unpublish_raster.execute_in_process(
            run_config=unpublish_run_config("raster", item_ids=[iid], collection=collection,
                                            dry_run=False),
            instance=pub.inst, resources=resources,
        )  # fmt: skip
    finally:
        proxy.stop()
    assert res.success and proxy.dropped == 1
    [retry] = [e for e in res.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert "DatabaseUnavailableError" in retry.event_specific_data.error.to_string()
    assert pub.item("retry/r.tif") is None and pub.silver("retry/r.tif") == {}


def test_observation_not_wipe_keeps_automation_from_republishing(pub: Published) -> None:
    """Why unpublish records an observation instead of wiping the partition: the open-source
    event log storages (SQLite and PostgreSQL) do not implement partition wipes, and silver
    assets are ``eager()``, under which a wiped (newly missing) partition would be re-published
    while its bronze file exists. An observation leaves automation quiet."""
    from geo_platform.definitions import defs

    selection = dg.AssetSelection.assets("raster_cog", "raster_stac_item")
    first = dg.evaluate_automation_conditions(defs, pub.inst, asset_selection=selection)
    pub.run("auto/w.tif", dry_run=False)
    after = dg.evaluate_automation_conditions(
        defs, pub.inst, asset_selection=selection, cursor=first.cursor
    )
    assert after.total_requested == 0
    key = naming.partition_key_for_blob(pub.blob("auto/w.tif"))
    with pytest.raises(NotImplementedError):
        pub.inst.wipe_asset_partitions(dg.AssetKey("raster_cog"), [key])


def test_blobs_other_items_use_are_kept(pub: Published) -> None:
    """A duplicate published as a pointer item to the original's COG: unpublishing the
    original keeps that one file (and says so); everything else goes."""
    original = pub.item("shared/s.tif")
    assert original is not None
    pointer = json.loads(json.dumps(original))
    pointer["id"], pointer["collection"] = "pointer.tif", f"{pub.prefix}-pointers"
    pointer["assets"] = {"analysis": original["assets"]["analysis"]}
    pointer["links"] = []
    cog = blob_path_for_href(pub.store, "silver", original["assets"]["analysis"]["href"])
    with psycopg.connect(pub.dsn) as conn:
        pgstac.upsert_collection(conn, dataset_collection(pointer["collection"], "t", "raster"))
        pgstac.upsert_items(conn, [pointer])
        conn.commit()
    try:
        res = pub.run("shared/s.tif", dry_run=False)
        report = res.output_for_node("unpublish_raster_items")
        [entry] = report["items"]
        assert entry["shared_blobs"] == [
            {"path": cog, "referenced_by": [f"{pointer['collection']}/pointer.tif"]}
        ]
        assert cog not in {b["path"] for b in entry["blobs"]}
        assert set(pub.silver("shared/s.tif")) == {cog}
        assert pub.item("shared/s.tif") is None
    finally:
        delete_collections(pub.dsn, [pointer["collection"]])
