"""Publish one bronze vector file: PostGIS tables, GeoParquet copies, quality, final STAC items.

``publish_vector`` is the whole silver stage of a vector file, without Dagster:

1. Provenance of the bronze blob (etag, SHA-256, href, run, code version).
2. Duplicate content, resolved once, here: with ``duplicates="link"`` a file whose content was
   published under another bronze name first gets only pointer items (nothing is built); with
   ``"publish"`` it is built in full and its items are flagged ``duplicate_of_source``.
3. Every layer cleaned and loaded to PostGIS in one transaction (``store.vector_load``), with a
   GeoParquet copy per table. A layer refused for its input (no CRS, coordinates out of range)
   is left out and named in ``failed_layers``; the others publish (the file is *partial*).
4. One STAC item per table, final as it will be catalogued (collection link, completeness),
   validated against the official schemas; checks measured in PostGIS itself.
5. The GeoParquet files and the items replace the file's previous silver outputs at once.

The catalog stage (``workflows.catalog``) publishes the items exactly as written here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from geo_platform.lib import naming, stac_ext
from geo_platform.lib.errors import ConfigError, EmptyDatasetError, NotFoundError, ValidationError
from geo_platform.lib.quality.checks import VectorQuality, Verdict, vector_checks
from geo_platform.lib.rules import options_for, parse_rules
from geo_platform.lib.stac.completeness import with_completeness
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.stac.vector_item import build_vector_item
from geo_platform.lib.types import BlobInfo, Provenance
from geo_platform.lib.vector.geoparquet import parquet_row_count
from geo_platform.lib.vector.left_out import left_out
from geo_platform.lib.vector.options import VectorOptions
from geo_platform.lib.vector.records import LoadedTable
from geo_platform.store.blobs.base import BlobStore
from geo_platform.store.bronze import bronze_local_copy
from geo_platform.store.catalog import name_clash, pointer_owners
from geo_platform.store.duplicates import Original, duplicates_mode, find_duplicate
from geo_platform.store.quality import (
    NULL_ISLAND,
    completeness_counts,
    completeness_shares,
    duplicate_geometries,
    null_island_count,
    quality_columns,
    quality_record,
    table_stats,
    without_parallel_workers,
)
from geo_platform.store.silver import (
    STAC_FOLDER,
    check_silver_owner,
    output_folder,
    remember_items,
    replace_outputs,
    source_provenance,
)
from geo_platform.store.threads import FirstFree
from geo_platform.store.vector_load import publish_vector_file
from geo_platform.store.vector_outputs import create_spatial_index
from geo_platform.workflows.dedupe import DuplicateLinked, link_duplicate, vector_item_ids

Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]
_OPTION_FIELDS = {f.name for f in dataclasses.fields(VectorOptions)}
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VectorSettings:
    """The platform settings a vector publication reads (plain values)."""

    bronze_container: str = "bronze"
    silver_container: str = "silver"
    geo_schema: str = "geo"
    code_version: str = "0.1.0"
    duplicates: str = "publish"
    vector_rules: str = ""
    assume_crs: str = ""


@dataclass(frozen=True)
class PublishedVector:
    """What publishing one bronze vector file produced.

    ``items`` are the final STAC items, as written to silver and as the catalog publishes them.
    A linked duplicate (``duplicate``) has pointer items only: no tables, no checks.
    ``failed_layers``: layer -> "ErrorClass: message" of the layers left out (no table, no
    item) because of their input; empty when every layer published."""

    blob: str
    items: list[dict[str, Any]]
    tables: list[LoadedTable] = field(default_factory=list)
    silver_blobs: list[str] = field(default_factory=list)
    checks: dict[str, Verdict] = field(default_factory=dict)
    qualities: list[VectorQuality] = field(default_factory=list)
    duplicate: DuplicateLinked | None = None
    duplicate_of: str | None = None  # publish mode: built in full, but not the original
    failed_layers: dict[str, str] = field(default_factory=dict)


def vector_options(
    settings: VectorSettings, blob: str, overrides: Mapping[str, Any] | None = None
) -> VectorOptions:
    """The options of ``blob``: the per-prefix rules, then run-time ``overrides`` (None = unset)."""
    rules = parse_rules(settings.vector_rules, "GEO_PLATFORM_VECTOR_RULES")
    base = {"assume_crs": settings.assume_crs or None}
    merged = options_for(blob, rules, {**base, **(overrides or {})})
    unknown = set(merged) - _OPTION_FIELDS
    if unknown:
        raise ConfigError(f"unknown vector options {sorted(unknown)}", path=blob)
    return VectorOptions(**merged)


def publish_vector(
    blob: str,
    *,
    store: BlobStore,
    connect: Connect,
    settings: VectorSettings,
    table_href: Callable[[str, str], str],
    run_id: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    log: logging.Logger | None = None,
) -> PublishedVector:
    """Publish bronze ``blob`` (see the module docstring) and return what was published.

    ``connect()`` opens a connection to the platform database (PostGIS and pgstac);
    ``table_href(schema, table)`` is the credential-free reference a STAC item gives a table.
    Raises a ``GeoPlatformError`` (nothing published, previous outputs intact) on bad input."""
    log = log or _log
    info = store.stat(settings.bronze_container, blob)
    if info is None:
        raise NotFoundError("the bronze blob no longer exists", path=blob)
    options = vector_options(settings, blob, overrides)
    with (
        output_folder(store, settings.silver_container) as tmp,
        bronze_local_copy(store, settings.bronze_container, blob) as local,
    ):
        provenance = source_provenance(
            store, settings.bronze_container, blob, info, local,
            run_id=run_id, code_version=settings.code_version,
        )  # fmt: skip
        check_silver_owner(store, settings.silver_container, blob)  # before any table is loaded
        with connect() as conn:  # a lookup of its own: the load below commits on its own
            linked, original = _duplicate(conn, store, settings, provenance)
        if linked is not None:
            log.info("%s: duplicate of %s, pointer items only", blob, linked.duplicate_of)
            return PublishedVector(blob, linked.pointers, duplicate=linked)
        failed: dict[str, str] = {}
        with connect() as conn:
            tables = _load(conn, local, blob, settings, options, Path(tmp), failed, log)
            duplicates = FirstFree(lambda c: [_duplicates(c, t) for t in tables])
            with _indexing(connect, tables, duplicates):  # GiST + ANALYZE: a connection of its own
                items = _items(tables, store, settings, provenance, info, table_href, original)
                without_parallel_workers(conn)  # the index build runs beside
                stats = {t.table: _measure(conn, t) for t in tables}  # one scan per table
                duplicates.offer(conn)  # unless the index connection, free first, took it
                checks = _verify(blob, tables, items, stats)
            qualities = _qualities(tables, stats, duplicates.result())
            checks.update(vector_checks(qualities))
        files = _silver_files(tables, items, Path(tmp))
        published = replace_outputs(store, settings.silver_container, blob, files)
        remember_items(store, settings.silver_container, blob, list(items.values()), published)
    log.info("%s: %d table(s), %d row(s)", blob, len(tables), sum(t.rows_loaded for t in tables))
    hrefs = [store.href(settings.silver_container, b.path) for b in published.values()]
    return PublishedVector(
        blob, list(items.values()), tables, hrefs, checks, qualities,
        duplicate_of=original.source_blob if original is not None else None,
        failed_layers=failed,
    )  # fmt: skip


def _load(
    conn: psycopg.Connection[Any],
    local: Path,
    blob: str,
    settings: VectorSettings,
    options: VectorOptions,
    parquet_dir: Path,
    failed: dict[str, str],
    log: logging.Logger,
) -> list[LoadedTable]:
    """Every layer of the file into PostGIS (one transaction) and GeoParquet; a layer refused
    for its input goes to ``failed`` (and the log) while the other layers publish."""
    try:
        tables = publish_vector_file(
            conn,
            local,
            source_name=blob,
            schema=settings.geo_schema,
            table_base=naming.table_name(blob),
            options=options,
            parquet_dir=parquet_dir,
            defer_index=True,
            failed_layers=failed,
        )
    except EmptyDatasetError as exc:  # say what the file holds instead (a KML's NetworkLinks)
        others = "; ".join(f"{k}: {v}" for k, v in left_out(local, options.layer).items())
        if not others:
            raise
        raise EmptyDatasetError(f"{exc.message}; the file holds only {others}", blob) from exc
    failed.update(left_out(local, options.layer))  # rasters, overlays, attribute tables
    for layer, why in failed.items():
        log.warning("%s: layer %r not published: %s", blob, layer, why)
    return tables


@contextmanager
def _indexing(
    connect: Connect, tables: list[LoadedTable], duplicates: FirstFree[list[tuple[int, int]]]
) -> Iterator[None]:
    """While the block runs (the STAC items, then the one scan of each table for its checks
    and completeness, on the caller's connection), build the tables' GiST indexes (and ANALYZE
    them) on a connection of their own, then offer to count the ``duplicates``. Two streams of
    work for two cores (three side by side only made the longest wait for a core); the
    duplicate count goes to the stream free first: the caller's for points (their index build
    is the longest step), the index connection's for polygons (validating every geometry in
    the checks' scan is). Leaving the block waits for the index, so a published table has it
    by the time ``publish_vector`` returns; its error is raised after the block's own."""

    def index() -> None:
        with connect() as conn:
            for t in tables:
                create_spatial_index(conn, t.schema, t.table)
            without_parallel_workers(conn)  # the checks' scan may still run beside
            duplicates.offer(conn)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gist") as pool:
        indexing = pool.submit(index)
        try:
            yield
        finally:
            error = indexing.exception()
    if error is not None:
        raise error


def _duplicates(conn: psycopg.Connection[Any], t: LoadedTable) -> tuple[int, int]:
    return duplicate_geometries(conn, t.schema, t.table)


def _qualities(
    tables: list[LoadedTable],
    stats: Mapping[str, Mapping[str, Any]],
    duplicates: list[tuple[int, int]],
) -> list[VectorQuality]:
    """Each table's quality record from its measurements (``_measure``) and duplicates."""
    return [
        quality_record(
            t,
            dups,
            completeness_shares(stats[t.table]["rows"], stats[t.table]["counts"]),
            stats[t.table]["null_island"],
        )
        for t, dups in zip(tables, duplicates, strict=True)
    ]


def _measure(conn: psycopg.Connection[Any], t: LoadedTable) -> dict[str, Any]:
    """``table_stats`` of a loaded table, its attribute completeness (and its features at 0,0,
    when its extent covers that point) counted in the same scan."""
    counts = {**completeness_counts(quality_columns(t)), **null_island_count(t)}
    stats = table_stats(conn, t.schema, t.table, counts)
    stats["null_island"] = stats["counts"].pop(NULL_ISLAND, 0)
    return stats


def _verify(
    blob: str,
    tables: list[LoadedTable],
    items: dict[str, dict[str, Any]],
    stats: Mapping[str, Mapping[str, Any]],
) -> dict[str, Verdict]:
    """The asset-check verdicts of the loaded tables. An invalid item fails the file before
    its silver outputs (and so its catalog items) are replaced."""
    checks = table_checks(tables, items, stats)
    if not checks["stac_item_valid"][0]:
        raise ValidationError(checks["stac_item_valid"][1], path=blob)
    return checks


def _duplicate(
    conn: psycopg.Connection[Any],
    store: BlobStore,
    settings: VectorSettings,
    provenance: Provenance,
) -> tuple[DuplicateLinked | None, Original | None]:
    """The one duplicate lookup: ``link`` mode writes pointer items to silver (nothing else is
    built); ``publish`` mode only names the original, whose content this file repeats."""
    blob = provenance.source_blob
    _check_pointers(conn, blob)
    if duplicates_mode(settings.duplicates) == "link":
        linked = link_duplicate(
            store,
            conn,
            silver_container=settings.silver_container,
            mode="link",
            provenance=provenance,
            collection_id=naming.collection_id(blob),
            item_id_for=vector_item_ids(blob),
        )
        return linked, None
    key = provenance.content_key
    return None, (find_duplicate(conn, key, blob) if key else None)


def _check_pointers(conn: psycopg.Connection[Any], blob: str) -> None:
    """Refuse to publish tables under names another file's duplicate pointers hold (a pointer
    has no table, so the tables' owner check cannot see it)."""
    collection = naming.collection_id(blob)
    for item_id, owner in sorted(pointer_owners(conn, collection, naming.table_name(blob)).items()):
        if owner != blob:
            raise name_clash(collection, item_id, owner, blob)


def _items(
    tables: list[LoadedTable],
    store: BlobStore,
    settings: VectorSettings,
    provenance: Provenance,
    info: BlobInfo,
    table_href: Callable[[str, str], str],
    original: Original | None,
) -> dict[str, dict[str, Any]]:
    """The final STAC item of each table (by table name), not yet validated."""
    blob = provenance.source_blob
    items: dict[str, dict[str, Any]] = {}
    for t in tables:
        parquet = t.geoparquet_path
        item = build_vector_item(
            t,
            item_id=t.table,
            collection_id=naming.collection_id(blob),
            table_href=table_href(t.schema, t.table),
            parquet_href=store.href(
                settings.silver_container, f"{naming.silver_prefix(blob)}/{t.table}.parquet"
            ),
            provenance=provenance,
            datetime_fallback=info.last_modified,
            validate=False,  # validated once, in table_checks (the stac_item_valid check)
            parquet_size=parquet.stat().st_size if parquet else None,
        )
        items[t.table] = with_completeness(item.to_dict())
        if original is not None:
            items[t.table]["properties"][stac_ext.DUPLICATE_OF_SOURCE] = original.source_blob
    return items


def table_checks(
    tables: list[LoadedTable],
    items: Mapping[str, dict[str, Any]],
    table_stats: Mapping[str, Mapping[str, Any]],
) -> dict[str, Verdict]:
    """Row counts, validity, SRID and geometry types measured in PostGIS itself (``table_stats``
    of each table, by name); the GeoParquet row counts; the items against the official STAC
    schemas."""
    rows, geoms, parquet, stac = [], [], [], []
    for t in tables:
        stats = table_stats[t.table]
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


def _silver_files(
    tables: list[LoadedTable], items: dict[str, dict[str, Any]], tmp: Path
) -> dict[str, Path]:
    """The file's silver outputs (relative name -> local file): GeoParquet copies and items."""
    files: dict[str, Path] = {}
    for t in tables:
        if t.geoparquet_path is not None:
            files[f"{t.table}.parquet"] = t.geoparquet_path
        item_path = tmp / f"{t.table}.item.json"
        item_path.write_text(json.dumps(items[t.table], indent=1, default=str))
        files[f"{STAC_FOLDER}/{t.table}.json"] = item_path
    return files
