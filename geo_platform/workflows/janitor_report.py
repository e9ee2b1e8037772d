"""What a janitor pass found, as records and as the text a person reads.

Kept apart from ``janitor`` (the scan and the removal) so each module stays small; ``janitor``
re-exports the records. ``report_lines`` turns the JSON report into text: the run log and
``geo-platform janitor`` print the same lines, and every finding is in them (damaged items with
their remedy, strays one by one), not only in ``--json``.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_LISTED = 200
PRESENT, GONE, UNKNOWN = "present", "gone", "unknown"
# The silver and catalog assets that rebuild an item from its bronze file (defs/<kind>/).
REBUILD_ASSETS = {
    "raster": "raster_cog,raster_stac_item",
    "vector": "vector_table,vector_stac_item",
}


@dataclass
class OrphanBlob:
    path: str
    size: int
    last_modified: str
    etag: str = ""


@dataclass
class DanglingItem:
    """A live item with asset(s) whose data is missing: reported with what is left and how to
    rebuild it; never removed (nor its other assets, nor its collection)."""

    collection: str
    id: str
    missing: list[str]  # the hrefs that point at nothing
    protected: bool
    missing_assets: list[str] = field(default_factory=list)  # asset keys
    intact_assets: list[str] = field(default_factory=list)  # asset keys whose data is there
    kind: str = "raster"
    source_blob: str | None = None
    bronze: str = UNKNOWN  # present | gone | unknown (no source recorded, or not checkable)
    remedy: str = ""


@dataclass
class Orphans:
    """What one janitor pass found (JSON-ready through ``report``)."""

    older_than_hours: float
    unreferenced_blobs: list[OrphanBlob] = field(default_factory=list)
    staging_blobs: list[OrphanBlob] = field(default_factory=list)
    staging_tables: list[str] = field(default_factory=list)  # schema.table
    dangling_items: list[DanglingItem] = field(default_factory=list)
    temp_dirs: list[str] = field(default_factory=list)
    upload_leftovers: list[str] = field(default_factory=list)
    strays: list[OrphanBlob] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """What a real run removes (damaged items and strays are only reported)."""
        return (
            len(self.unreferenced_blobs)
            + len(self.staging_blobs)
            + len(self.staging_tables)
            + len(self.temp_dirs)
            + len(self.upload_leftovers)
        )

    def report(self) -> dict[str, Any]:
        def blobs(items: list[OrphanBlob]) -> list[dict[str, Any]]:
            return [asdict(b) for b in items[:MAX_LISTED]]

        return {
            "older_than_hours": self.older_than_hours,
            "orphans_total": self.total,
            "unreferenced_blobs": blobs(self.unreferenced_blobs),
            "unreferenced_blob_count": len(self.unreferenced_blobs),
            "unreferenced_bytes": sum(b.size for b in self.unreferenced_blobs),
            "staging_blobs": blobs(self.staging_blobs),
            "staging_blob_count": len(self.staging_blobs),
            "staging_tables": self.staging_tables,
            "dangling_items": [asdict(d) for d in self.dangling_items[:MAX_LISTED]],
            "dangling_item_count": len(self.dangling_items),
            "temp_dirs": self.temp_dirs[:MAX_LISTED],
            "upload_leftovers": self.upload_leftovers[:MAX_LISTED],
            "strays": blobs(self.strays),
            "stray_count": len(self.strays),
            "stray_bytes": sum(b.size for b in self.strays),
            "skipped": self.skipped,
        }


def remedy(collection: str, item_id: str, kind: str, source: str | None, bronze: str) -> str:
    """What rebuilds a damaged item: the backfill of its bronze file when that is there, else
    what a person can still do (the janitor itself never removes the item)."""
    if bronze == PRESENT and source and kind in REBUILD_ASSETS:
        # ``--partitions`` takes comma-separated bronze paths: a path with a comma goes as a
        # prefix (which selects it, and any file whose path starts with it).
        option = "--prefix" if "," in source else "--partitions"
        return shlex.join(
            ["geo-platform", "backfill", "--select", REBUILD_ASSETS[kind], option, source]
        )
    unpublish = shlex.join(["geo-platform", "unpublish", item_id, "-c", collection])
    return (
        "restore the missing file(s) (re-upload the source to bronze to rebuild them), "
        f"or unpublish the item deliberately: {unpublish}"
    )


def _blob_line(what: str, b: dict[str, Any]) -> str:
    return f"  {what} {b['path']} ({b['size']} bytes, {b.get('last_modified') or '?'})"


def _damaged_lines(d: dict[str, Any]) -> list[str]:
    missing = ", ".join(d.get("missing_assets") or d["missing"])
    intact = ", ".join(d.get("intact_assets") or []) or "nothing else"
    protected = " (protected collection)" if d["protected"] else ""
    lines = [
        f"  STAC item {d['collection']}/{d['id']}{protected}: asset(s) missing: {missing}; "
        f"kept: {intact}, the item and its collection (never removed by the janitor)"
    ]
    src, bronze = d.get("source_blob"), d.get("bronze", UNKNOWN)
    if bronze == PRESENT:
        lines.append(f"    bronze file {src} is there; rebuild with: {d.get('remedy', '')}")
    elif bronze == GONE:
        lines.append(f"    bronze file gone ({src}); {d.get('remedy', '')}")
    else:
        where = f"bronze file {src} not checked" if src else "no bronze file recorded"
        lines.append(f"    {where}; {d.get('remedy', '')}")
    return lines


def _more(listed: int, total: int) -> list[str]:
    return (
        [f"  ... and {total - listed} more (the first {listed} are listed)"]
        if total > listed
        else []
    )


def report_lines(report: dict[str, Any]) -> list[str]:
    """Every finding of a janitor report (``Orphans.report()`` plus ``dry_run`` and, after a
    real run, ``removed``) as text."""
    mode = "DRY RUN (nothing changed; --apply to remove)" if report["dry_run"] else "applied"
    verb = "would remove" if report["dry_run"] else "removed"
    damaged, strays = report.get("dangling_items", []), report.get("strays", [])
    n_damaged = report.get("dangling_item_count", len(damaged))
    n_strays = report.get("stray_count", len(strays))
    out = [
        f"janitor: {report['orphans_total']} orphan(s) to remove, {n_damaged} damaged item(s) "
        f"and {n_strays} stray(s) reported [{mode}]; threshold {report['older_than_hours']:g} h"
    ]
    if report["orphans_total"]:
        out.append(f"orphans ({verb}):")
    out += [_blob_line("unreferenced blob", b) for b in report["unreferenced_blobs"]]
    out += _more(len(report["unreferenced_blobs"]), report.get("unreferenced_blob_count", 0))
    out += [_blob_line("staging blob", b) for b in report["staging_blobs"]]
    out += _more(len(report["staging_blobs"]), report.get("staging_blob_count", 0))
    out += [f"  staging table {t}" for t in report["staging_tables"]]
    out += [f"  temp folder {p}" for p in report["temp_dirs"]]
    out += [f"  half-written upload {p}" for p in report.get("upload_leftovers", [])]
    if damaged:
        out.append("damaged items (data missing; reported, nothing removed):")
        for d in damaged:
            out += _damaged_lines(d)
        out += _more(len(damaged), n_damaged)
    if strays:
        out.append("strays (outside any source folder; reported, left alone):")
        out += [_blob_line("stray blob", b) for b in strays]
        out += _more(len(strays), n_strays)
    skipped = {k: v for k, v in report.get("skipped", {}).items() if v and k != "stray"}
    if skipped:
        out.append(
            "left alone: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in skipped.items())
        )
    if "removed" in report:
        removed = {k: v for k, v in report["removed"].items() if k != "unpublish_reports"}
        out.append(f"removed: {removed}")
    return out
