"""H3 base grids: every H3 cell of resolutions 0-4 as a PostGIS table, described in pgstac.

One partition per resolution (``h3.cells_res0`` ... ``h3.cells_res4``, 288,122 cells at 4),
plus ``h3_bbox_grid`` for finer resolutions over a bounding box given in run config. Cells are
valid MultiPolygons, split at the antimeridian; each table is swapped in atomically and gets a
STAC item in the protected ``system-h3-grids`` collection.
"""

import time
from typing import TYPE_CHECKING, Any

import dagster as dg

from geo_platform.defs.common import TRANSIENT_RETRY, describe_error
from geo_platform.lib.errors import InputError
from geo_platform.lib.h3 import DEFAULT_MAX_CELLS, GRID_SCHEMA, MAX_GLOBAL_RESOLUTION
from geo_platform.lib.stac.h3_item import (
    GRID_COLLECTION,
    build_grid_item,
    grid_collection,
    grid_source,
)
from geo_platform.lib.types import BBox, Provenance
from geo_platform.resources.databases import PgSTACResource, PlatformResource, PostGISResource
from geo_platform.store import pgstac as pgstac_sql

if TYPE_CHECKING:
    from geo_platform.store.h3_postgis import GridFacts

GRIDS_GROUP = "grids"
h3_resolution_partitions = dg.StaticPartitionsDefinition(
    [str(r) for r in range(MAX_GLOBAL_RESOLUTION + 1)]
)
CELL_COUNT_CHECK = "cell_count_matches_h3"
VALID_CHECK = "cell_geometries_valid"


class H3GridConfig(dg.Config):
    """Where the global grids go."""

    grid_schema: str = GRID_SCHEMA


class H3BboxGridConfig(dg.Config):
    """A grid of a finer resolution over a bounding box (west, south, east, north; degrees).

    ``west > east`` means the box crosses the antimeridian. Refused above ``max_cells``.
    """

    bbox: list[float]
    resolution: int = 7
    grid_schema: str = GRID_SCHEMA
    max_cells: int = DEFAULT_MAX_CELLS


def _check_specs(asset: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            CELL_COUNT_CHECK,
            asset=asset,
            description="Rows in PostGIS equal the expected cell count (h3.get_num_cells for a "
            "global grid) and every cell appears once.",
        ),
        dg.AssetCheckSpec(
            VALID_CHECK,
            asset=asset,
            description="ST_IsValid holds for every cell in PostGIS, and no polygon part spans "
            "more than 180 degrees of longitude except the two polar caps.",
        ),
    ]


def _checks(facts: "GridFacts", expected: int) -> list[dg.AssetCheckResult]:
    count_ok = facts.rows == expected == facts.distinct_cells
    valid_ok = facts.invalid == 0 and facts.wide_parts <= facts.polar_cells
    return [
        dg.AssetCheckResult(
            check_name=CELL_COUNT_CHECK,
            passed=count_ok,
            metadata={"rows": facts.rows, "distinct": facts.distinct_cells, "expected": expected},
        ),
        dg.AssetCheckResult(
            check_name=VALID_CHECK,
            passed=valid_ok,
            metadata={
                "invalid": facts.invalid,
                "wide_parts": facts.wide_parts,
                "polar_cells": facts.polar_cells,
                "srid": facts.srid or 0,
            },
        ),
    ]


def publish_grid(
    context: dg.AssetExecutionContext,
    postgis: PostGISResource,
    pgstac: PgSTACResource,
    platform: PlatformResource,
    *,
    resolution: int,
    schema: str,
    bbox: BBox | None = None,
    max_cells: int = DEFAULT_MAX_CELLS,
) -> dg.MaterializeResult:
    """Generate, load, check and catalog one grid (input errors fail without retries)."""
    import h3  # h3, numpy, pyarrow and shapely: loaded when a grid is built, not with the defs

    from geo_platform.lib.h3.grid import build_grid
    from geo_platform.store.catalog import publish_source_items
    from geo_platform.store.h3_postgis import grid_facts, grid_table_name, load_grid

    try:
        grid = build_grid(resolution, bbox, max_cells)
    except InputError as exc:
        raise dg.Failure(description=describe_error(exc), allow_retries=False) from exc
    name = grid_table_name(resolution, bbox)
    t0 = time.perf_counter()
    with postgis.connect() as conn:
        load = load_grid(conn, grid.table, schema=schema, name=name, description=_comment(grid))
        conn.commit()
        facts = grid_facts(conn, schema, name)
    source = grid_source(resolution, bbox)
    item = build_grid_item(
        resolution=resolution,
        table_href=postgis.table_href(schema, name),
        table=name,
        cell_count=facts.rows,
        extent=_extent(facts, bbox),
        bbox=bbox,
        provenance=Provenance(
            source_blob=source,
            source_etag=f"h3-{h3.versions()['python']}",
            run_id=context.run.run_id,
            code_version=platform.code_version,
        ),
    )
    with pgstac.connect() as conn:  # the collection first, in its own transaction
        if pgstac_sql.get_collection(conn, GRID_COLLECTION) is None:
            pgstac_sql.upsert_collection(conn, grid_collection())
    with pgstac.connect() as conn:
        publish_source_items(conn, [item], source, "h3-grid")
    expected = h3.get_num_cells(resolution) if bbox is None else grid.num_cells
    return dg.MaterializeResult(
        metadata=_metadata(grid, load.seconds, time.perf_counter() - t0, schema, name, item),
        check_results=_checks(facts, expected),
    )


def _extent(facts: "GridFacts", bbox: BBox | None) -> BBox:
    """The cells' lon/lat extent; a box across the antimeridian keeps west > east (STAC)."""
    found = facts.bbox or (-180.0, -90.0, 180.0, 90.0)
    if bbox is not None and bbox[0] > bbox[2]:
        return (bbox[0], found[1], bbox[2], found[3])
    return found


def _comment(grid: Any) -> str:
    scope = "global" if grid.bbox is None else f"bbox {list(grid.bbox)}"
    return f"H3 cells at resolution {grid.resolution} ({scope}), generated by geo_platform"


def _metadata(
    grid: Any, load_s: float, total_s: float, schema: str, name: str, item: dict[str, Any]
) -> dict[str, Any]:
    return {
        "dagster/table_name": f"{schema}.{name}",
        "dagster/row_count": grid.num_cells,
        "resolution": grid.resolution,
        "bbox": dg.MetadataValue.json(list(grid.bbox) if grid.bbox else [-180, -90, 180, 90]),
        "split_at_antimeridian": grid.split_cells,
        "polar_cells": grid.polar_cells,
        "repaired_cells": grid.repaired_cells,
        "generate_seconds": round(grid.seconds, 3),
        "load_seconds": round(load_s, 3),
        "stac_item": f"{GRID_COLLECTION}/{item['id']}",
    }


@dg.asset(
    group_name=GRIDS_GROUP,
    partitions_def=h3_resolution_partitions,
    retry_policy=TRANSIENT_RETRY,
    kinds={"postgres", "stac"},
    pool="postgis",
    check_specs=_check_specs("h3_grid"),
    description=(
        "Every H3 cell of one resolution (partition 0-4) in PostGIS table h3.cells_res<R>: the "
        "cell index as string and bigint (primary key), resolution, parent, center point and "
        "the cell polygon (valid MultiPolygon, split at the antimeridian; GiST-indexed), with "
        "a STAC item in the system-h3-grids collection."
    ),
)
def h3_grid(
    context: dg.AssetExecutionContext,
    config: H3GridConfig,
    postgis: PostGISResource,
    pgstac: PgSTACResource,
    platform: PlatformResource,
) -> dg.MaterializeResult:
    return publish_grid(
        context,
        postgis,
        pgstac,
        platform,
        resolution=int(context.partition_key),
        schema=config.grid_schema,
    )


@dg.asset(
    group_name=GRIDS_GROUP,
    retry_policy=TRANSIENT_RETRY,
    kinds={"postgres", "stac"},
    pool="postgis",
    check_specs=_check_specs("h3_bbox_grid"),
    description=(
        "H3 cells of a finer resolution over a bounding box from run config, in PostGIS table "
        "h3.cells_res<R>_bbox_<hash> (same columns as h3_grid), with a STAC item. Each "
        "materialization records the latest box; earlier boxes keep their own tables."
    ),
)
def h3_bbox_grid(
    context: dg.AssetExecutionContext,
    config: H3BboxGridConfig,
    postgis: PostGISResource,
    pgstac: PgSTACResource,
    platform: PlatformResource,
) -> dg.MaterializeResult:
    if len(config.bbox) != 4:
        raise dg.Failure(description="bbox needs 4 numbers: west, south, east, north")
    west, south, east, north = (float(v) for v in config.bbox)
    return publish_grid(
        context,
        postgis,
        pgstac,
        platform,
        resolution=config.resolution,
        schema=config.grid_schema,
        bbox=(west, south, east, north),
        max_cells=config.max_cells,
    )
