"""Silver vectors: every bronze vector file as clean PostGIS tables plus GeoParquet copies.

The work is ``workflows.publish_vector``; here: run config, checks and metadata. The
``vector_table`` stage runs in the vector file pipeline (``defs.pipeline``), after
``bronze_vector`` and before ``vector_stac_item``, file by file (``defs.stages``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dagster as dg

from geo_platform.defs.common import FOLLOW_UPSTREAM, WARN_ONLY, Outcome
from geo_platform.defs.stages import Stage, StageContext, per_file
from geo_platform.lib.stac.completeness import COMPLETENESS_PROPERTY
from geo_platform.lib.vector.records import FID_DESCRIPTION, ColumnInfo
from geo_platform.resources.databases import PlatformResource

# The vector workflow (pyogrio, GDAL, geopandas, pyarrow) is imported by the functions that run
# it: every run and command loads the code location, few of them publish a vector file.
if TYPE_CHECKING:
    from geo_platform.workflows.publish_vector import PublishedVector, VectorSettings

SILVER_GROUP = "silver"


class VectorRunConfig(dg.Config):
    """Run-time overrides of the per-prefix vector rules (GEO_PLATFORM_VECTOR_RULES)."""

    layer: str | None = None
    assume_crs: str | None = None
    keep_null_geometries: bool | None = None
    lat_column: str | None = None
    lon_column: str | None = None
    wkt_column: str | None = None
    encoding: str | None = None
    empty_layers: str | None = None


def vector_settings(platform: PlatformResource) -> VectorSettings:
    from geo_platform.workflows.publish_vector import VectorSettings

    return VectorSettings(
        bronze_container=platform.bronze_container,
        silver_container=platform.silver_container,
        geo_schema=platform.geo_schema,
        code_version=platform.code_version,
        duplicates=platform.duplicates,
        vector_rules=platform.vector_rules,
        assume_crs=platform.vector_assume_crs,
    )


def _outcome(result: PublishedVector) -> Outcome:
    """The partition's metadata and check verdicts (none for a duplicate's pointer items)."""
    from geo_platform.lib.quality.checks import vector_metadata

    if result.duplicate is not None:
        return Outcome(result.duplicate.metadata)
    tables = result.tables
    first = tables[0]
    meta: dict[str, Any] = {
        "dagster/table_name": first.qualified_name,
        "dagster/row_count": sum(t.rows_loaded for t in tables),
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(c.name, c.pg_type, description=_column_description(c))
                for c in first.columns
            ]
        ),
        "geo_platform/tables": dg.MetadataValue.json([t.qualified_name for t in tables]),
        "geo_platform/blobs": dg.MetadataValue.json(result.silver_blobs),
        "tables": dg.MetadataValue.json(
            {
                t.qualified_name: {
                    "layer": t.layer,
                    "rows": t.rows_loaded,
                    "read": t.rows_read,
                    "geometry_type": t.geometry_type,
                    "source_crs": t.source_crs,
                    "dropped_null": t.dropped_null,
                    "dropped_empty": t.dropped_empty,
                    "repaired": t.repaired,
                    "invalid_dropped": t.invalid_dropped,
                    "longitudes_wrapped": t.wrapped,
                    "bbox": list(t.bbox) if t.bbox else None,
                }
                for t in tables
            }
        ),
        "repaired": sum(t.repaired for t in tables),
        "dropped": sum(t.dropped_null + t.dropped_empty + t.invalid_dropped for t in tables),
    }
    if first.bbox:
        meta["bbox"] = dg.MetadataValue.json(list(first.bbox))
    meta.update(vector_metadata(result.qualities))
    meta["quality/completeness"] = min(i["properties"][COMPLETENESS_PROPERTY] for i in result.items)
    meta["failed_layers"] = dg.MetadataValue.json(result.failed_layers)
    return Outcome(meta, {**result.checks, "all_layers_published": _all_layers(result)})


def _all_layers(result: PublishedVector) -> tuple[bool, str]:
    """The ``all_layers_published`` verdict: which layers were left out, and why."""
    if not result.failed_layers:
        return True, "every layer published"
    why = "; ".join(f"layer {name!r}: {error}" for name, error in result.failed_layers.items())
    return False, f"{len(result.failed_layers)} layer(s) not published: {why}"


def _publish(ctx: StageContext, _key: str, blob: str) -> Outcome:
    from geo_platform.workflows.publish_vector import publish_vector

    res = ctx.resources
    result = publish_vector(
        blob,
        store=res.blob_store,
        connect=res.postgis.connect,
        settings=vector_settings(res.platform),
        table_href=res.postgis.table_href,
        run_id=ctx.run_id,
        overrides=ctx.config.model_dump(),
        log=ctx.log,
    )
    return _outcome(result)


CHECKS = (
    dg.AssetCheckSpec(
        "row_count_matches_source",
        asset="vector_table",
        blocking=True,
        description="PostGIS rows = features read - reported drops.",
    ),
    dg.AssetCheckSpec(
        "geometries_valid_4326_single_type",
        asset="vector_table",
        blocking=True,
        description="ST_IsValid, SRID 4326, one type.",
    ),
    dg.AssetCheckSpec(
        "geoparquet_rows_match",
        asset="vector_table",
        description="The GeoParquet copy has the table's row count.",
    ),
    dg.AssetCheckSpec(
        "stac_item_valid",
        asset="vector_table",
        blocking=True,
        description="The STAC items validate against the official schemas.",
    ),
    dg.AssetCheckSpec(
        "no_duplicate_geometries",
        asset="vector_table",
        description="No two features have byte-identical geometries.",
    ),
    dg.AssetCheckSpec(
        "attributes_not_empty",
        asset="vector_table",
        description="Every attribute column holds at least one value.",
    ),
    dg.AssetCheckSpec(
        "no_null_island",
        asset="vector_table",
        description="No feature lies at exactly 0°, 0° (missing coordinates written as 0).",
    ),
    dg.AssetCheckSpec(
        "all_layers_published",
        asset="vector_table",
        metadata=WARN_ONLY,
        description=(
            "Every layer of the file published. A layer refused for its input (no CRS, "
            "coordinates out of range...) is named with its error while the other layers "
            "publish (severity WARN: the file is partial, its good layers are live)."
        ),
    ),
)

vector_table = Stage(
    dg.AssetSpec(
        "vector_table",
        deps=["bronze_vector"],
        group_name=SILVER_GROUP,
        automation_condition=FOLLOW_UPSTREAM,
        kinds={"postgres", "postgis", "parquet"},
        description=(
            "Clean PostGIS tables (schema 'geo') made from one bronze vector file, one per "
            "layer: valid Multi* geometries of one type, EPSG:4326, SQL-safe columns, GiST "
            "index, swapped in atomically; plus a GeoParquet copy per table in silver and the "
            "STAC item JSON."
        ),
    ),
    per_file(_publish),
    CHECKS,
    frozenset({"blob_store", "postgis", "platform"}),
)


def _column_description(column: ColumnInfo) -> str:
    if column.original_name is None:  # the fid: no source column
        return FID_DESCRIPTION
    return f"source column {column.original_name!r}"
