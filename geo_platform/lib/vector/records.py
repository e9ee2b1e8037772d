"""Records of published vector tables (returned by ``store.vector_load``, read by STAC/checks)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from geo_platform.lib import errors
from geo_platform.lib.errors import InputError
from geo_platform.lib.types import BBox

FID_DESCRIPTION = "feature id assigned at load (primary key)"


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
    wrapped: int = 0  # features whose longitudes past +-180 were wrapped (``lonlat``)

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.table}"


def dropped_reason(null: int, empty: int, invalid: int) -> str:
    """Why a layer kept no feature, with the counts: ``every feature was dropped: 2 with a
    null geometry, 1 invalid (unparsable, e.g. an unclosed ring, or beyond repair)``."""
    parts = [
        f"{n} {what}"
        for n, what in (
            (null, "with a null geometry"),
            (empty, "with an empty geometry"),
            (invalid, "invalid (unparsable, e.g. NaN coordinates, or beyond repair)"),
        )
        if n
    ]
    if not parts:  # a format that does not know its feature count until it is read (GPX)
        return "it has no features"
    return EVERY_FEATURE_DROPPED + ", ".join(parts)


EVERY_FEATURE_DROPPED = "every feature was dropped: "


def every_layer_failed(failed: dict[str, str], source_name: str) -> InputError:
    """The error of a file none of whose layers published: every layer's error, of the
    layers' common class when they share one (else ``InputError``)."""
    names = {why.split(":", 1)[0] for why in failed.values()}
    found = getattr(errors, names.pop(), None) if len(names) == 1 else None
    cls = found if isinstance(found, type) and issubclass(found, InputError) else InputError
    detail = "; ".join(f"layer {layer!r}: {why}" for layer, why in failed.items())
    return cls(f"every layer failed: {detail}", path=source_name)
