"""Data quality of one published partition: measured facts, not opinions.

Why: the people running the platform need to see at a glance which files are thin (mostly
nodata), implausible (all zero, NaN declared in integer data), incomplete (no CRS or pixel size),
inconsistent with the rest of their collection (another CRS or resolution), or, for vectors,
full of duplicate geometries and empty attribute columns. Everything here returns plain numbers
so the silver assets can record them as numeric metadata (Dagster plots those over time) and
turn them into asset checks.

- ``raster_quality(info, grid, band_stats)``: from a ``CogBuildResult``'s parts (no pixel read:
  the statistics were already computed from the analysis COG's overviews).
- ``Consistency``: the item's CRS and resolution against the raster items already in pgstac
  for that collection (measured by ``store/quality.collection_consistency``).
- ``VectorQuality``: counters from the loader's ``LoadedTable`` plus exact duplicate geometries
  and attribute completeness (measured in PostGIS by ``store/quality.vector_quality``).
- ``raster_checks``/``vector_checks``/``vector_metadata``: verdicts and metadata from those.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # hints only: the vector checks need no rasterio
    from geo_platform.lib.raster.grid import GridInfo
    from geo_platform.lib.raster.inspect import RasterInfo
    from geo_platform.lib.raster.stats import BandStats


# --- rasters ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RasterQuality:
    """Quality facts of one raster; ``problems`` is empty when every check passes."""

    valid_share: float
    band_valid_shares: tuple[float, ...]
    all_zero: bool
    constant_bands: int
    nan_in_integer: bool
    non_finite_stats: bool
    has_crs: bool
    has_resolution: bool
    problems: tuple[str, ...] = ()

    @property
    def plausible(self) -> bool:
        return not (self.all_zero or self.nan_in_integer or self.non_finite_stats)

    def metadata(self) -> dict[str, float | int | bool]:
        """Numeric metadata (names prefixed ``quality/`` so they group in the UI)."""
        return {
            "quality/valid_share": round(self.valid_share, 6),
            "quality/constant_bands": self.constant_bands,
            "quality/plausible_stats": self.plausible,
            "quality/has_crs": self.has_crs,
            "quality/has_resolution": self.has_resolution,
        }


def _is_integer(dtype: str) -> bool:
    return dtype.startswith(("int", "uint"))


def _finite(value: float | None) -> bool:
    return value is None or math.isfinite(value)


def raster_quality(
    info: RasterInfo,
    grid: GridInfo,
    band_stats: Sequence[BandStats],
    *,
    min_valid_share: float = 0.0,
) -> RasterQuality:
    """Quality of a raster from what the COG build already knows (``result.info``,
    ``result.grid``, ``result.band_stats``).

    The valid share is the lowest over bands (a band that is mostly nodata is what a user
    notices). ``min_valid_share`` (0-1) turns a thin raster into a problem; by default only a
    raster without any valid pixel is one.
    """
    shares = tuple(max(0.0, min(1.0, s.valid_percent / 100.0)) for s in band_stats)
    valid = min(shares) if shares else 0.0
    with_data = [s for s in band_stats if s.minimum is not None]
    all_zero = bool(with_data) and all(s.minimum == 0 and s.maximum == 0 for s in with_data)
    constant = sum(1 for s in with_data if s.minimum == s.maximum)
    integer = bool(info.dtypes) and _is_integer(info.dtypes[0])
    nodata_nan = info.nodata is not None and math.isnan(info.nodata)
    stats_nan = any(
        v is not None and math.isnan(v)
        for s in band_stats
        for v in (s.minimum, s.maximum, s.mean, s.stddev)
    )
    nan_in_integer = integer and (nodata_nan or stats_nan)
    non_finite = any(
        not _finite(v) for s in band_stats for v in (s.minimum, s.maximum, s.mean, s.stddev)
    )
    has_crs = bool(grid.crs_code or grid.crs_wkt2 or info.crs_wkt2)
    res = grid.resolution
    has_res = len(res) == 2 and all(math.isfinite(r) and r != 0 for r in res)
    problems = []
    if valid <= min_valid_share:
        problems.append(f"only {valid:.1%} of pixels are valid (minimum {min_valid_share:.1%})")
    if all_zero:
        problems.append("every valid pixel is 0 in every band")
    if nan_in_integer:
        problems.append("NaN in integer data (nodata or statistics)")
    if non_finite and not nan_in_integer:
        problems.append("non-finite statistics (inf or NaN)")
    if not has_crs:
        problems.append("no CRS")
    if not has_res:
        problems.append(f"no usable pixel size {tuple(res)}")
    return RasterQuality(
        valid_share=valid,
        band_valid_shares=shares,
        all_zero=all_zero,
        constant_bands=constant,
        nan_in_integer=nan_in_integer,
        non_finite_stats=non_finite,
        has_crs=has_crs,
        has_resolution=has_res,
        problems=tuple(problems),
    )


# --- consistency within a collection ---------------------------------------------------------
@dataclass(frozen=True)
class Consistency:
    """CRS and resolution of an item against the other raster items of its collection."""

    collection: str
    items_compared: int
    crs: dict[str, int] = field(default_factory=dict)
    resolutions: dict[str, int] = field(default_factory=dict)

    @property
    def consistent(self) -> bool:
        return len(self.crs) <= 1 and len(self.resolutions) <= 1

    @property
    def detail(self) -> str:
        if self.consistent:
            return f"same CRS and resolution as the {self.items_compared} other item(s)"
        return f"CRS {self.crs}; resolutions {self.resolutions} across the collection"

    def metadata(self) -> dict[str, int | bool]:
        return {
            "quality/collection_consistent": self.consistent,
            "quality/collection_crs_count": len(self.crs),
            "quality/collection_resolution_count": len(self.resolutions),
        }


def crs_key(proj_code: str | None, wkt2: str | None = None) -> str:
    """A comparable CRS label: the authority code, else a digest of the WKT2."""
    if proj_code:
        return proj_code
    if wkt2:
        import hashlib

        return "WKT2:" + hashlib.sha256(wkt2.encode()).hexdigest()[:10]
    return "none"


def resolution_key(resolution: Sequence[float], digits: int = 9) -> str:
    """Pixel size as 'x x y' with ``digits`` significant digits (float noise is not a change)."""
    x, y = (abs(float(r)) for r in resolution[:2])
    return f"{x:.{digits}g} x {y:.{digits}g}"


def collection_grids(
    collection_id: str,
    others: Sequence[tuple[str | None, str | None, Any]],
    *,
    proj_code: str | None,
    resolution: Sequence[float],
    wkt2: str | None = None,
) -> Consistency:
    """Count the CRSs and pixel sizes of one raster plus ``others``, the (``proj:code``,
    ``proj:wkt2``, ``proj:transform``) of the collection's other raster items. The new values
    count too, so a collection holding one CRS plus a new, different one reports two."""
    crs: Counter[str] = Counter({crs_key(proj_code, wkt2): 1})
    res: Counter[str] = Counter({resolution_key(resolution): 1})
    for code, item_wkt2, transform in others:
        crs[crs_key(code, item_wkt2)] += 1
        if isinstance(transform, list) and len(transform) >= 5:
            res[resolution_key((transform[0], transform[4]))] += 1
    return Consistency(collection_id, len(others), dict(crs), dict(res))


# --- vectors ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class VectorQuality:
    """Quality facts of one published table."""

    table: str
    rows: int
    null_geometries: int
    empty_geometries: int
    invalid_dropped: int
    repaired: int
    duplicate_geometries: int
    duplicate_groups: int
    completeness: dict[str, float] = field(default_factory=dict)
    null_island: int = 0  # features at exactly longitude 0, latitude 0

    @property
    def completeness_min(self) -> float:
        return min(self.completeness.values(), default=1.0)

    @property
    def completeness_mean(self) -> float:
        values = list(self.completeness.values())
        return sum(values) / len(values) if values else 1.0

    def incomplete_columns(self, threshold: float = 1.0) -> dict[str, float]:
        return {c: s for c, s in self.completeness.items() if s < threshold}

    def metadata(self) -> dict[str, float | int]:
        return {
            "quality/null_geometries": self.null_geometries,
            "quality/empty_geometries": self.empty_geometries,
            "quality/invalid_dropped": self.invalid_dropped,
            "quality/repaired": self.repaired,
            "quality/duplicate_geometries": self.duplicate_geometries,
            "quality/null_island": self.null_island,
            "quality/duplicate_share": round(self.duplicate_geometries / max(self.rows, 1), 6),
            "quality/attribute_completeness_min": round(self.completeness_min, 6),
            "quality/attribute_completeness_mean": round(self.completeness_mean, 6),
        }


# --- verdicts and metadata for the silver assets ---------------------------------------------
Verdict = tuple[bool, str]


def raster_checks(quality: RasterQuality, consistency: Consistency | None) -> dict[str, Verdict]:
    """Asset-check verdicts ``raster_plausible`` and ``collection_consistent`` (non-blocking)."""
    ok_text = (
        f"{quality.valid_share:.1%} valid pixels; plausible statistics; CRS and resolution present"
    )
    out = {"raster_plausible": (not quality.problems, "; ".join(quality.problems) or ok_text)}
    if consistency is not None:
        out["collection_consistent"] = (consistency.consistent, consistency.detail)
    return out


def vector_checks(qualities: Sequence[VectorQuality]) -> dict[str, Verdict]:
    """Verdicts ``no_duplicate_geometries``, ``attributes_not_empty`` (no column without a
    single value) and ``no_null_island`` (no feature at exactly 0, 0) for the tables of one
    file (non-blocking: facts, not failures)."""
    dups = [
        f"{q.table}: {q.duplicate_geometries} duplicate geometries in {q.duplicate_groups} groups"
        for q in qualities
        if q.duplicate_geometries
    ]
    empty = [f"{q.table}: {c} has no value" for q in qualities for c, s in q.completeness.items()
             if s == 0.0]  # fmt: skip
    partial = {q.table: q.incomplete_columns() for q in qualities if q.incomplete_columns()}
    detail = "; ".join(empty) or (f"partly empty columns: {partial}" if partial else "complete")
    island = [
        f"{q.table}: {q.null_island} feature(s) at exactly 0°, 0° (null island: missing "
        "coordinates written as 0?)"
        for q in qualities
        if q.null_island
    ]
    return {
        "no_duplicate_geometries": (not dups, "; ".join(dups) or "no exact duplicates"),
        "attributes_not_empty": (not empty, detail),
        "no_null_island": (not island, "; ".join(island) or "no feature at exactly 0°, 0°"),
    }


def vector_metadata(qualities: Sequence[VectorQuality]) -> dict[str, Any]:
    """Numeric metadata over the tables of one file (sums, and the worst completeness)."""
    if not qualities:
        return {}
    out: dict[str, Any] = {}
    for key in ("null_geometries", "empty_geometries", "invalid_dropped", "repaired",
                "duplicate_geometries", "null_island"):  # fmt: skip
        out[f"quality/{key}"] = sum(getattr(q, key) for q in qualities)
    out["quality/attribute_completeness_min"] = round(min(q.completeness_min for q in qualities), 6)
    out["quality/attribute_completeness_mean"] = round(
        sum(q.completeness_mean for q in qualities) / len(qualities), 6
    )
    out["quality/attribute_completeness"] = {q.table: q.completeness for q in qualities}
    return out
