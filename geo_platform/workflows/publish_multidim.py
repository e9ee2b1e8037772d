"""Publish a multidimensional raster (NetCDF, HDF5, GRIB): one COG and one item per variable;
and a zip of several rasters that are not tiles of one grid: one COG and item per raster.

``workflows.publish_raster`` hands every bronze raster to ``publish_multidim`` first; for a
NetCDF/HDF5/GRIB file it returns what it published, for anything else None (the ordinary path
follows). The file is read as a set of 2-D variables (``lib.raster.multidim``), the way a
GeoPackage is a set of layers; each variable, its time steps or levels as bands, is read
through a VRT (``lib.raster.variable_vrt``: CF nodata, scale/offset and units, 0..360
longitudes shifted to -180..180) and built into the usual tiers by ``build_cog_tiers``.

Silver layout in the file's folder ``naming.silver_prefix(blob)``: ``<item id>/analysis.tif``
(and the other tiers and the thumbnail) per variable, ``stac/<item id>.json`` per variable,
where the item id is the file's item id and the variable's name (``naming.item_id(blob,
"-" + variable)``). Items carry the datacube extension (``lib.stac.datacube``).

A zip of several rasters (a DEM beside its hillshade, scenes of different CRSs) is the same
kind of set (``lib.raster.zip_rasters``): each member raster is a "variable" read in place
through ``/vsizip/``, built like any raster (no VRT, no datacube fields), its item id
``<zip>-<member>``.

Each variable publishes or is set aside on its own: a variable that is not a raster on a
georeferenced grid, or whose pixels are all nodata, is recorded in ``ignored`` (and in the
items); the file fails only when no variable is left. A failed COG or STAC check of any
variable publishes nothing.
"""

from __future__ import annotations

import base64
import json
import zipfile
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg

from geo_platform.lib import naming, stac_ext
from geo_platform.lib.errors import InputError, UnsupportedFormatError, ValidationError
from geo_platform.lib.quality.checks import (
    Consistency,
    RasterQuality,
    raster_checks,
    raster_quality,
)
from geo_platform.lib.raster.cog import CogBuildResult, build_cog_tiers
from geo_platform.lib.raster.inspect import inspect_raster
from geo_platform.lib.raster.multidim import Cube, CubeVariable, might_be_cube, read_cube
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.rectify import geotiff_keeps_crs, warp_to_lonlat
from geo_platform.lib.raster.tiff_pages import AS_IS_DRIVERS, page_count, separate_pages
from geo_platform.lib.raster.variable_vrt import write_variable_vrt
from geo_platform.lib.raster.zip_rasters import ZIP_DRIVER, separate_rasters
from geo_platform.lib.stac.collection import with_collection_link
from geo_platform.lib.stac.completeness import with_completeness
from geo_platform.lib.stac.datacube import cube_renders, with_cube
from geo_platform.lib.stac.raster_item import build_raster_item
from geo_platform.lib.stac.render import apply_renders
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.types import BlobInfo, Provenance
from geo_platform.store.blobs.base import BlobStore
from geo_platform.store.quality import collection_consistency
from geo_platform.store.silver import STAC_FOLDER, output_folder, remember_items, replace_outputs

Checks = dict[str, tuple[bool, str]]
Lookups = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]
_PREVIEW_MAX_BYTES = 200_000


@dataclass(frozen=True)
class VariablePublished:
    """One variable of the file: its item (as written to silver), tier bytes, asset hrefs,
    quality and consistency with its collection."""

    variable: str
    item_id: str
    item: dict[str, Any]
    tier_bytes: dict[str, int]
    hrefs: dict[str, str]
    quality: RasterQuality
    consistency: Consistency


@dataclass(frozen=True)
class CubePublished:
    """A multidimensional file published as one COG and item per variable: the variables, what
    was set aside and why (``ignored``), the silver blobs written, run metadata (JSON-able;
    ``*_href`` keys are hrefs, ``preview`` Markdown) and check verdicts by check name."""

    blob: str
    collection_id: str
    driver: str
    item_ids: tuple[str, ...]
    variables: tuple[VariablePublished, ...]
    ignored: tuple[str, ...]
    blobs: list[str]
    metadata: dict[str, Any]
    checks: Checks
    duplicate_of: str | None = None


@dataclass(frozen=True)
class _Built:
    var: CubeVariable
    item_id: str
    result: CogBuildResult


def publish_multidim(
    store: BlobStore,
    lookups: Lookups,
    silver_container: str,
    local: Path,
    bronze: BlobInfo,
    provenance: Provenance,
    options: RasterOptions,
    duplicate_of: str | None = None,
) -> CubePublished | None:
    """Publish ``local`` (the bronze file's local copy) variable by variable, or return None when
    it is not a NetCDF/HDF5/GRIB file. Raises the file's input error when no variable can be
    published, ``ValidationError`` when an output fails its checks (nothing published)."""
    blob = provenance.source_blob
    if blob.lower().endswith(".kmz"):  # one raster, its pictures placed (``raster.source``)
        return None
    pages = page_count(local)
    if not (might_be_cube(local) or zipfile.is_zipfile(local) or pages > 1):  # most rasters
        return None  # (no work folder)
    with output_folder(store, silver_container) as work:  # built where silver renames from
        cube = (
            read_cube(local, blob, work)
            or separate_rasters(local, blob, work, options.max_bytes)
            or separate_pages(local, blob, work, pages)
        )
        if cube is None:
            return None
        built, ignored = _build_all(cube, work, blob, options, bronze.size)
        collection = naming.collection_id(blob)
        items, files = {}, {}
        for b in built:
            hrefs, tier_files = _files(store, silver_container, blob, b)
            item = _item(b, hrefs, collection, bronze, provenance, ignored, duplicate_of)
            items[b.item_id] = (item, hrefs)
            files.update(tier_files)
            files[f"{STAC_FOLDER}/{b.item_id}.json"] = work / f"{b.item_id}.json"
            files[f"{STAC_FOLDER}/{b.item_id}.json"].write_text(json.dumps(item, indent=1))
        checks = _checks(built, {k: v[0] for k, v in items.items()})
        failed = [w for ok, w in checks.values() if not ok]
        if failed:
            raise ValidationError("outputs failed validation: " + "; ".join(failed), path=blob)
        variables = _judge(lookups, built, items, collection, checks)
        published = replace_outputs(store, silver_container, blob, files)
        remember_items(store, silver_container, blob, [i for i, _ in items.values()], published)
        blobs = [store.href(silver_container, b.path) for b in published.values()]
        preview = _preview(built[0].result.thumbnail)
    return CubePublished(
        blob=blob,
        collection_id=collection,
        driver=cube.driver,
        item_ids=tuple(b.item_id for b in built),
        variables=variables,
        ignored=tuple(ignored),
        blobs=blobs,
        metadata=_metadata(cube.driver, built, variables, ignored, blobs, preview),
        checks=checks,
        duplicate_of=duplicate_of,
    )


def _build_all(
    cube: Cube, work: Path, blob: str, options: RasterOptions, source_size: int
) -> tuple[list[_Built], list[str]]:
    """The tiers of every variable; a variable with an input error is set aside with a note.
    Raises the first variable's error when none is left (or ``UnsupportedFormatError`` when the
    file has no variable to try)."""
    built: list[_Built] = []
    ignored = list(cube.ignored)
    errors: list[InputError] = []
    for var in cube.variables:
        item_id = naming.item_id(blob, f"-{var.name}")
        try:
            result = _build(cube, var, work / item_id, blob, options, source_size)
            built.append(_Built(var, item_id, result))
        except InputError as exc:
            errors.append(exc)
            label = var.description if cube.driver in AS_IS_DRIVERS else var.name  # the member
            ignored.append(f"{label}: {exc.message}")
    if built:
        return built, ignored
    if errors:
        raise errors[0]
    detail = "; ".join(ignored) or "no variables"
    raise UnsupportedFormatError(
        f"{cube.driver} file without a 2-D variable on a georeferenced grid ({detail})", path=blob
    )


def _build(
    cube: Cube, var: CubeVariable, out: Path, blob: str, options: RasterOptions, source_size: int
) -> CogBuildResult:
    """The tiers of one variable, built in ``out`` from its VRT (the source's size, driver and
    the variable's name recorded as the raster's)."""
    out.mkdir()
    if cube.driver in AS_IS_DRIVERS:  # a member raster of a zip, a page of a TIFF: as it is
        what = f"member {var.description!r}, " if cube.driver == ZIP_DRIVER else ""
        member = f"{what}{var.notes[0]}, published as its own item"
        info = inspect_raster(
            var.source,
            f"{blob}:{var.description}",
            max_bytes=options.max_bytes,
            max_pixels=options.max_pixels,
            assume_crs=options.assume_crs,
        )
        info = replace(info, file_size=source_size, rectified_from=member)
        return build_cog_tiers(var.source, out, options, name=info.name, info=info)
    source: Path = write_variable_vrt(var, out / "variable.vrt")
    how = None
    if not geotiff_keeps_crs(var.crs_wkt):  # a rotated pole: published on lon/lat
        warped = warp_to_lonlat(source, out.parent / f"{out.name}-warped.tif", options.max_bytes)
        source, how = warped.path, warped.how
    info = inspect_raster(
        source,
        f"{blob}:{var.name}",
        max_bytes=options.max_bytes,
        max_pixels=options.max_pixels,
        own_vrt=how is None,
    )
    info = replace(info, driver=cube.driver, file_size=source_size, rectified_from=how)
    return build_cog_tiers(source, out, options, name=info.name, info=info)


def _files(
    store: BlobStore, container: str, blob: str, built: _Built
) -> tuple[dict[str, str], dict[str, Path]]:
    """(asset hrefs by tier, silver name -> local file) of one variable's outputs."""
    result, folder = built.result, built.item_id
    files: dict[str, Path] = {
        f"{folder}/{t.tier}.tif": t.path
        for t in result.tiers.values()
        if t.skipped_reason is None and t.path is not None
    }
    if result.thumbnail is not None:
        files[f"{folder}/thumbnail.png"] = result.thumbnail
    prefix = naming.silver_prefix(blob)
    hrefs = {
        rel.rsplit("/", 1)[1].rsplit(".", 1)[0]: store.href(container, f"{prefix}/{rel}")
        for rel in files
    }
    return hrefs, files


def _item(
    built: _Built,
    hrefs: dict[str, str],
    collection: str,
    bronze: BlobInfo,
    provenance: Provenance,
    ignored: list[str],
    duplicate_of: str | None,
) -> dict[str, Any]:
    """The variable's final item: raster fields, datacube fields, collection link, renders,
    completeness, and the duplicate flag in ``publish`` mode."""
    item = build_raster_item(
        built.result,
        item_id=built.item_id,
        collection_id=collection,
        hrefs=hrefs,
        provenance=provenance,
        source_size=bronze.size,
        source_last_modified=bronze.last_modified,
        validate=False,  # validated once, in _checks
    )
    if built.var.dims:
        cube = with_cube(item.to_dict(), built.var, built.result.grid, ignored)
        final = with_completeness(apply_renders(with_collection_link(cube), cube_renders(cube)))
    else:  # a raster of a zip: an ordinary raster item
        final = with_completeness(apply_renders(with_collection_link(item.to_dict())))
    if duplicate_of is not None:
        final["properties"][stac_ext.DUPLICATE_OF_SOURCE] = duplicate_of
    return final


def _checks(built: list[_Built], items: dict[str, dict[str, Any]]) -> Checks:
    """``cog_valid`` (``build_cog_tiers`` validated every tier it kept) and ``stac_item_valid``
    for every variable."""
    tiers, problems = [], []
    for b in built:
        kept = [t.tier for t in b.result.tiers.values() if t.path is not None and not t.skipped]
        tiers.append(f"{b.var.name}: {', '.join(kept) or 'none'}")
        try:
            validate_stac(items[b.item_id])
        except ValidationError as exc:
            problems.append(f"{b.var.name}: {exc.message}")
    all_kept = all(
        any(t.path is not None and not t.skipped for t in b.result.tiers.values()) for b in built
    )
    stac_ok = "valid against the official schemas (offline), datacube extension included"
    return {
        "cog_valid": (all_kept, "cog_validate passed for " + "; ".join(tiers)),
        "stac_item_valid": (not problems, "; ".join(problems) or stac_ok),
    }


def _judge(
    lookups: Lookups,
    built: list[_Built],
    items: dict[str, tuple[dict[str, Any], dict[str, str]]],
    collection: str,
    checks: Checks,
) -> tuple[VariablePublished, ...]:
    """Quality and collection consistency of each variable; their verdicts joined into
    ``checks`` (a check passes when it passes for every variable)."""
    out = []
    verdicts: dict[str, list[tuple[bool, str]]] = {}
    with lookups() as conn:
        for b in built:
            r = b.result
            quality = raster_quality(r.info, r.grid, r.band_stats)
            consistency = collection_consistency(
                conn,
                collection,
                proj_code=r.grid.crs_code,
                wkt2=r.grid.crs_wkt2,
                resolution=r.grid.resolution,
                exclude_item=b.item_id,
            )
            for name, (ok, text) in raster_checks(quality, consistency).items():
                verdicts.setdefault(name, []).append((ok, f"{b.var.name}: {text}"))
            item, hrefs = items[b.item_id]
            tier_bytes = {t.tier: t.size_bytes for t in r.published().values()}
            out.append(
                VariablePublished(
                    b.var.name, b.item_id, item, tier_bytes, hrefs, quality, consistency
                )
            )
    for name, results in verdicts.items():
        checks[name] = (all(ok for ok, _ in results), "; ".join(text for _, text in results))
    return tuple(out)


def _preview(path: Path | None) -> str:
    """The first variable's thumbnail inlined as Markdown (small ones only)."""
    if path is None or not path.is_file() or path.stat().st_size > _PREVIEW_MAX_BYTES:
        return "(no preview)"
    return f"![preview](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})"


def _metadata(
    driver: str,
    built: Iterable[_Built],
    variables: Iterable[VariablePublished],
    ignored: list[str],
    blobs: list[str],
    preview: str,
) -> dict[str, Any]:
    """Run metadata: the file, each variable (bands, unit, tier bytes and analysis href), what
    was ignored and the blobs written."""
    meta: dict[str, Any] = {
        "preview": preview, "driver": driver, "multidimensional": driver not in AS_IS_DRIVERS,
    }  # fmt: skip
    per_variable = {}
    for b, v in zip(built, variables, strict=True):
        per_variable[v.variable] = {
            "item": f"{v.item['collection']}/{v.item_id}",
            "bands": b.result.info.count,
            "dtype": b.result.info.dtype,
            "unit": b.var.unit,
            "dimensions": [d.name for d in b.var.dims],
            "tier_bytes": v.tier_bytes,
        }
        if "analysis" in v.hrefs:
            meta[f"{v.item_id}/analysis_href"] = v.hrefs["analysis"]
    meta["variables"] = per_variable
    meta["stac_items"] = [p["item"] for p in per_variable.values()]
    meta["ignored_variables"] = ignored
    meta["bbox_4326"] = list(next(iter(built)).result.footprint.bbox)
    meta["geo_platform/blobs"] = blobs
    return meta
