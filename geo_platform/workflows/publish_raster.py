"""Publish one bronze raster to silver: COG tiers, thumbnail and STAC item, or tiles when large.

``publish_raster`` is the whole use case, without Dagster: read the bronze blob, link it when the
same content was published under another name (``workflows.dedupe``), inspect it, hand very large
rasters to ``workflows.publish_tiled``, otherwise build the tiers (``analysis``,
``visualization``, ``archive``; each validated with rio-cogeo), build and validate the STAC item,
judge its quality and its consistency with its collection, and move everything into the blob's
silver folder at once (``store.silver.replace_outputs``). A failed check publishes nothing.

The bronze file is read and hashed once per run (the inventory's hash is reused), the tiers are
built where a local store publishes them by renames (``store.silver.output_folder``), and the
item stays in memory for the catalog stage. The per-source tier rules (``lib.raster.tier_rules``)
decide the tiers' encodings; the bytes of every tier against the source are reported in the item
(``geo_platform:storage``) and in the run metadata.

The ``raster_cog`` asset (``defs/raster/assets.py``) calls it per partition and turns the
returned dataclass into materialization metadata and asset check results.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg

from geo_platform.lib import compressed, naming, repack, stac_ext
from geo_platform.lib.errors import NotFoundError, ValidationError
from geo_platform.lib.quality.checks import (
    Consistency,
    RasterQuality,
    raster_checks,
    raster_quality,
)
from geo_platform.lib.raster.cog import CogBuildResult, build_cog_tiers
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.source import raster_source
from geo_platform.lib.raster.tiling import TilingOptions, needs_tiling
from geo_platform.lib.rules import options_for, parse_rules
from geo_platform.lib.stac.collection import with_collection_link
from geo_platform.lib.stac.completeness import (
    with_completeness,
)
from geo_platform.lib.stac.raster_item import build_raster_item
from geo_platform.lib.stac.render import apply_renders
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.types import BlobInfo, Provenance
from geo_platform.store.blobs.base import BlobStore
from geo_platform.store.bronze import bronze_local_copy
from geo_platform.store.duplicates import duplicates_mode, find_duplicate
from geo_platform.store.quality import collection_consistency
from geo_platform.store.silver import (
    STAC_FOLDER,
    output_folder,
    remember_items,
    replace_outputs,
    source_provenance,
)
from geo_platform.workflows.dedupe import DuplicateLinked, link_duplicate, raster_item_ids
from geo_platform.workflows.publish_multidim import CubePublished, publish_multidim
from geo_platform.workflows.publish_tiled import TiledPublished, publish_tiled
from geo_platform.workflows.raster_metadata import (
    STORAGE_PROPERTY,
    run_metadata,
    thumbnail_markdown,
)

Checks = dict[str, tuple[bool, str]]
Lookups = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]
"""Opens a connection to pgstac for read-only lookups (``PgSTACResource.lookups``)."""

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class RasterSettings:
    """The platform configuration a raster publication needs (``PlatformResource`` fields, the
    tiling options and ``GEO_PLATFORM_TILING_WORK_DIR``)."""

    bronze_container: str = "bronze"
    silver_container: str = "silver"
    code_version: str = "0.1.0"
    duplicates: str = "publish"
    raster_rules: str = ""
    tiling: TilingOptions = field(default_factory=TilingOptions)
    tiling_work_dir: str = ""


@dataclass(frozen=True)
class RasterPublished:
    """One raster published as COG tiers: its STAC item (as written to silver), the bytes of each
    published tier, the asset hrefs (tiers and thumbnail), the silver blobs written, quality and
    collection consistency, run metadata (JSON-able values; ``*_href`` keys are hrefs and
    ``preview`` is Markdown), check verdicts by check name, the bronze file whose content
    this one repeats (``duplicates="publish"``: built in full, the item flagged), and the storage
    report: each tier's bytes, ratio to the source and the rule that chose its encoding."""

    blob: str
    collection_id: str
    item_id: str
    item: dict[str, Any]
    tier_bytes: dict[str, int]
    hrefs: dict[str, str]
    blobs: list[str]
    quality: RasterQuality
    consistency: Consistency
    metadata: dict[str, Any]
    checks: Checks
    duplicate_of: str | None = None
    storage: dict[str, Any] = field(default_factory=dict)


RasterOutcome = RasterPublished | TiledPublished | DuplicateLinked | CubePublished
"""What ``publish_raster`` did: COG tiers, tiles (a large raster), a link to a duplicate, or a
COG per variable (a NetCDF/HDF5/GRIB file)."""


def raster_options(
    rules: str, blob: str, overrides: Mapping[str, Any] | None = None
) -> RasterOptions:
    """The options of ``blob``: every per-prefix rule (``GEO_PLATFORM_RASTER_RULES``) matching
    it, then the non-None run-time ``overrides``."""
    merged = options_for(blob, parse_rules(rules, "GEO_PLATFORM_RASTER_RULES"), overrides)
    if "tiers" in merged:
        merged["tiers"] = tuple(merged["tiers"])
    return RasterOptions.from_mapping(merged)


def publish_raster(
    store: BlobStore,
    lookups: Lookups,
    settings: RasterSettings,
    blob: str,
    *,
    run_id: str | None,
    overrides: Mapping[str, Any] | None = None,
    log: logging.Logger | None = None,
) -> RasterOutcome:
    """Publish bronze ``blob`` to silver (see the module docstring); raise the input error of
    the file (``NotFoundError``, ``NotGeoreferencedError``, ...) or ``ValidationError`` when an
    output fails its checks, with nothing published."""
    info = store.stat(settings.bronze_container, blob)
    if info is None:
        raise NotFoundError("the bronze blob no longer exists", path=blob)
    options = raster_options(settings.raster_rules, blob, overrides)
    with (
        output_folder(store, settings.silver_container) as tmp,
        bronze_local_copy(store, settings.bronze_container, blob, info) as local,
    ):
        provenance = source_provenance(
            store,
            settings.bronze_container,
            blob,
            info,
            local,
            run_id=run_id,
            code_version=settings.code_version,
        )
        linked, duplicate_of = _duplicate(store, lookups, settings, provenance)
        if linked is not None:
            return linked
        plain = compressed.if_compressed(local, blob)  # dem.asc.gz/.bz2/.xz: decompressed
        local = plain.path if plain is not None else local
        repacked = repack.as_zip_if_archive(local, blob)  # scene.tar(.gz), ortho.7z: a stored zip
        local = repacked.path if repacked is not None else local
        # NetCDF, HDF5, GRIB: one COG and item per 2-D variable (workflows.publish_multidim).
        cube = publish_multidim(
            store,
            lookups,
            settings.silver_container,
            local,
            info,
            provenance,
            options,
            duplicate_of,
        )
        if cube is not None:
            return cube
        source = _Source(info, provenance, duplicate_of)
        return _publish_image(store, lookups, settings, options, local, Path(tmp), source, log)


@dataclass(frozen=True)
class _Source:
    """The bronze file being published, and the file whose content it repeats."""

    bronze: BlobInfo
    provenance: Provenance
    duplicate_of: str | None


def _publish_image(
    store: BlobStore,
    lookups: Lookups,
    settings: RasterSettings,
    options: RasterOptions,
    local: Path,
    tmp: Path,
    source: _Source,
    log: logging.Logger | None,
) -> RasterPublished | TiledPublished:
    """One 2-D raster: COG tiers, or tiles when it is very large."""
    blob = source.provenance.source_blob
    raster_info, local = raster_source(local, tmp, blob, options)
    if needs_tiling(raster_info, settings.tiling):
        # Very large rasters: a grid of COG tiles, a MosaicJSON and an item per tile.
        return publish_tiled(
            store,
            silver_container=settings.silver_container,
            blob=blob,
            bronze=source.bronze,
            local=local,
            info=raster_info,
            provenance=source.provenance,
            options=settings.tiling,
            raster=options,
            work_root=settings.tiling_work_dir,
            duplicate_of=source.duplicate_of,
            log=log or _LOG,
        )
    result = build_cog_tiers(local, tmp, options, name=blob, info=raster_info)
    built = _Built(result, source.bronze, source.provenance, source.duplicate_of)
    return _publish_cogs(store, lookups, settings, built, tmp)


def _duplicate(
    store: BlobStore, lookups: Lookups, settings: RasterSettings, provenance: Provenance
) -> tuple[DuplicateLinked | None, str | None]:
    """The one duplicate lookup, before anything is built (the catalog stage does none): in
    ``link`` mode pointer items replace the build when the content was published under another
    name; in ``publish`` mode the file is built and the name of the original is returned."""
    blob = provenance.source_blob
    if duplicates_mode(settings.duplicates) != "link":
        key = provenance.content_key
        if not key:
            return None, None
        with lookups() as conn:
            original = find_duplicate(conn, key, blob)
        return None, original.source_blob if original is not None else None
    with lookups() as conn:
        duplicate = link_duplicate(
            store,
            conn,
            silver_container=settings.silver_container,
            mode=settings.duplicates,
            provenance=provenance,
            collection_id=naming.collection_id(blob),
            item_id_for=raster_item_ids(blob),
        )
    if duplicate is None:
        return None, None
    note = f"duplicate of {duplicate.duplicate_of}: nothing built, pointer item"
    checks = {"cog_valid": (True, note), "stac_item_valid": (True, note)}
    return replace(duplicate, checks=checks), None


@dataclass(frozen=True)
class _Built:
    """The tiers built from one bronze file, and where they come from."""

    result: CogBuildResult
    bronze: BlobInfo
    provenance: Provenance
    duplicate_of: str | None


def _publish_cogs(
    store: BlobStore, lookups: Lookups, settings: RasterSettings, built: _Built, tmp: Path
) -> RasterPublished:
    """Item, checks, quality and consistency of the built tiers, then the move into silver."""
    result, blob = built.result, built.provenance.source_blob
    prefix, item_id = naming.silver_prefix(blob), naming.item_id(blob)
    files = _local_files(result)
    hrefs = {
        rel.rsplit(".", 1)[0]: store.href(settings.silver_container, f"{prefix}/{rel}")
        for rel in files
    }
    item = _item(built, item_id, hrefs)
    checks = _checks(result, item)
    files[f"{STAC_FOLDER}/{item_id}.json"] = tmp / "item.json"
    files[f"{STAC_FOLDER}/{item_id}.json"].write_text(json.dumps(item, indent=1))
    if not all(ok for ok, _ in checks.values()):
        raise ValidationError(
            "outputs failed validation: " + "; ".join(w for ok, w in checks.values() if not ok),
            path=blob,
        )
    quality = raster_quality(result.info, result.grid, result.band_stats)
    with lookups() as conn:  # the other rasters of the collection (its previous version aside)
        consistency = collection_consistency(
            conn,
            item["collection"],
            proj_code=result.grid.crs_code,
            wkt2=result.grid.crs_wkt2,
            resolution=result.grid.resolution,
            exclude_item=item_id,
        )
    checks.update(raster_checks(quality, consistency))
    preview = thumbnail_markdown(result.thumbnail)
    published = replace_outputs(store, settings.silver_container, blob, files)
    remember_items(store, settings.silver_container, blob, [item], published)
    blobs = [  # the tiers' and thumbnail's hrefs are known (each one costs a path resolution)
        hrefs.get(rel.rsplit(".", 1)[0]) or store.href(settings.silver_container, b.path)
        for rel, b in published.items()
    ]
    return RasterPublished(
        blob=blob,
        collection_id=item["collection"],
        item_id=item_id,
        item=item,
        tier_bytes={t.tier: t.size_bytes for t in result.published().values()},
        hrefs=hrefs,
        blobs=blobs,
        quality=quality,
        consistency=consistency,
        metadata=run_metadata(result, item, hrefs, blobs, preview, quality, consistency),
        checks=checks,
        duplicate_of=built.duplicate_of,
        storage=item["properties"][STORAGE_PROPERTY],
    )


def _local_files(result: CogBuildResult) -> dict[str, Path]:
    """Silver name -> local file of the published tiers and the thumbnail."""
    files: dict[str, Path] = {
        f"{t.tier}.tif": t.path
        for t in result.tiers.values()
        if t.skipped_reason is None and t.path is not None
    }
    if result.thumbnail is not None:
        files["thumbnail.png"] = result.thumbnail
    return files


def _item(built: _Built, item_id: str, hrefs: dict[str, str]) -> dict[str, Any]:
    """The final STAC item of the tiers (the catalog stage upserts it as it is): collection
    link, renders, completeness score, and the duplicate flag in ``publish`` mode."""
    item = build_raster_item(
        built.result,
        item_id=item_id,
        collection_id=naming.collection_id(built.provenance.source_blob),
        hrefs=hrefs,
        provenance=built.provenance,
        source_size=built.bronze.size,
        source_last_modified=built.bronze.last_modified,
        validate=False,  # validated once, in _checks (the stac_item_valid check)
    )
    final = with_completeness(apply_renders(with_collection_link(item.to_dict())))
    final["properties"][STORAGE_PROPERTY] = built.result.storage()
    if built.duplicate_of is not None:
        final["properties"][stac_ext.DUPLICATE_OF_SOURCE] = built.duplicate_of
    return final


def _checks(result: CogBuildResult, item: dict[str, Any]) -> Checks:
    """Verdicts recorded as asset checks. ``build_cog_tiers`` runs rio-cogeo's cog_validate on
    every tier and raises before anything is published, so a tier that exists here is valid."""
    tiers = [t.tier for t in result.tiers.values() if t.path is not None and not t.skipped_reason]
    try:
        validate_stac(item)
        stac = (True, "valid against the official schemas (offline)")
    except ValidationError as exc:
        stac = (False, exc.message)
    cog = (bool(tiers), f"cog_validate passed for {', '.join(tiers)}")
    return {"cog_valid": cog, "stac_item_valid": stac}
