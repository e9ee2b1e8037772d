"""The production database and the least-privilege roles: the setup script of both targets.

Two publication targets: **staging** (``GEO_PLATFORM_DATABASE_URL``, where pipelines publish)
and **production** (``GEO_PLATFORM_PRODUCTION_DATABASE_URL``, what consumers and the serving
stack read; by default the database ``geo_platform_prod`` on the same server). Each has its own
``geo`` schema, pgstac and ``audit`` schema.

Roles (names from settings, passwords from ``GEO_PLATFORM_<KIND>_PASSWORD``):

The **published schemas** of staging are ``geo`` (vectors), ``h3`` (the H3 grids that the
``system-h3-grids`` items point to) and ``gold`` (the H3 aggregates). Production has ``geo`` only:
promotion copies every table an item points to into production's ``geo``.

- **writer** (pipelines): ``pgstac_ingest`` + USAGE/CREATE on the staging published schemas and
  ``audit`` (and CREATE on the staging database, because ``CREATE SCHEMA IF NOT EXISTS`` checks it
  first). No CONNECT on production: PostgreSQL roles are cluster-wide, so on a shared server the
  database-level CONNECT privilege is what keeps ``pgstac_ingest`` members out of production.
- **promoter** (the promote job): ``pgstac_read`` + SELECT on the staging published schemas; in
  production only, the privileges ``pgstac_ingest`` holds there (copied object by object, so the
  promoter cannot write staging's pgstac), CREATE on ``geo`` and INSERT on ``audit.promotions``.
- **reader** (STAC API, tiles, features: ``geo-platform serve``): ``pgstac_read`` + SELECT on
  the published schemas and TEMPORARY on the database, in both targets. TEMPORARY because tipg
  creates its helper functions in ``pg_temp`` and titiler-pgstac's collection and search mosaics
  (``pgstac.geometrysearch``) create temporary tables. No ``audit``, no Dagster database, no
  other schema.

SELECT covers tables created later too: default privileges for every role that creates tables
there (the writer, the promoter in production, the admin and the administrator running this).

Both targets also get pgstac's ``context`` setting ``on``, so searches return ``numberMatched``
(the STAC API's result count; pgstac's default is ``off``).
- **admin** (migrations only): owns the published schemas and ``audit``, member of
  ``pgstac_admin``.

Passwords are sent to the server already hashed (SCRAM, computed by libpq), so they never
appear in SQL text or server logs. The local cluster trusts loopback connections: there the
passwords are not checked, but privileges are (tests connect *as* each role).

Run ``python -m geo_platform.services.access`` against external servers (the URLs in settings
must then be an administrator's); ``services up`` runs it for the project's own cluster.
"""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql

from geo_platform.lib.h3 import GRID_SCHEMA
from geo_platform.services.pgstac_migrate import ensure_pgstac, installed_version
from geo_platform.settings import Settings, load_settings, redact_url, url_with_database
from geo_platform.store import db
from geo_platform.store.promotion_audit import AUDIT_SCHEMA, ensure_audit_table

ACCESS_VERSION = "geo_platform-access-v4"
ROLE_KINDS = ("writer", "promoter", "reader", "admin")
GOLD_SCHEMA = "gold"
"""Schema of the H3 aggregates: ``defs.analytics.assets.GOLD_SCHEMA`` (not imported: Dagster)."""


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def database_name(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def published_schemas(settings: Settings) -> list[str]:
    """Staging schemas the pipelines write and the servers read: vectors, H3 grids, aggregates."""
    return [settings.geo_schema, GRID_SCHEMA, GOLD_SCHEMA]


# --- production database -----------------------------------------------------------------------
def ensure_production_database(settings: Settings) -> str:
    """Create the production database if missing and migrate its pgstac (idempotent)."""
    url = settings.production_database_url
    name = database_name(url)
    with db.connect(url_with_database(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(_ident(name)))
    ensure_pgstac(settings, url=url)
    return url


# --- roles -----------------------------------------------------------------------------------
def ensure_roles(conn: psycopg.Connection[Any], settings: Settings) -> None:
    """Create the four login roles (cluster-wide), set their passwords and pgstac memberships."""
    existing = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles").fetchall()}
    memberships = {
        "writer": "pgstac_ingest",
        "promoter": "pgstac_read",
        "reader": "pgstac_read",
        "admin": "pgstac_admin",
    }
    for kind in ROLE_KINDS:
        role = settings.role_name(kind)
        if role not in existing:
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                    "NOBYPASSRLS"
                ).format(_ident(role))
            )
        password = settings.role_password(kind)
        if password:
            hashed = conn.pgconn.encrypt_password(
                password.encode(), role.encode(), b"scram-sha-256"
            )
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    _ident(role), sql.Literal(hashed.decode())
                )
            )
        conn.execute(sql.SQL("GRANT {} TO {}").format(_ident(memberships[kind]), _ident(role)))


def _roles(settings: Settings) -> dict[str, sql.Identifier]:
    return {kind: _ident(settings.role_name(kind)) for kind in ROLE_KINDS}


def _run(conn: psycopg.Connection[Any], statements: list[sql.Composable]) -> None:
    with conn.transaction():
        for stmt in statements:
            conn.execute(stmt)


def _schemas(r: dict[str, sql.Identifier], schemas: list[sql.Identifier]) -> list[sql.Composable]:
    """``schemas`` and ``audit`` owned by the admin role; nothing for PUBLIC."""
    out: list[sql.Composable] = []
    for schema in (*schemas, _ident(AUDIT_SCHEMA)):
        out += [
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(schema, r["admin"]),
            sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(schema, r["admin"]),
            sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(schema),
        ]
    return out


def _readable(
    r: dict[str, sql.Identifier],
    schemas: list[sql.Identifier],
    creators: list[sql.Identifier],
    readers: str,
) -> list[sql.Composable]:
    """SELECT on every table and view of ``schemas``, now and later (default privileges per
    creating role)."""
    to = sql.SQL(", ").join(r[k] for k in readers.split())
    out: list[sql.Composable] = []
    for schema in schemas:
        out += [
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, to),
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema, to),
        ]
        out += [
            sql.SQL(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}"
            ).format(creator, schema, to)
            for creator in creators
        ]
    return out


def grant_staging(conn: psycopg.Connection[Any], settings: Settings) -> None:
    """Staging: the writer publishes, the promoter and the reader read."""
    r, names = _roles(settings), published_schemas(settings)
    schemas = [_ident(s) for s in names]
    db = _ident(database_name(settings.database_url))
    me = _ident(conn.execute("SELECT current_user").fetchone()[0])  # type: ignore[index]
    stmts = _schemas(r, schemas)
    stmts += [
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}, {}, {}, {}").format(
            db, r["writer"], r["promoter"], r["reader"], r["admin"]
        ),
        sql.SQL("GRANT CREATE ON DATABASE {} TO {}, {}").format(db, r["writer"], r["admin"]),
        # tipg (pg_temp functions) and titiler-pgstac mosaics (temporary tables).
        sql.SQL("GRANT TEMPORARY ON DATABASE {} TO {}").format(db, r["reader"]),
        # The lifecycle jobs (unpublish) write their audit rows here as the pipeline role.
        sql.SQL("GRANT USAGE, CREATE ON SCHEMA {} TO {}").format(_ident(AUDIT_SCHEMA), r["writer"]),
    ]
    stmts += [
        sql.SQL("GRANT USAGE, CREATE ON SCHEMA {} TO {}").format(s, r["writer"]) for s in schemas
    ]
    stmts += _readable(r, schemas, [r["writer"], r["admin"], me], "promoter reader")
    # Tables published before the roles existed belong to whoever ran the pipelines: hand them
    # to the writer so that a pipeline running as the writer can replace them.
    rows = conn.execute(
        "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(%s) "
        "AND tableowner <> %s",
        (names, settings.writer_role),
    ).fetchall()
    stmts += [
        sql.SQL("ALTER TABLE {}.{} OWNER TO {}").format(_ident(s), _ident(t), r["writer"])
        for s, t in rows
    ]
    _run(conn, [*stmts, *_serving_settings()])


def _serving_settings() -> list[sql.Composable]:
    """pgstac settings the STAC API relies on: ``context`` on (``numberMatched`` in searches)."""
    return [
        sql.SQL(
            "INSERT INTO pgstac.pgstac_settings (name, value) VALUES ('context', 'on') "
            "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value"
        )
    ]


def _copy_pgstac_ingest(conn: psycopg.Connection[Any], role: sql.Identifier) -> None:
    """Give ``role`` what ``pgstac_ingest`` may do in THIS database's pgstac schema only.

    Membership in ``pgstac_ingest`` would be cluster-wide (staging included); object grants
    stay in the database they are made in.
    """
    stmts: list[sql.Composable] = [
        sql.SQL("GRANT USAGE, CREATE ON SCHEMA pgstac TO {}").format(role),
        sql.SQL(
            "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES "
            "IN SCHEMA pgstac TO {}"
        ).format(role),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA pgstac TO {}").format(role),
        sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pgstac TO {}").format(role),
        # Item partitions that pgstac creates later (owned by pgstac_admin).
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE pgstac_admin IN SCHEMA pgstac "
            "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO {}"
        ).format(role),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE pgstac_admin IN SCHEMA pgstac "
            "GRANT USAGE, SELECT ON SEQUENCES TO {}"
        ).format(role),
    ]
    _run(conn, stmts)


def grant_production(conn: psycopg.Connection[Any], settings: Settings) -> None:
    """Production: the promoter writes, the reader reads, the writer cannot even connect."""
    r, geo = _roles(settings), _ident(settings.geo_schema)
    db = _ident(database_name(settings.production_database_url))
    me = _ident(conn.execute("SELECT current_user").fetchone()[0])  # type: ignore[index]
    stmts = _schemas(r, [geo])
    stmts += [
        sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(db),
        sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(db, r["writer"]),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}, {}, {}").format(
            db, r["promoter"], r["reader"], r["admin"]
        ),
        # pgstac's item ingest stages rows in a temporary table; tipg and titiler-pgstac
        # mosaics need temporary objects too (the reader's servers).
        sql.SQL("GRANT TEMPORARY ON DATABASE {} TO {}, {}").format(db, r["promoter"], r["reader"]),
        sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(db, r["admin"]),
        sql.SQL("GRANT USAGE, CREATE ON SCHEMA {} TO {}").format(geo, r["promoter"]),
    ]
    stmts += _readable(r, [geo], [r["promoter"], r["admin"], me], "reader")
    _run(conn, [*stmts, *_serving_settings()])
    _copy_pgstac_ingest(conn, r["promoter"])
    ensure_audit_table(conn, owner=settings.admin_role)
    _run(
        conn,
        [
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(_ident(AUDIT_SCHEMA), r["promoter"]),
            sql.SQL("GRANT SELECT, INSERT ON {}.promotions TO {}").format(
                _ident(AUDIT_SCHEMA), r["promoter"]
            ),
        ],
    )


def _stamp(settings: Settings, pgstac_version: str | None) -> str:
    names = ",".join(settings.role_name(k) for k in ROLE_KINDS)
    schemas = ",".join(published_schemas(settings))
    return f"{ACCESS_VERSION} roles={names} schemas={schemas} pgstac={pgstac_version}"


def _current_stamp(conn: psycopg.Connection[Any]) -> str | None:
    row = conn.execute(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
        (AUDIT_SCHEMA,),
    ).fetchone()
    return row[0] if row else None


def _ensure_target(url: str, settings: Settings, grant: Any) -> bool:
    """Apply ``grant`` unless this database already carries the current stamp."""
    with db.connect(url, autocommit=True) as conn:
        stamp = _stamp(settings, installed_version(conn))
        if _current_stamp(conn) == stamp:
            return False
        grant(conn, settings)
        conn.execute(
            sql.SQL("COMMENT ON SCHEMA {} IS {}").format(_ident(AUDIT_SCHEMA), sql.Literal(stamp))
        )
        return True


def ensure_access(settings: Settings, *, lock_dagster_db: str | None = None) -> dict[str, Any]:
    """Roles, passwords and grants on both targets (grants only when the stamp changed).

    ``lock_dagster_db``: a Dagster storage database on the same server whose CONNECT is
    revoked from PUBLIC (run history is nobody's business but Dagster's own user).
    """
    with db.connect(settings.database_url, autocommit=True) as conn:
        ensure_roles(conn, settings)
        if lock_dagster_db:
            conn.execute(
                sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(
                    _ident(lock_dagster_db)
                )
            )
    staging = _ensure_target(settings.database_url, settings, grant_staging)
    production = _ensure_target(settings.production_database_url, settings, grant_production)
    return {
        "roles": {k: settings.role_name(k) for k in ROLE_KINDS},
        "granted": {"staging": staging, "production": production},
    }


def access_status(settings: Settings) -> dict[str, Any]:
    """Where the two targets are (no secrets) and which roles exist."""
    return {
        "staging": {
            "url": redact_url(settings.database_url),
            "container": settings.silver_container,
        },
        "production": {
            "url": redact_url(settings.production_database_url),
            "container": settings.production_container,
        },
        "roles": {k: settings.role_name(k) for k in ROLE_KINDS},
    }


def main(argv: list[str] | None = None) -> int:
    """Set up production and the roles on the configured (administrator) URLs."""
    settings = load_settings()
    ensure_production_database(settings)
    report = ensure_access(settings)
    print(report)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
