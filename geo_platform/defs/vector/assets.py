"""Silver vectors: every bronze vector file as clean PostGIS tables plus GeoParquet copies."""

import dataclasses
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg

from geo_platform.defs.bronze.assets import bronze_local_copy, bronze_vector
from geo_platform.defs.bronze.partitions import bronze_vector_partitions
from geo_platform.defs.common import BATCH_POLICY, TRANSIENT_RETRY, Outcome, each_partition
from geo_platform.lib import naming
from geo_platform.lib.errors import ConfigError, NotFoundError, ValidationError
from geo_platform.lib.quality.checks import vector_checks, vector_metadata
from geo_platform.lib.rules import options_for, parse_rules
from geo_platform.lib.stac.collection import with_collection_link
from geo_platform.lib.stac.completeness import COMPLETENESS_PROPERTY, with_completeness
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.stac.vector_item import build_vector_item
from geo_platform.lib.vector.geoparquet import parquet_row_count
from geo_platform.lib.vector.options import VectorOptions
from geo_platform.lib.vector.records import LoadedTable
from geo_platform.resources.blob_store import BlobStore
from geo_platform.resources.databases import PlatformResource, PostGISResource
from geo_platform.store.postgis import table_stats
from geo_platform.store.quality import vector_quality
from geo_platform.store.silver import STAC_FOLDER, provenance_for, replace_outputs
from geo_platform.store.vector_load import publish_vector_file
from geo_platform.workflows.dedupe import link_duplicate, vector_item_ids

SILVER_GROUP = "silver"
_OPTION_FIELDS = {f.name for f in dataclasses.fields(VectorOptions)}


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


def vector_options(platform: PlatformResource, blob: str, config: VectorRunConfig) -> VectorOptions:
    rules = parse_rules(platform.vector_rules, "GEO_PLATFORM_VECTOR_RULES")
    base = {"assume_crs": platform.vector_assume_crs or None}
    merged = options_for(blob, rules, {**base, **config.model_dump()})
    unknown = set(merged) - _OPTION_FIELDS
    if unknown:
        raise ConfigError(f"unknown vector options {sorted(unknown)}", path=blob)
    return VectorOptions(**merged)


def _publish_vector(
    context: dg.AssetExecutionContext,
    store: BlobStore,
    postgis: PostGISResource,
    platform: PlatformResource,
    config: VectorRunConfig,
    blob: str,
) -> Outcome:
    info = store.stat(platform.bronze_container, blob)
    if info is None:
        raise NotFoundError("the bronze blob no longer exists", path=blob)
    options = vector_options(platform, blob, config)
    prefix = naming.silver_prefix(blob)
    collection = naming.collection_id(blob)
    with (
        tempfile.TemporaryDirectory(prefix="vec-") as tmp,
        bronze_local_copy(store, platform.bronze_container, blob) as local,
        postgis.connect() as conn,
    ):
        provenance = provenance_for(context, store, platform, blob, info, local)
        with postgis.connect() as stac_conn:  # pgstac lives in the platform database
            duplicate = link_duplicate(
                store,
                stac_conn,
                silver_container=platform.silver_container,
                mode=platform.duplicates,
                provenance=provenance,
                collection_id=collection,
                item_id_for=vector_item_ids(blob),
            )
        if duplicate is not None:
            return Outcome(duplicate)
        tables = publish_vector_file(
            conn,
            local,
            source_name=blob,
            schema=platform.geo_schema,
            table_base=naming.table_name(blob),
            options=options,
            parquet_dir=Path(tmp),
        )
        files: dict[str, Path] = {}
        items: dict[str, dict[str, Any]] = {}
        for t in tables:
            parquet_rel = f"{t.table}.parquet"
            if t.geoparquet_path is not None:
                files[parquet_rel] = t.geoparquet_path
            item = build_vector_item(
                t,
                item_id=t.table,
                collection_id=collection,
                table_href=postgis.table_href(t.schema, t.table),
                parquet_href=store.href(platform.silver_container, f"{prefix}/{parquet_rel}"),
                provenance=provenance,
                datetime_fallback=info.last_modified,
                validate=False,  # validated once, in _checks (the stac_item_valid check)
                parquet_size=t.geoparquet_path.stat().st_size if t.geoparquet_path else None,
            )
            items[t.table] = with_completeness(with_collection_link(item.to_dict()))
            item_path = Path(tmp) / f"{t.table}.item.json"
            item_path.write_text(json.dumps(items[t.table], indent=1, default=str))
            files[f"{STAC_FOLDER}/{t.table}.json"] = item_path
        checks = _checks(conn, tables, items)
        if not checks["stac_item_valid"][0]:
            raise ValidationError(checks["stac_item_valid"][1], path=blob)
        qualities = [vector_quality(conn, t) for t in tables]
        checks.update(vector_checks(qualities))
        published = replace_outputs(store, platform.silver_container, blob, files)
    meta = _metadata(tables, published, store, platform)
    meta.update(vector_metadata(qualities))
    scores = [i["properties"][COMPLETENESS_PROPERTY] for i in items.values()]
    meta["quality/completeness"] = min(scores)
    return Outcome(meta, checks)


def _checks(
    conn: Any, tables: list[LoadedTable], items: dict[str, dict[str, Any]]
) -> dict[str, tuple[bool, str]]:
    """Row counts, validity, SRID and geometry types measured in PostGIS itself."""
    rows, geoms, parquet, stac = [], [], [], []
    for t in tables:
        stats = table_stats(conn, t.schema, t.table)
        expected = t.rows_read - t.dropped_null - t.dropped_empty - t.invalid_dropped
        if stats["rows"] != expected or stats["rows"] != t.rows_loaded:
            rows.append(f"{t.table}: {stats['rows']} rows, expected {expected}")
        if stats["invalid"] or set(stats["srids"]) - {4326} or len(stats["geometry_types"]) > 1:
            geoms.append(f"{t.table}: {stats}")
        if t.geoparquet_path is not None and parquet_row_count(t.geoparquet_path) != stats["rows"]:
            parquet.append(f"{t.table}: GeoParquet rows differ from the table's")
        try:
            validate_stac(items[t.table])
        except ValidationError as exc:
            stac.append(f"{t.table}: {exc.message}")
    return {
        "row_count_matches_source": (not rows, "; ".join(rows) or "rows = read - dropped"),
        "geometries_valid_4326_single_type": (not geoms, "; ".join(geoms) or "all valid"),
        "geoparquet_rows_match": (not parquet, "; ".join(parquet) or "same row counts"),
        "stac_item_valid": (not stac, "; ".join(stac) or "valid (offline schemas)"),
    }


def _metadata(
    tables: list[LoadedTable],
    published: dict[str, Any],
    store: BlobStore,
    platform: PlatformResource,
) -> dict[str, Any]:
    first = tables[0]
    meta: dict[str, Any] = {
        "dagster/table_name": f"{first.schema}.{first.table}",
        "dagster/row_count": sum(t.rows_loaded for t in tables),
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(c.name, c.pg_type, description=f"source column {c.original_name!r}")
                for c in first.columns
            ]
        ),
        "geo_platform/tables": dg.MetadataValue.json([f"{t.schema}.{t.table}" for t in tables]),
        "geo_platform/blobs": dg.MetadataValue.json(
            [store.href(platform.silver_container, b.path) for b in published.values()]
        ),
        "tables": dg.MetadataValue.json(
            {
                f"{t.schema}.{t.table}": {
                    "layer": t.layer,
                    "rows": t.rows_loaded,
                    "read": t.rows_read,
                    "geometry_type": t.geometry_type,
                    "source_crs": t.source_crs,
                    "dropped_null": t.dropped_null,
                    "dropped_empty": t.dropped_empty,
                    "repaired": t.repaired,
                    "invalid_dropped": t.invalid_dropped,
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
    return meta


@dg.asset(
    group_name=SILVER_GROUP,
    partitions_def=bronze_vector_partitions,
    deps=[bronze_vector],
    backfill_policy=BATCH_POLICY,
    retry_policy=TRANSIENT_RETRY,
    output_required=False,
    automation_condition=dg.AutomationCondition.eager(),
    kinds={"postgres", "postgis", "parquet"},
    pool="postgis",
    check_specs=[
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
    ],
    description=(
        "Clean PostGIS tables (schema 'geo') made from one bronze vector file, one per layer: "
        "valid Multi* geometries of one type, EPSG:4326, SQL-safe columns, GiST index, swapped "
        "in atomically; plus a GeoParquet copy per table in silver and the STAC item JSON."
    ),
)
def vector_table(
    context: dg.AssetExecutionContext,
    config: VectorRunConfig,
    blob_store: dg.ResourceParam[BlobStore],
    postgis: PostGISResource,
    platform: PlatformResource,
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
    yield from each_partition(
        context,
        lambda _k, blob: _publish_vector(context, blob_store, postgis, platform, config, blob),
    )
