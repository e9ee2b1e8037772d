"""Small shared types: aliases and records passed between the pure library and the wiring."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

BBox = tuple[float, float, float, float]
"""(minx, miny, maxx, maxy); in EPSG:4326 unless stated otherwise."""

NoData = float | int | None

DataKind = Literal["raster", "vector"]
BlobClass = Literal["raster", "vector", "sidecar", "unsupported"]


@dataclass(frozen=True)
class BlobInfo:
    """One blob as a listing reports it. ``etag`` changes whenever the content changes."""

    path: str
    size: int
    etag: str
    last_modified: datetime | None = None


@dataclass(frozen=True)
class Provenance:
    """Where an output came from: recorded in every STAC item and in run metadata."""

    source_blob: str
    source_etag: str
    source_href: str | None = None
    source_sha256: str | None = None
    run_id: str | None = None
    code_version: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def stac_properties(self, prefix: str = "geo_platform:") -> dict[str, str]:
        """The provenance as STAC item properties (unset fields left out)."""
        fields = {
            "source_blob": self.source_blob,
            "source_etag": self.source_etag,
            "source_href": self.source_href,
            "source_sha256": self.source_sha256,
            "run_id": self.run_id,
            "code_version": self.code_version,
            **self.extra,
        }
        return {f"{prefix}{k}": v for k, v in fields.items() if v is not None}
