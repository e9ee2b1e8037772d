"""The record describing one readable layer of a bronze file (shared by the readers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, eq=False)
class LayerSource:
    """One layer of a bronze file, ready to stream.

    ``display`` names the file in errors (the blob path); ``gdal_path``/``layer`` are what the
    reader opens; ``name`` is the layer's own name (for table names and STAC).
    """

    path: Path
    display: str
    gdal_path: str
    layer: str | None
    name: str
    driver: str
    crs: str | None
    geometry_type: str
    feature_count: int | None
    fields: tuple[str, ...]
    geometry_column: str
    multi_layer: bool = False
    open_options: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    lonlat_range_check: bool = False
    crs_assumed: bool = False  # ``crs`` is a convention (CSV lon/lat), not read from the file
    keepalive: Any = None  # owner of a temporary transcoded copy, if any
    # GeoParquet: geometry column -> its encoding ("WKB" or a GeoArrow name such as "polygon");
    # every one of them is read as WKB.
    geometry_encodings: dict[str, str] = field(default_factory=dict)
    # GeoParquet: each secondary geometry column's CRS ('AUTH:CODE' or WKT; None: unknown),
    # loaded as a PostGIS geometry in EPSG:4326 (``secondary_geoms``).
    geometry_crs: dict[str, str | None] = field(default_factory=dict)
    # The source's own feature ids (a GeoPackage's ``fid``, a FileGDB's ``OBJECTID``), kept as
    # an attribute (``source_fid`` for one named fid): other tables may refer to them.
    fid_column: str = ""
    # GeoJSON: the features' integer ``"id"`` members, which GDAL reads as FIDs; kept as an
    # ``id`` column where GDAL read them unaltered (``geojson_ids``).
    feature_ids: Any = None
    # GeoJSON: its reader, opened while the file was listed (``prefetch``), or None.
    prefetch: Any = None
    # GPX: the layer's ``<extensions>`` (heart rate, cadence...) as columns
    # (``gpx_extensions.LayerExtensions``), or None.
    extensions: Any = None
    # What else the file holds that no layer publishes, as (name, "ErrorClass: why"): a
    # workbook's sheets without coordinates. Named in the file's ``failed_layers``.
    left_out: tuple[tuple[str, str], ...] = ()

    def fid_output_name(self) -> str:
        """The column of the source's feature ids: ``source_fid`` for one named ``fid`` (a
        GeoPackage's: ``fid`` is ours), ``id`` for GeoJSON ids, else GDAL's name
        (``OBJECTID``)."""
        if self.feature_ids is not None:
            return GEOJSON_ID
        return SOURCE_FID if self.fid_column.lower() == "fid" else self.fid_column


SOURCE_FID = "source_fid"
GEOJSON_ID = "id"
