"""The STAC item of one published vector table (PostGIS table + GeoParquet copy).

- geometry/bbox: the table's footprint (convex hull, or two boxes across the antimeridian) and
  bbox in EPSG:4326 (``west > east`` when crossing the antimeridian, as STAC allows);
- table extension **v1.2.0**: ``table:columns`` (name, PostgreSQL type, original source name in
  the description), ``table:row_count``, ``table:primary_geometry``;
- projection **v2.0.0**: ``proj:code`` "EPSG:4326" (every table is reprojected to it);
- processing **v1.2.0**: lineage (source CRS, drops/repairs), software, datetime;
- ``geo_platform:*``: geometry type, SRID, layer, source CRS, counters and the provenance
  (source blob, etag, run id, code version) exactly as for rasters;
- assets: ``postgis`` (href like ``postgresql://host:port/db?table=schema.name``, never with
  credentials; media type ``application/vnd.postgresql``, a vendor type: there is no registered
  one) and ``geoparquet`` (``application/vnd.apache.parquet``), both with role ``data``.

The item datetime is ``datetime_fallback`` (the blob's last-modified time, say) since vector
files carry no acquisition time, else the processing time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pystac

from geo_platform.lib.errors import ValidationError
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.stac_ext import DATETIME_SOURCE, LAYER, TABLE, prop
from geo_platform.lib.types import Provenance
from geo_platform.lib.vector.records import FID_DESCRIPTION, LoadedTable

TABLE_EXT = "https://stac-extensions.github.io/table/v1.2.0/schema.json"
PROJ_EXT = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
PROCESSING_EXT = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
FILE_EXT = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
POSTGIS_MEDIA_TYPE = "application/vnd.postgresql"
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"


def _iso(value: datetime) -> str:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _check_href(href: str) -> None:
    parts = urlsplit(href)
    if parts.password is not None or (parts.username and parts.scheme.startswith("postgres")):
        raise ValidationError("asset hrefs must not carry database credentials", path=href)


def _columns(table: LoadedTable) -> list[dict[str, Any]]:
    out = []
    for col in table.columns:
        entry: dict[str, Any] = {"name": col.name, "type": col.pg_type}
        if col.name == "fid":
            entry["description"] = FID_DESCRIPTION
        elif col.original_name is not None and col.original_name != col.name:
            entry["description"] = f"source column {col.original_name!r}"
        out.append(entry)
    return out


def _crs_step(crs: str, assumed: bool) -> str:
    note = " (assumed, the source has none)" if assumed else ""
    if crs == "EPSG:4326":
        return f"already in EPSG:4326{note}"
    return f"reprojected from {crs}{note} to EPSG:4326"


def _wrap_step(wrapped: int) -> list[str]:
    if not wrapped:
        return []
    return [
        f"wrapped the longitudes of {wrapped} features written past +-180 (0..360) into "
        "-180..180, lines and polygons cut at the antimeridian"
    ]


def _lineage(table: LoadedTable) -> str:
    crs = table.source_crs if len(table.source_crs) < 80 else "a custom CRS"
    steps = [
        f"read layer {table.layer!r} ({table.driver}, {table.rows_read} features)",
        _crs_step(crs, table.crs_assumed),
        *_wrap_step(table.wrapped),
        f"dropped {table.dropped_null} null, {table.dropped_empty} empty and "
        f"{table.invalid_dropped} unrepairable geometries",
        f"repaired {table.repaired} invalid geometries (make_valid, same dimension)",
        f"promoted to {table.geometry_type}",
    ]
    if table.split:
        steps.append(f"layer split by dimension: this table holds its {table.kind}")
    return "; ".join(steps) + "."


def _provenance(prov: Provenance) -> dict[str, Any]:
    return dict(prov.stac_properties())


def _geometry(table: LoadedTable) -> tuple[dict[str, Any] | None, list[float] | None]:
    if table.bbox is None:
        return None, None
    return table.footprint, [float(v) for v in table.bbox]


def _properties(
    table: LoadedTable, provenance: Provenance, now: datetime, software: dict[str, str] | None
) -> dict[str, Any]:
    return {
        "table:columns": _columns(table),
        "table:row_count": table.rows_loaded,
        "table:primary_geometry": "geom",
        "proj:code": f"EPSG:{table.srid}",
        "created": _iso(now),
        "processing:datetime": _iso(now),
        "processing:lineage": _lineage(table),
        "processing:software": software or {"geo_platform": provenance.code_version or "unknown"},
        TABLE: table.qualified_name,
        LAYER: table.layer,
        prop("geometry_type"): table.geometry_type,
        prop("srid"): table.srid,
        prop("source_crs"): table.source_crs,
        prop("crs_assumed"): table.crs_assumed,
        prop("source_driver"): table.driver,
        prop("rows_read"): table.rows_read,
        prop("dropped_null"): table.dropped_null,
        prop("dropped_empty"): table.dropped_empty,
        prop("repaired"): table.repaired,
        prop("invalid_dropped"): table.invalid_dropped,
        **({prop("longitudes_wrapped"): table.wrapped} if table.wrapped else {}),
        **_provenance(provenance),
    }


def _add_assets(
    item: pystac.Item,
    table: LoadedTable,
    table_href: str,
    parquet_href: str | None,
    parquet_size: int | None,
) -> list[str]:
    """Add the PostGIS and GeoParquet assets; returns the extensions they need."""
    item.add_asset(
        "postgis",
        pystac.Asset(
            href=table_href,
            media_type=POSTGIS_MEDIA_TYPE,
            roles=["data"],
            title=f"PostGIS table {table.qualified_name}",
        ),
    )
    if parquet_href is None:
        return []
    extra = {} if parquet_size is None else {"file:size": parquet_size}
    item.add_asset(
        "geoparquet",
        pystac.Asset(
            href=parquet_href,
            media_type=PARQUET_MEDIA_TYPE,
            roles=["data"],
            title="GeoParquet 1.1 copy (EPSG:4326, bbox covering column)",
            extra_fields=extra,
        ),
    )
    return [FILE_EXT] if extra else []


def build_vector_item(
    table: LoadedTable,
    *,
    item_id: str,
    collection_id: str,
    table_href: str,
    parquet_href: str | None,
    provenance: Provenance,
    datetime_fallback: datetime | None = None,
    processed_at: datetime | None = None,
    collection_href: str | None = None,
    parquet_size: int | None = None,
    software: dict[str, str] | None = None,
    validate: bool = True,
) -> pystac.Item:
    """The STAC item for one published table (see the module docstring); validated offline.

    ``datetime_fallback`` (e.g. the blob's last-modified time) becomes the item datetime,
    else the processing time; ``geo_platform:datetime_source`` says which.
    """
    _check_href(table_href)
    now = processed_at or datetime.now(UTC)
    geometry, bbox = _geometry(table)
    properties = _properties(table, provenance, now, software)
    properties[DATETIME_SOURCE] = "fallback" if datetime_fallback else "processing_time"
    item = pystac.Item(
        id=item_id,
        geometry=geometry,
        bbox=bbox,
        datetime=datetime_fallback or now,
        properties=properties,
        collection=collection_id,
    )
    item.add_link(
        pystac.Link(
            rel=pystac.RelType.COLLECTION,
            target=collection_href or f"/collections/{collection_id}",
            media_type=pystac.MediaType.JSON,
        )
    )
    extra_extensions = _add_assets(item, table, table_href, parquet_href, parquet_size)
    item.stac_extensions = [TABLE_EXT, PROJ_EXT, PROCESSING_EXT, *extra_extensions]
    if validate:
        validate_stac(item.to_dict(include_self_link=False))
    return item
