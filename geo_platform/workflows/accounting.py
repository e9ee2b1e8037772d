"""Storage accounting: bytes by container, tier, collection and format, and what they cost.

Why: the platform keeps three COG tiers, thumbnails, GeoParquet copies and the bronze originals;
people need to know where the bytes are and what a month of them costs, per tier, so that
decisions (drop the archive tier for a dataset, move bronze to a colder access tier) rest on
numbers. Everything here is pure: blob listings, the pgstac source->collection map and PostGIS
relation sizes come in; a ``StorageReport`` goes out.

Tiers come from file names in the silver layout (``naming.silver_prefix(blob)/``):
``analysis.tif``, ``visualization.tif``, ``archive.tif``, ``thumbnail.png``, ``*.parquet``,
``stac/*.json``; anything else in silver is ``other`` (``reports/...`` is ``reports``,
``_staging/...`` is ``staging``), and every bronze blob is ``bronze``.

Prices: ``DEFAULT_PRICE_TABLE`` holds Azure Blob Storage pay-as-you-go list prices for block
blobs, LRS, region East US 2, first 50 TB per month, in USD per GB-month, as published on the
Azure Blob Storage pricing page and checked in November 2026 (hot 0.0184, cool 0.01, cold 0.0036,
archive 0.002). They are estimates: transactions, reads from cool/archive, early deletion and
egress are not included, and prices differ by region, redundancy and agreement. Override them
with ``GEO_PLATFORM_PRICES`` (JSON, see ``parse_price_table``). Azure bills a GB as 2**30 bytes.
"""

from __future__ import annotations

import json
import posixpath
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from geo_platform.lib.errors import ConfigError
from geo_platform.lib.naming import collection_id, silver_prefix
from geo_platform.lib.stac_ext import SOURCE_BLOB
from geo_platform.store import pgstac

TIER_FILES = {
    "analysis.tif": "analysis",
    "visualization.tif": "visualization",
    "archive.tif": "archive",
    "thumbnail.png": "thumbnail",
}
TIERS = (
    "bronze",
    "analysis",
    "visualization",
    "archive",
    "thumbnail",
    "parquet",
    "stac",
    "reports",
    "staging",
    "other",
)
UNPUBLISHED = "(unpublished)"
REPORTS = "(reports)"
BYTES_PER_GB = 2**30

DEFAULT_PRICES = {"hot": 0.0184, "cool": 0.01, "cold": 0.0036, "archive": 0.002}
DEFAULT_TIER_MAP = {
    "bronze": "cool",
    "analysis": "hot",
    "visualization": "hot",
    "archive": "cool",
    "thumbnail": "hot",
    "parquet": "hot",
    "stac": "hot",
    "reports": "hot",
    "staging": "hot",
    "other": "hot",
}


@dataclass(frozen=True)
class PriceTable:
    """USD (or ``currency``) per GB-month by access tier, and our tier -> access tier."""

    prices: dict[str, float]
    tier_map: dict[str, str]
    currency: str = "USD"
    region: str = "East US 2"
    redundancy: str = "LRS"
    as_of: str = "2026-11"
    source: str = "Azure Blob Storage pricing page, pay-as-you-go list price, first 50 TB/month"
    database_per_gb: float | None = None

    def price_of(self, tier: str) -> float:
        return self.prices[self.tier_map.get(tier, self.tier_map.get("other", "hot"))]

    def describe(self) -> dict[str, Any]:
        return {
            "prices_per_gb_month": self.prices,
            "tier_map": self.tier_map,
            "currency": self.currency,
            "region": self.region,
            "redundancy": self.redundancy,
            "as_of": self.as_of,
            "source": self.source,
            "database_per_gb_month": self.database_per_gb,
        }


DEFAULT_PRICE_TABLE = PriceTable(dict(DEFAULT_PRICES), dict(DEFAULT_TIER_MAP))
_TABLE_KEYS = {
    "prices",
    "tiers",
    "currency",
    "region",
    "redundancy",
    "as_of",
    "source",
    "database_per_gb",
}


def parse_price_table(text: str) -> PriceTable:
    """``GEO_PLATFORM_PRICES``: empty for the defaults, or JSON such as
    ``{"prices": {"hot": 0.02, "cool": 0.011}, "tiers": {"archive": "archive"},
    "region": "West Europe", "as_of": "2027-01", "database_per_gb": 0.115}``
    (given keys override the defaults) or a flat ``{"hot": 0.02, ...}``."""
    if not text.strip():
        return DEFAULT_PRICE_TABLE
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"GEO_PLATFORM_PRICES is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError("GEO_PLATFORM_PRICES must be a JSON object")
    if not set(raw) & _TABLE_KEYS:
        raw = {"prices": raw}
    unknown = set(raw) - _TABLE_KEYS
    if unknown:
        raise ConfigError(f"GEO_PLATFORM_PRICES: unknown keys {sorted(unknown)}")
    try:
        given = {str(k): float(v) for k, v in dict(raw.get("prices", {})).items()}
        tier_map = {**DEFAULT_TIER_MAP, **{str(k): str(v) for k, v in raw.get("tiers", {}).items()}}
        db = raw.get("database_per_gb")
        db_price = None if db is None else float(db)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"GEO_PLATFORM_PRICES: prices must be numbers ({exc})") from exc
    prices = {**DEFAULT_PRICES, **given}
    missing = sorted({t for t in tier_map.values() if t not in prices})
    if missing or any(p < 0 for p in prices.values()):
        raise ConfigError(f"GEO_PLATFORM_PRICES: no valid price for access tiers {missing}")
    base = DEFAULT_PRICE_TABLE
    return PriceTable(
        prices=prices,
        tier_map=tier_map,
        currency=str(raw.get("currency", base.currency)),
        region=str(raw.get("region", base.region if "prices" not in raw else "custom")),
        redundancy=str(raw.get("redundancy", base.redundancy)),
        as_of=str(raw.get("as_of", base.as_of if "prices" not in raw else "custom")),
        source=str(raw.get("source", "GEO_PLATFORM_PRICES")),
        database_per_gb=db_price,
    )


# --- classification --------------------------------------------------------------------------
def tier_of(path: str, *, bronze: bool) -> str:
    """Our storage tier of a blob from its container and its name in the silver layout."""
    if bronze:
        return "bronze"
    if path.startswith("_staging/"):
        return "staging"
    if path.startswith("reports/"):
        return "reports"
    name = posixpath.basename(path)
    if name in TIER_FILES:
        return TIER_FILES[name]
    if name.lower().endswith(".parquet"):
        return "parquet"
    if posixpath.basename(posixpath.dirname(path)) == "stac" and name.endswith(".json"):
        return "stac"
    return "other"


def format_of(path: str) -> str:
    """File format by extension ('tif', 'parquet', 'tar.gz'...; 'none' without one)."""
    name = posixpath.basename(path).lower()
    for double in (".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst", ".nc.gz", ".csv.gz"):
        if name.endswith(double):
            return double[1:]
    ext = posixpath.splitext(name)[1]
    return ext[1:] if ext else "none"


def collection_of_silver(path: str, prefixes: Mapping[str, str]) -> str:
    """The collection a silver blob belongs to, via its owning source folder."""
    if path.startswith("reports/"):
        return REPORTS
    parts = path.split("/")
    for k in range(len(parts) - 1, 0, -1):
        found = prefixes.get("/".join(parts[:k]))
        if found is not None:
            return found
    return UNPUBLISHED


def silver_collections(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """silver prefix -> collection, from the sources recorded in pgstac items."""
    pgstac.prepare(conn)
    rows = conn.execute(
        """SELECT DISTINCT content->'properties'->>%(source)s, collection
           FROM items WHERE content->'properties' ? %(source)s""",
        {"source": SOURCE_BLOB},
    ).fetchall()
    return {silver_prefix(source): coll for source, coll in rows}


def table_sizes(conn: psycopg.Connection[Any], schema: str) -> dict[str, int]:
    """Bytes on disk (table, indexes and TOAST) of every table in ``schema``."""
    rows = conn.execute(
        """SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'm') ORDER BY c.relname""",
        (schema,),
    ).fetchall()
    return {name: int(size) for name, size in rows}


# --- the report ------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredBlob:
    container: str
    path: str
    size: int


@dataclass
class StorageReport:
    blobs: int = 0
    total_bytes: int = 0
    by_container: dict[str, int] = field(default_factory=dict)
    by_tier: dict[str, int] = field(default_factory=dict)
    by_collection: dict[str, int] = field(default_factory=dict)
    by_format: dict[str, int] = field(default_factory=dict)
    by_access_tier: dict[str, int] = field(default_factory=dict)
    monthly_cost_by_tier: dict[str, float] = field(default_factory=dict)
    monthly_cost_by_access_tier: dict[str, float] = field(default_factory=dict)
    database_bytes: dict[str, int] = field(default_factory=dict)
    database_monthly_cost: float | None = None
    prices: dict[str, Any] = field(default_factory=dict)

    @property
    def monthly_cost_total(self) -> float:
        blob_cost = sum(self.monthly_cost_by_tier.values())
        return round(blob_cost + (self.database_monthly_cost or 0.0), 6)

    def metadata(self) -> dict[str, float | int]:
        """Flat numeric metadata: ``bytes/...``, ``cost/...`` (per month, in the currency)."""
        out: dict[str, float | int] = {
            "blobs": self.blobs,
            "bytes/total": self.total_bytes,
            "bytes/database": sum(self.database_bytes.values()),
            "cost/monthly_total": self.monthly_cost_total,
        }
        out.update({f"bytes/container/{k}": v for k, v in self.by_container.items()})
        out.update({f"bytes/tier/{k}": v for k, v in self.by_tier.items()})
        out.update({f"cost/tier/{k}": v for k, v in self.monthly_cost_by_tier.items()})
        out.update(
            {f"cost/access_tier/{k}": v for k, v in self.monthly_cost_by_access_tier.items()}
        )
        if self.database_monthly_cost is not None:
            out["cost/database"] = self.database_monthly_cost
        return out


def monthly_cost(size_bytes: int, price_per_gb: float) -> float:
    return round(size_bytes / BYTES_PER_GB * price_per_gb, 6)


def account(
    blobs: Iterable[StoredBlob],
    *,
    bronze_container: str,
    silver_prefixes: Mapping[str, str],
    prices: PriceTable = DEFAULT_PRICE_TABLE,
    database_bytes: Mapping[str, int] | None = None,
) -> StorageReport:
    """Aggregate a listing of both containers (streamed: memory stays per group, not per blob)."""
    sums: dict[str, defaultdict[str, int]] = {
        k: defaultdict(int) for k in ("container", "tier", "collection", "format", "access")
    }
    report = StorageReport(prices=prices.describe())
    for blob in blobs:
        bronze = blob.container == bronze_container
        tier = tier_of(blob.path, bronze=bronze)
        coll = (
            collection_id(blob.path) if bronze else collection_of_silver(blob.path, silver_prefixes)
        )
        access = prices.tier_map.get(tier, prices.tier_map.get("other", "hot"))
        for key, value in (
            ("container", blob.container),
            ("tier", tier),
            ("collection", coll),
            ("format", format_of(blob.path)),
            ("access", access),
        ):
            sums[key][value] += blob.size
        report.blobs += 1
        report.total_bytes += blob.size
    report.by_container = dict(sorted(sums["container"].items()))
    report.by_tier = {t: sums["tier"][t] for t in TIERS if t in sums["tier"]}
    report.by_collection = dict(sorted(sums["collection"].items()))
    report.by_format = dict(sorted(sums["format"].items()))
    report.by_access_tier = dict(sorted(sums["access"].items()))
    report.monthly_cost_by_tier = {
        t: monthly_cost(b, prices.price_of(t)) for t, b in report.by_tier.items()
    }
    report.monthly_cost_by_access_tier = {
        a: monthly_cost(b, prices.prices[a]) for a, b in report.by_access_tier.items()
    }
    report.database_bytes = dict(database_bytes or {})
    if prices.database_per_gb is not None:
        report.database_monthly_cost = monthly_cost(
            sum(report.database_bytes.values()), prices.database_per_gb
        )
    return report
