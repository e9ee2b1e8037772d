"""Records of published vector tables (returned by ``store.vector_load``, read by STAC/checks)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from geo_platform.lib.types import BBox


class ColumnInfo(NamedTuple):
    """A table column: SQL name, PostgreSQL type, and the source's original name (if any)."""

    name: str
    pg_type: str
    original_name: str | None


@dataclass(frozen=True)
class LoadedTable:
    """One published PostGIS table (and its GeoParquet copy).

    Counters satisfy ``rows_loaded == rows_read - dropped_null - dropped_empty -
    invalid_dropped`` for every table. When a layer is split by dimension (``split``), each
    table counts the features of its dimension, and null geometries (which have none) are
    counted on the layer's first table.
    """

    schema: str
    table: str
    layer: str
    kind: str
    rows_read: int
    rows_loaded: int
    dropped_null: int
    dropped_empty: int
    repaired: int
    invalid_dropped: int
    geometry_type: str
    srid: int
    bbox: BBox | None
    source_crs: str
    crs_assumed: bool
    columns: tuple[ColumnInfo, ...]
    geoparquet_path: Path | None
    footprint: dict[str, Any] | None
    driver: str
    split: bool = False
    seconds: float = 0.0

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.table}"
