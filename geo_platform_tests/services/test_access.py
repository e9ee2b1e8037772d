"""Least privilege, proven by connecting AS each role (trust auth still enforces privileges).

The local cluster trusts loopback connections, so a role needs no password here; what it may
do is decided by its privileges alone, which is exactly what these tests exercise.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from geo_platform.services.access import ensure_access, ensure_roles
from geo_platform.settings import Settings, load_settings, redact_url
from geo_platform.store import pgstac, postgis
from geo_platform_tests.fixtures.promotion import (
    Dataset,
    drop_dataset,
    make_dataset,
)

DENIED = (errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction)


@pytest.fixture(scope="module")
def published(pg_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dataset]:
    """A dataset in staging, promoted to production (so both sides have a geo table)."""
    from geo_platform.workflows.promote import PromotionRequest, promote

    settings = load_settings()
    ds = make_dataset(settings, tmp_path_factory.mktemp("access"))
    with ds.promoter() as (src, dst):
        promote(src, dst, ds.source, ds.target, PromotionRequest(ds.collection), dry_run=False)
    try:
        yield ds
    finally:
        drop_dataset(ds)


def _as(settings: Settings, kind: str, target: str) -> psycopg.Connection[Any]:
    return psycopg.connect(settings.role_url(kind, target), autocommit=True)


def _denied(conn: psycopg.Connection[Any], statement: str | sql.Composable, *args: Any) -> None:
    with pytest.raises(DENIED):
        conn.execute(statement, args or None)  # type: ignore[arg-type]


def _item_json(ds: Dataset) -> str:
    return json.dumps(
        {
            "type": "Feature",
            "stac_version": "1.1.0",
            "id": "intruder",
            "collection": ds.collection,
            "geometry": {"type": "Point", "coordinates": [0, 0]},
            "bbox": [0, 0, 0, 0],
            "properties": {"datetime": "2026-01-01T00:00:00Z"},
            "links": [],
            "assets": {},
        }
    )


@pytest.mark.parametrize("target", ["staging", "production"])
def test_reader_can_read_but_not_write(published: Dataset, target: str) -> None:
    ds, t = published, sql.Identifier(published.table)
    with _as(ds.settings, "reader", target) as conn:
        assert conn.execute(sql.SQL("SELECT count(*) FROM geo.{}").format(t)).fetchone() == (100,)
        pgstac.prepare(conn)
        assert pgstac.get_item(conn, ds.collection, ds.vector_id) is not None
        found = conn.execute(
            "SELECT search(%s::jsonb)", (json.dumps({"collections": [ds.collection]}),)
        ).fetchone()
        assert found is not None and len(found[0]["features"]) == 2
        _denied(conn, sql.SQL("INSERT INTO geo.{} (fid) VALUES (-1)").format(t))
        _denied(conn, sql.SQL("UPDATE geo.{} SET name = 'x'").format(t))
        _denied(conn, sql.SQL("DELETE FROM geo.{}").format(t))
        _denied(conn, sql.SQL("DROP TABLE geo.{}").format(t))
        _denied(conn, "CREATE TABLE geo.intruder (x int)")
        _denied(conn, "CREATE TABLE pgstac.intruder (x int)")
        _denied(conn, "CREATE TABLE public.intruder (x int)")
        _denied(conn, "DELETE FROM pgstac.items WHERE collection = %s", ds.collection)
        _denied(
            conn, "UPDATE pgstac.collections SET content = content WHERE id = %s", ds.collection
        )
        _denied(conn, "SELECT pgstac.upsert_items(%s::jsonb)", f"[{_item_json(ds)}]")
        _denied(conn, "SELECT pgstac.create_item(%s::jsonb)", _item_json(ds))
        _denied(conn, "SELECT pgstac.delete_item(%s, %s)", ds.vector_id, ds.collection)
        _denied(conn, "SELECT pgstac.delete_collection(%s)", ds.collection)
        _denied(conn, "SELECT pgstac.upsert_collection(%s::jsonb)", "{}")
    with ds.production() as conn:  # nothing changed
        assert pgstac.get_item(conn, ds.collection, ds.vector_id) is not None


@pytest.mark.parametrize("target", ["staging", "production"])
def test_reader_has_what_the_servers_need(published: Dataset, target: str) -> None:
    """TEMPORARY (tipg's pg_temp functions, titiler-pgstac's mosaic searches) and pgstac's
    context on (numberMatched), on both databases; still nothing to write to."""
    ds = published
    with _as(ds.settings, "reader", target) as conn:
        conn.execute("CREATE TEMPORARY TABLE scratch (x int)")
        conn.execute("CREATE FUNCTION pg_temp.twice(x int) RETURNS int AS 'SELECT 2 * x' "
                     "LANGUAGE sql")  # fmt: skip
        assert conn.execute("SELECT pg_temp.twice(21)").fetchone() == (42,)
        pgstac.prepare(conn)
        body = json.dumps({"collections": [ds.collection]})
        found = conn.execute("SELECT search(%s::jsonb)", (body,)).fetchone()
        assert found is not None and found[0]["numberMatched"] == 2
        # The mosaic path of titiler-pgstac: register a search, then a geometry search.
        registered = conn.execute("SELECT * FROM search_query(%s::jsonb)", (body,)).fetchone()
        assert registered is not None
        tile = '{"type": "Polygon", "coordinates": [[[-180,-85],[180,-85],[180,85],[-180,85],' \
               '[-180,-85]]]}'  # fmt: skip
        rows = conn.execute(
            "SELECT geometrysearch(ST_GeomFromGeoJSON(%s), %s, '{}'::jsonb, 10)",
            (tile, registered[0]),
        ).fetchone()
        assert rows is not None and len(rows[0]["features"]) >= 1
        _denied(conn, "CREATE TABLE public.intruder (x int)")


@pytest.mark.parametrize("target", ["staging", "production"])
def test_reader_cannot_read_secrets(published: Dataset, target: str) -> None:
    ds = published
    url = ds.settings.database_url if target == "staging" else ds.settings.production_database_url
    secret = f"s3cret-{uuid.uuid4().hex}"
    names = [f"zz_secret_{uuid.uuid4().hex[:8]}" for _ in range(3)]
    with psycopg.connect(url, autocommit=True) as admin:  # a secrets table in three places
        for schema, name in zip(["audit", "public", "pgstac"], names, strict=True):
            admin.execute(
                sql.SQL("CREATE TABLE {}.{} (v text)").format(
                    sql.Identifier(schema), sql.Identifier(name)
                )
            )
            admin.execute(
                sql.SQL("INSERT INTO {}.{} VALUES (%s)").format(
                    sql.Identifier(schema), sql.Identifier(name)
                ),
                (secret,),
            )
        # pgstac's migration sets default privileges: whatever the migrating role creates in
        # the pgstac schema is readable by pgstac_read. A table without a grant is not:
        admin.execute(
            sql.SQL("REVOKE ALL ON pgstac.{} FROM pgstac_read, pgstac_ingest").format(
                sql.Identifier(names[2])
            )
        )
    try:
        with _as(ds.settings, "reader", target) as conn:
            _denied(conn, "SELECT * FROM pg_authid")
            _denied(conn, "SELECT passwd FROM pg_shadow")
            _denied(conn, "SELECT * FROM pg_read_file('postgresql.conf')")
            for schema, name in zip(["audit", "public", "pgstac"], names, strict=True):
                _denied(
                    conn,
                    sql.SQL("SELECT * FROM {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(name)
                    ),
                )
            if target == "production":
                _denied(conn, "SELECT * FROM audit.promotions")
            # Every pgstac table the reader holds no grant on is really closed to it.
            closed = conn.execute(
                """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'pgstac' AND c.relkind IN ('r', 'p', 'v')
                     AND NOT has_table_privilege(c.oid, 'SELECT')"""
            ).fetchall()
            assert names[2] in {r[0] for r in closed}
            for (rel,) in closed:
                _denied(
                    conn, sql.SQL("SELECT 1 FROM pgstac.{} LIMIT 1").format(sql.Identifier(rel))
                )
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            for schema, name in zip(["audit", "public", "pgstac"], names, strict=True):
                admin.execute(
                    sql.SQL("DROP TABLE {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
                )


def test_reader_cannot_open_dagster_run_history(published: Dataset) -> None:
    url = published.settings.role_url("reader").rsplit("/", 1)[0] + "/dagster"
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(url).close()


def test_writer_publishes_to_staging_but_cannot_touch_production(published: Dataset) -> None:
    ds, settings = published, published.settings
    table = f"w{uuid.uuid4().hex[:8]}"
    import pyarrow as pa

    from geo_platform.lib.vector import wkb

    data = pa.table(
        {"v": pa.array([1, 2]), "geom": wkb.multipoint_wkb([0.0, 1.0], [0.0, 1.0], None)}
    )
    with _as(settings, "writer", "staging") as conn:
        conn.autocommit = False
        postgis.ensure_schema(conn, "geo")
        loaded = postgis.load_layer(
            conn, data, schema="geo", table=table, geometry_type="MultiPoint"
        )
        conn.commit()
        assert loaded.rows == 2
        postgis.load_layer(conn, data, schema="geo", table=table, geometry_type="MultiPoint")
        conn.commit()  # and replace it again (the writer owns what it created)
        postgis.drop_table(conn, "geo", table)
        pgstac.upsert_items(conn, [json.loads(_item_json(ds))])
        conn.commit()
        assert pgstac.get_item(conn, ds.collection, "intruder") is not None
        conn.execute("SELECT delete_item('intruder', %s)", (ds.collection,))
        conn.commit()
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        _as(settings, "writer", "production").close()
    # Even if CONNECT were granted by mistake, production's tables are out of its reach.
    db = sql.Identifier(settings.production_database_url.rsplit("/", 1)[1])
    role = sql.Identifier(settings.writer_role)
    with ds.production() as admin:
        admin.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, role))
    try:
        with _as(settings, "writer", "production") as conn:
            t = sql.Identifier(ds.table)
            _denied(conn, sql.SQL("DROP TABLE geo.{}").format(t))
            _denied(conn, sql.SQL("DELETE FROM geo.{}").format(t))
            _denied(conn, sql.SQL("ALTER TABLE geo.{} RENAME TO x").format(t))
            _denied(conn, "SELECT * FROM audit.promotions")
    finally:
        with ds.production() as admin:
            admin.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(db, role))
    with ds.production() as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM geo.{}").format(sql.Identifier(ds.table)))
        assert row.fetchone() == (100,)


def test_writer_stamps_its_tables_and_a_clashing_file_is_refused(
    published: Dataset, tmp_path: Path
) -> None:
    from geo_platform.lib.errors import NameClashError
    from geo_platform.store.table_owner import table_source
    from geo_platform.store.vector_load import publish_vector_file

    settings, table = published.settings, f"w{uuid.uuid4().hex[:8]}"
    point = {"type": "Feature", "properties": {"v": 1}, "geometry": {"type": "Point",
             "coordinates": [1, 2]}}  # fmt: skip
    path = tmp_path / "roads.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [point]}))
    with _as(settings, "writer", "staging") as conn:
        load = {"schema": "geo", "table_base": table, "parquet_dir": None}
        publish_vector_file(conn, path, source_name="f/roads.geojson", **load)
        with pytest.raises(NameClashError, match=r"f/roads\.geojson"):
            publish_vector_file(conn, path, source_name="f/roads.gpkg", **load)
        publish_vector_file(conn, path, source_name="f/roads.geojson", **load)  # its own again
    with _as(settings, "reader", "staging") as conn:  # the stamp is readable by the servers
        assert table_source(conn, "geo", table) == "f/roads.geojson"
    with _as(settings, "writer", "staging") as conn:
        postgis.drop_table(conn, "geo", table)


def test_promoter_reads_staging_only(published: Dataset) -> None:
    ds, t = published, sql.Identifier(published.table)
    with _as(ds.settings, "promoter", "staging") as conn:
        assert conn.execute(sql.SQL("SELECT count(*) FROM geo.{}").format(t)).fetchone() == (100,)
        _denied(conn, sql.SQL("DELETE FROM geo.{}").format(t))
        _denied(conn, sql.SQL("DROP TABLE geo.{}").format(t))
        _denied(conn, "CREATE TABLE geo.intruder (x int)")
        _denied(conn, "SELECT pgstac.upsert_items(%s::jsonb)", f"[{_item_json(ds)}]")
        _denied(conn, "SELECT pgstac.delete_collection(%s)", ds.collection)
    with _as(ds.settings, "promoter", "production") as conn:
        conn.execute("CREATE TABLE geo.zz_promoter_probe (x int)")
        conn.execute("DROP TABLE geo.zz_promoter_probe")
        _denied(conn, "DELETE FROM audit.promotions")
        _denied(conn, "UPDATE audit.promotions SET run_id = 'forged'")


def test_roles_have_no_special_attributes_and_passwords_are_hashed(pg_dsn: str) -> None:
    settings = load_settings()
    names = [settings.role_name(k) for k in ("writer", "promoter", "reader", "admin")]
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolpassword "
            "FROM pg_authid WHERE rolname = ANY(%s)",
            (names,),
        ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(names)
    for _name, sup, createrole, createdb, bypass, password in rows:
        assert not (sup or createrole or createdb or bypass)
        assert password.startswith("SCRAM-SHA-256$")


def test_setup_is_idempotent_and_names_are_configurable(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings()
    again = ensure_access(settings)
    assert again["granted"] == {"staging": False, "production": False}  # stamp unchanged
    suffix = uuid.uuid4().hex[:6]
    for kind in ("writer", "promoter", "reader", "admin"):
        monkeypatch.setenv(f"GEO_PLATFORM_{kind.upper()}_ROLE", f"zz_{kind}_{suffix}")
    custom = load_settings()
    try:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            ensure_roles(conn, custom)
            members = conn.execute(
                "SELECT pg_has_role(%s, 'pgstac_read', 'USAGE'), "
                "pg_has_role(%s, 'pgstac_ingest', 'USAGE')",
                (custom.reader_role, custom.reader_role),
            ).fetchone()
        assert members == (True, False)
        assert "dev-only" not in redact_url(custom.role_url("reader"))
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            for kind in ("writer", "promoter", "reader", "admin"):
                conn.execute(
                    sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(custom.role_name(kind)))
                )


def test_settings_never_print_passwords(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GEO_PLATFORM_READER_PASSWORD", "hunter2-never-shown")
    settings = load_settings()
    assert "hunter2" not in repr(settings)
    assert "hunter2" in settings.role_url("reader")  # but the connection gets it
    assert "hunter2" not in redact_url(settings.role_url("reader"))
