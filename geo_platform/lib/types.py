"""Small shared types: aliases and records passed between the pure library and the wiring."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from geo_platform.lib import stac_ext

BBox = tuple[float, float, float, float]
"""(minx, miny, maxx, maxy); in EPSG:4326 unless stated otherwise."""

NoData = float | int | None

DataKind = Literal["raster", "vector"]
BlobClass = Literal["raster", "vector", "sidecar", "unsupported"]

QUERY_FORMATS = ("table", "csv", "json", "parquet")
"""What `geo-platform query` writes (``store.analytics``); here, so that the CLI offers them
without importing DuckDB."""


@dataclass(frozen=True)
class BlobInfo:
    """One blob as a listing reports it. ``etag`` changes whenever the content changes."""

    path: str
    size: int
    etag: str
    last_modified: datetime | None = None


def content_key(sha256: str, sidecars_sha256: str | None) -> str:
    """A file's content as duplicates are found by: ``<sha>`` or ``<sha>+<sidecars sha>``."""
    return f"{sha256}+{sidecars_sha256}" if sidecars_sha256 else sha256


@dataclass(frozen=True)
class Provenance:
    """Where an output came from: recorded in every STAC item and in run metadata."""

    source_blob: str
    source_etag: str
    source_href: str | None = None
    source_sha256: str | None = None
    # One SHA-256 over the file's sidecars (a Shapefile's .dbf and .prj, a world file), with
    # their suffixes: the same .shp with another .prj or .dbf is other content.
    sidecars_sha256: str | None = None
    run_id: str | None = None
    code_version: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def content_key(self) -> str | None:
        """What duplicates are found by: the file's SHA-256, with its sidecars' when it has
        some (``store.duplicates.content_key``)."""
        if not self.source_sha256:
            return None
        return content_key(self.source_sha256, self.sidecars_sha256)

    def stac_properties(self) -> dict[str, str]:
        """The provenance as STAC item properties (``stac_ext.PROVENANCE_FIELDS`` plus
        ``extra``, all ``geo_platform:``-prefixed; unset fields left out)."""
        fields = {name: getattr(self, name) for name in stac_ext.PROVENANCE_FIELDS}
        fields.update(self.extra)
        return {stac_ext.prop(k): v for k, v in fields.items() if v is not None}
