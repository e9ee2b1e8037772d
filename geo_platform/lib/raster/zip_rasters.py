"""A zip of several rasters that are not tiles of one grid, published one item per raster.

A delivery often zips rasters that belong together but are not one mosaic: a DEM beside its
hillshade and slope (one grid, the same ground), scenes of different places or CRSs, an
overview at another resolution. ``zip_mosaic`` refuses those as tiles; here each member raster
becomes its own COG tiers and STAC item, the way the variables of a NetCDF file do
(``workflows.publish_multidim``: silver ``<item id>/analysis.tif``..., item ids
``<zip>-<member>``). Members are read in place through ``/vsizip/``, with their sidecars
inside the zip (world files, ``.aux.xml``).

``separate_rasters`` describes such a zip as a ``Cube`` of driver ``ZIP_DRIVER`` whose
variables are its member rasters (2-D, no dimensions beyond x and y); a zip of one raster or of
tiles of one grid gives None, and the ordinary path (one item, or one mosaic) takes it. A member
GDAL cannot open is set aside with its error in ``Cube.ignored``; the zip fails only when no
member is left.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from geo_platform.lib.errors import InputError, UnsupportedFormatError
from geo_platform.lib.gdal_paths import readable_member_name, vsizip
from geo_platform.lib.raster.multidim import Cube, CubeVariable
from geo_platform.lib.raster.opening import SeveralRastersError, open_raster, resolve_gdal_path
from geo_platform.lib.raster.zip_mosaic import mosaic_vrt

ZIP_DRIVER = "ZIP"
"""The driver of a ``Cube`` whose variables are the rasters of a zip."""


def separate_rasters(zip_path: Path, name: str, work: Path, max_bytes: int) -> Cube | None:
    """The member rasters of a zip that holds several rasters that are not tiles of one grid
    (see the module docstring); None for any other file. ``work`` is a private folder;
    ``max_bytes`` the zip bomb limit of one member, uncompressed."""
    try:
        resolve_gdal_path(zip_path, name, max_uncompressed=max_bytes)
        return None  # not a zip, or one raster in it
    except SeveralRastersError as several:
        members = several.members
    except InputError:
        return None  # the ordinary path reports what is wrong with it
    try:
        mosaic_vrt(zip_path, name, members, work / "tiles-probe.vrt")
        return None  # tiles of one grid: published as one mosaic
    except UnsupportedFormatError as not_tiles:
        why = not_tiles.message
    labels = _labels(members, posixpath.basename(name))
    variables, ignored = [], []
    note = f"one of {len(members)} rasters in the zip that are not one mosaic ({why})"
    for member in members:
        try:
            variables.append(_member(zip_path, member, labels[member], name, note))
        except InputError as exc:
            ignored.append(f"{member}: {exc.message}")
    return Cube(ZIP_DRIVER, tuple(variables), tuple(ignored))


def _labels(members: list[str], archive: str) -> dict[str, str]:
    """Each member's label: its file name without extension, or its path when two share one;
    without the archive's own name when every member starts with it (a Landsat scene's
    ``<scene>.tar`` holds ``<scene>_SR_B4.TIF``...: labels ``SR_B4``...)."""
    scene = archive.split(".", 1)[0].lower() + "_"
    stems = {m: readable_member_name(posixpath.splitext(posixpath.basename(m))[0]) for m in members}
    if len(scene) > 1 and all(s.lower().startswith(scene) and len(s) > len(scene)
                              for s in stems.values()):  # fmt: skip
        stems = {m: s[len(scene) :] for m, s in stems.items()}
    taken = list(stems.values())
    return {
        m: stem
        if taken.count(stem) == 1
        else readable_member_name(posixpath.splitext(m)[0]).replace("/", "-")
        for m, stem in stems.items()
    }


def _member(zip_path: Path, member: str, label: str, name: str, note: str) -> CubeVariable:
    return raster_variable(vsizip(zip_path, member), label, member, f"{name} ({member})", note)


def raster_variable(
    source: str, label: str, description: str, display: str, note: str
) -> CubeVariable:
    """A raster GDAL opens at ``source`` (a zip member, a page of a TIFF), as a variable read as
    it is: every band, no dimensions. ``display`` names it in errors."""
    with open_raster(source, display) as ds:
        t = ds.transform
        return CubeVariable(
            name=label,
            source=source,
            bands=tuple(range(1, ds.count + 1)),
            dims=(),
            coords=tuple(() for _ in range(ds.count)),
            dtype=ds.dtypes[0],
            width=ds.width,
            height=ds.height,
            transform=(t.c, t.a, t.b, t.f, t.d, t.e),
            crs_wkt=ds.crs.to_wkt() if ds.crs else "",
            nodata=ds.nodata,
            description=description,
            notes=(note,),
        )
