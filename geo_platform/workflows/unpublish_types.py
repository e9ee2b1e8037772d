"""Records of an unpublish: the plan (inventory per item) and the result of a real run.

Kept apart from the logic (``unpublish_plan`` plans, ``unpublish`` executes) so each module
stays small; ``unpublish`` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from geo_platform.store import audit
from geo_platform.store.silver_refs import is_protected

PUBLISHED, RESUME, DONE = "published", "resume", "done"


@dataclass
class BlobEntry:
    path: str
    size: int | None  # None: the blob does not exist (any more)
    shared_with: list[str] = field(default_factory=list)  # other items whose assets use it

    @property
    def removable(self) -> bool:
        return self.size is not None and not self.shared_with


@dataclass
class TableEntry:
    schema: str
    table: str
    rows: int | None  # None: the table does not exist (any more)

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass
class ItemPlan:
    """One item: where it stands and everything that belongs to it."""

    collection: str
    id: str
    state: str  # published | resume (a previous run did not finish) | done (nothing left)
    kind: str
    source_blob: str | None
    original_run_id: str | None
    item: dict[str, Any] | None  # the full STAC item JSON (from pgstac, or from the audit)
    blobs: list[BlobEntry] = field(default_factory=list)
    tables: list[TableEntry] = field(default_factory=list)
    external_hrefs: list[str] = field(default_factory=list)
    last_audit: audit.AuditRow | None = None
    # Gold H3 aggregates of the item's tables (unpublish_dependents): silver blobs, gold tables.
    h3_blobs: list[BlobEntry] = field(default_factory=list)
    h3_tables: list[TableEntry] = field(default_factory=list)

    def inventory(self, plan: UnpublishPlan) -> dict[str, Any]:
        """JSON inventory of this item (what the report lists and the audit row stores)."""
        existing = [b for b in self.blobs if b.removable]
        tables = [t for t in self.tables if t.rows is not None]
        return {
            "collection": self.collection,
            "id": self.id,
            "state": self.state,
            "kind": self.kind,
            "source_blob": self.source_blob,
            "original_run_id": self.original_run_id,
            "silver_container": plan.silver_container,
            "blobs": [{"path": b.path, "size": b.size} for b in existing],
            "blob_bytes": sum(b.size or 0 for b in existing),
            "missing_blobs": [b.path for b in self.blobs if b.size is None],
            "shared_blobs": [
                {"path": b.path, "referenced_by": b.shared_with}
                for b in self.blobs
                if b.size is not None and b.shared_with
            ],
            "tables": [{"table": t.name, "rows": t.rows} for t in tables],
            "missing_tables": [t.name for t in self.tables if t.rows is None],
            "external_hrefs": self.external_hrefs,
            "delete_blobs": plan.delete_blobs,
            "drop_table": plan.drop_table,
            "stac_item": f"{self.collection}/{self.id}" if self.state == PUBLISHED else None,
            "h3_aggregates": {
                "blobs": [{"path": b.path, "size": b.size} for b in self.h3_blobs if b.removable],
                "tables": [
                    {"table": t.name, "rows": t.rows} for t in self.h3_tables if t.rows is not None
                ],
            },
        }

    def work_left(self, plan: UnpublishPlan) -> bool:
        blobs = plan.delete_blobs and any(b.removable for b in (*self.blobs, *self.h3_blobs))
        tables = plan.drop_table and any(
            t.rows is not None for t in (*self.tables, *self.h3_tables)
        )
        return self.state != DONE or blobs or tables


@dataclass
class UnpublishPlan:
    collection: str
    kind: str | None
    silver_container: str
    delete_blobs: bool
    drop_table: bool
    items: list[ItemPlan]
    collection_json: dict[str, Any] | None
    collection_remaining_items: int
    collection_would_be_deleted: bool
    # DuckDB catalog views reading removed files (unpublish_dependents.ViewEntry), the catalog file,
    # and what production holds (unpublish_dependents.production_copies; None: not configured).
    views: list[Any] = field(default_factory=list)
    catalog_path: str | None = None
    production: dict[str, Any] | None = None

    @property
    def collection_protected(self) -> bool:
        return is_protected(self.collection)

    @property
    def noop(self) -> bool:
        return (
            not self.collection_would_be_deleted
            and not any(i.work_left(self) for i in self.items)
            and not self.views
        )

    def production_warning(self) -> str | None:
        """Production copies are never removed by unpublish: say so, and what removes them."""
        prod = self.production
        if prod is None:
            return None
        if not prod.get("checked"):
            return (
                "WARNING: production could not be checked "
                f"({prod.get('error', 'unknown error')}); if {self.collection} was promoted, "
                f"remove it with: geo-platform demote {self.collection} --apply"
            )
        if not prod.get("items"):
            return None
        return (
            f"WARNING: production still holds {len(prod['items'])} of these item(s) in "
            f"{self.collection} ({', '.join(prod['items'])}); unpublish never changes "
            f"production. Remove them with: {prod['command']}"
        )

    def message(self, dry_run: bool = False) -> str:
        """One line: what the run does (``dry_run``: what it would do)."""
        if self.noop:
            lines = [f"nothing to do: {len(self.items)} item(s) already unpublished"]
            for i in self.items:
                if i.last_audit is not None:
                    a = i.last_audit
                    when = a.finished_at or a.started_at
                    lines.append(
                        f"{i.collection}/{i.id}: unpublished {when:%Y-%m-%d %H:%M:%S %Z} by "
                        f"{a.who} (audit #{a.id})"
                    )
            return "; ".join(lines)
        n = sum(1 for i in self.items if i.state == PUBLISHED)
        resumed = sum(1 for i in self.items if i.state == RESUME)
        if dry_run:
            extra = f", would complete {resumed} earlier unpublish(es)" if resumed else ""
            if self.views:
                extra += f", would drop {len(self.views)} DuckDB view(s)"
            return f"would unpublish {n} item(s) from {self.collection!r}{extra}"
        extra = f", completing {resumed} earlier unpublish(es)" if resumed else ""
        if self.views:
            extra += f", dropping {len(self.views)} DuckDB view(s)"
        return f"unpublishing {n} item(s) from {self.collection!r}{extra}"

    def report(self, dry_run: bool) -> dict[str, Any]:
        """Everything the run would remove (dry run) or is about to remove, JSON-ready."""
        items = [i.inventory(self) for i in self.items]
        for entry, i in zip(items, self.items, strict=True):
            entry["stac_item_json"] = i.item if i.state == PUBLISHED else None
        act_blobs = self.delete_blobs
        act_tables = self.drop_table
        h3 = [e["h3_aggregates"] for e in items]
        return {
            "dry_run": dry_run,
            "noop": self.noop,
            "message": self.message(dry_run),
            "kind": self.kind,
            "delete_blobs": self.delete_blobs,
            "drop_table": self.drop_table,
            "items": items,
            "totals": {
                "items": sum(1 for i in self.items if i.state == PUBLISHED),
                "blobs": sum(len(e["blobs"]) for e in items) if act_blobs else 0,
                "bytes": sum(e["blob_bytes"] for e in items) if act_blobs else 0,
                "tables": sum(len(e["tables"]) for e in items) if act_tables else 0,
                "rows": sum(t["rows"] for e in items for t in e["tables"]) if act_tables else 0,
                "kept_blobs": 0 if act_blobs else sum(len(e["blobs"]) for e in items),
                "kept_tables": 0 if act_tables else sum(len(e["tables"]) for e in items),
                "h3_blobs": sum(len(h["blobs"]) for h in h3) if act_blobs else 0,
                "h3_tables": sum(len(h["tables"]) for h in h3) if act_tables else 0,
                "duckdb_views": len(self.views),
            },
            "dependents": {
                "h3_blobs": [b["path"] for h in h3 for b in h["blobs"]],
                "h3_tables": [t["table"] for h in h3 for t in h["tables"]],
                "duckdb_views": [
                    {"view": v.name, "source": v.source, "item": v.item} for v in self.views
                ],
                "duckdb_catalog": self.catalog_path,
                "production": self.production,
                "production_warning": self.production_warning(),
            },
            "collection": {
                "id": self.collection,
                "exists": self.collection_json is not None,
                "protected": self.collection_protected,
                "remaining_items": self.collection_remaining_items,
                "would_be_deleted": self.collection_would_be_deleted,
            },
        }


@dataclass
class UnpublishResult:
    """What a real run did (per item), and its audit rows."""

    message: str
    noop: bool
    items: list[dict[str, Any]] = field(default_factory=list)
    collection_deleted: bool = False
    audit_ids: list[int] = field(default_factory=list)
    duckdb_catalog: dict[str, Any] | None = None  # views dropped from the catalog (if any)

    def report(self) -> dict[str, Any]:
        return {
            "dry_run": False,
            "noop": self.noop,
            "message": self.message,
            "items": self.items,
            "collection_deleted": self.collection_deleted,
            "audit_ids": self.audit_ids,
            "duckdb_catalog": self.duckdb_catalog,
        }
