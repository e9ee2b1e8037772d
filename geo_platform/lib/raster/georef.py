"""Where a raster is: its CRS (the dataset's, else a ``.prj`` sidecar's, else ``assume_crs``),
validated by PROJ, and its footprint in EPSG:4326, refusing georeferencing that cannot be right
(a geographic CRS with coordinates beyond the range of degrees, a raster nowhere on Earth)."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path, PurePosixPath

import pyproj
import rasterio
from affine import Affine
from pyproj.exceptions import CRSError as ProjCRSError
from pyproj.exceptions import ProjError

from geo_platform.lib.errors import (
    CoordinateRangeError,
    InvalidCRSError,
    MissingCRSError,
    NotGeoreferencedError,
)
from geo_platform.lib.gdal_paths import names_beside
from geo_platform.lib.raster.footprint import Footprint, footprint_4326, raster_outline
from geo_platform.lib.raster.opening import GDAL_ERRORS, readable_tags
from geo_platform.lib.raster.tags import gps_hint


def require_placement(ds: rasterio.io.DatasetReader, name: str) -> None:
    """Refuse a raster that nothing places on the map: no geotransform, GCPs or RPCs (each
    named, with what to do), too few GCPs to georectify, or a degenerate geotransform (pixels
    of no area, as an .aux.xml of zeros gives). The callers georectify GCP- or RPC-placed
    rasters that pass (``rectify``)."""
    t, gcps = ds.transform, ds.gcps[0]
    if not t.is_identity and not (math.isfinite(t.determinant) and t.determinant != 0):
        raise NotGeoreferencedError(
            f"its geotransform is degenerate (pixel size {t.a:g} x {t.e:g}, rotation {t.b:g}, "
            f"{t.d:g}: pixels of no area): it cannot be placed on a map; fix its world file "
            "or geotransform",
            path=name,
        )
    if not t.is_identity:
        return
    if 0 < len(gcps) < 3:
        raise NotGeoreferencedError(
            f"placed by only {len(gcps)} GCP(s), and georectifying takes at least 3: add "
            "ground control points, or give it a geotransform (a world file)",
            path=name,
        )
    if gcps and ds.gcps[1] is None:
        raise NotGeoreferencedError(
            f"georeferenced by {len(gcps)} GCPs only, and the GCPs have no CRS (no GCP "
            "projection), so it cannot be georectified: give them their CRS (gdal_edit.py -a_srs "
            "EPSG:xxxx FILE, or gdal_translate -a_srs EPSG:xxxx -gcp ... when writing them) "
            "and upload it again; it is then georectified on publishing",
            path=name,
        )
    if gcps:
        raise NotGeoreferencedError(
            f"georeferenced by {len(gcps)} GCPs only, without a geotransform; georectify it "
            "first (gdalwarp) and upload the result",
            path=name,
        )
    if ds.rpcs:
        raise NotGeoreferencedError(
            "georeferenced by RPCs only; orthorectify it first (gdalwarp -rpc)", path=name
        )
    raise NotGeoreferencedError(
        "no georeferencing (no geotransform, GCPs or RPCs): it cannot be placed on a map"
        + gps_hint(readable_tags(ds)),
        path=name,
    )


def resolve_crs(
    ds: rasterio.io.DatasetReader, gdal_path: str, name: str, assume_crs: str | None
) -> tuple[pyproj.CRS, str]:
    """The dataset's CRS, else a ``.prj`` sidecar's, else ``assume_crs``; validated by PROJ."""
    source = "dataset"
    try:
        text: str | None = ds.crs.to_wkt() if ds.crs else None
    except GDAL_ERRORS as exc:
        raise InvalidCRSError(f"GDAL cannot read the CRS: {exc}", path=name) from exc
    if text is None:
        prj_text = prj_sidecar(gdal_path)
        if prj_text is not None:
            text, source = prj_text, "prj_sidecar"
        elif assume_crs:
            text, source = assume_crs, "assumed"
        else:
            raise MissingCRSError(
                "has a geotransform but no CRS (no .prj sidecar and no assume_crs configured)",
                path=name,
            )
    try:
        crs = pyproj.CRS.from_user_input(text)
        if crs.type_name == "Engineering CRS" and source != "assumed":
            if not assume_crs:
                raise InvalidCRSError(
                    f"its CRS ({source}: {crs.name!r}) is a local engineering CRS, not tied to "
                    "the Earth; set assume_crs if its coordinates are in a real CRS",
                    path=name,
                )
            source = "assumed"  # a local grid the user says is a real one
            crs = pyproj.CRS.from_user_input(assume_crs)
        pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
    except (ProjCRSError, ProjError) as exc:
        raise InvalidCRSError(f"PROJ rejects the CRS ({source}): {exc}", path=name) from exc
    return crs, source


def prj_sidecar(gdal_path: str) -> str | None:
    """The text of the ``.prj`` beside the raster (same stem, any case), also inside a zip."""
    if gdal_path.startswith("/vsizip/"):
        outer, inner = _split_vsizip(gdal_path)
        if outer is None:
            return None
        stem = PurePosixPath(inner).with_suffix("").as_posix().lower()
        with zipfile.ZipFile(outer) as archive:
            for member in archive.infolist():
                if member.filename.lower() == stem + ".prj" and member.file_size < 1_000_000:
                    return archive.read(member).decode("utf-8", errors="replace")
        return None
    if gdal_path.startswith("/vsi"):
        return None
    path = Path(gdal_path)
    wanted = path.stem.lower() + ".prj"
    siblings = [path.parent / n for n in names_beside(path, wanted) if n.lower() == wanted]
    for prj in sorted(siblings):
        if prj.is_file():
            return prj.read_text(errors="replace")
    return None


def _split_vsizip(gdal_path: str) -> tuple[Path | None, str]:
    """``/vsizip/<archive>/<member>`` -> (archive, member)."""
    rest = gdal_path[len("/vsizip/") :]
    for parent in PurePosixPath(rest).parents:
        if Path(str(parent)).is_file():
            return Path(str(parent)), rest[len(str(parent)) + 1 :]
    return None, ""


def place_on_earth(ds: rasterio.io.DatasetReader, crs: pyproj.CRS, name: str) -> Footprint:
    """The raster's footprint in EPSG:4326; ``CoordinateRangeError``/``InvalidCRSError`` when
    its georeferencing cannot place it on the Earth."""
    _check_lonlat_range(ds, crs, name)
    _check_latitudes(ds.transform, ds.width, ds.height, crs, name)
    try:
        fp = footprint_4326(raster_outline(ds.width, ds.height), ds.transform, crs)
    except (ValueError, ProjError) as exc:
        raise InvalidCRSError(f"the CRS cannot be transformed to EPSG:4326: {exc}", name) from exc
    if not fp.geometry.get("coordinates"):
        raise InvalidCRSError(
            "no part of the raster can be placed on the Earth in its CRS: the georeferencing "
            "or the CRS is wrong",
            path=name,
        )
    return fp


def _check_lonlat_range(ds: rasterio.io.DatasetReader, crs: pyproj.CRS, name: str) -> None:
    """A geographic CRS whose raster lies wholly beyond the poles or the longitude range:
    projected coordinates labelled as degrees, most likely."""
    if not crs.is_geographic:
        return
    left, bottom, right, top = ds.bounds
    south, north = min(bottom, top), max(bottom, top)
    west, east = min(left, right), max(left, right)
    if south > 90 or north < -90 or west > 540 or east < -540:
        raise CoordinateRangeError(
            f"bounds ({west:g}, {south:g}, {east:g}, {north:g}) are outside the range of "
            "longitude and latitude although the CRS is geographic: the coordinates look "
            "projected (metres?) or the CRS is wrong",
            path=name,
        )


def _check_latitudes(t: Affine, width: int, height: int, crs: pyproj.CRS, name: str) -> None:
    """A geographic CRS whose rows run past a pole: latitude 100 does not exist, so the
    geotransform (or the CRS) is wrong, and a footprint clamped to 90 would hide it. Allowed:
    half a pixel beyond the pole (the edge of a grid whose pixel centres reach it, as
    pixel-is-point grids put them) plus rounding. Longitudes are not checked here: grids over
    0..360 and across the antimeridian are valid (``antimeridian_grid``)."""
    if not crs.is_geographic:
        return
    pole = _pole(crs)
    corners = [t @ (col, row) for col in (0, width) for row in (0, height)]
    south, north = min(y for _, y in corners), max(y for _, y in corners)
    slack = 0.5 * (abs(t.d) + abs(t.e)) + 1e-6  # one pixel's latitude span, halved
    beyond = north if north >= -south else south
    if abs(beyond) <= pole + slack:
        return
    west, east = min(x for x, _ in corners), max(x for x, _ in corners)
    raise CoordinateRangeError(
        f"rows reach latitude {beyond:g}, beyond the pole at {math.copysign(pole, beyond):g} "
        f"(bounds {west:g}, {south:g}, {east:g}, {north:g} in {crs.name}): no latitude is "
        "beyond +-90 degrees, so the geotransform or the CRS is wrong",
        path=name,
    )


def _pole(crs: pyproj.CRS) -> float:
    """The latitude of the poles in the unit of ``crs``'s axes: 90 degrees (100 grads)."""
    axes = crs.axis_info
    factor = axes[0].unit_conversion_factor if axes else None  # radians per unit
    return math.pi / 2 / factor if factor else 90.0
