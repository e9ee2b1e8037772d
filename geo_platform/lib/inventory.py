"""Inventory of one bronze file: what it is and what it holds, without converting anything.

The bronze assets record this as materialization metadata so that the UI shows, per partition,
format (sniffed from the content), size, checksum, CRS, bbox, bands or layers, feature counts.
A file that cannot be read fails here, with a message naming the file and the problem.

Files are opened as the silver stage opens them: rasters in a zip through their member
(``N45E006.hgt.zip`` -> ``/vsizip/.../N45E006.hgt``, GDAL's SRTMHGT driver), vector zips member
by member (Shapefiles in any folder, several per zip), after the archive safety checks, and
every name through ``lib.gdal_paths`` so that no character of it reaches GDAL as syntax.
"""

from __future__ import annotations

import hashlib
import posixpath
import tempfile
import warnings
import zipfile
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from geo_platform.lib import compressed
from geo_platform.lib.content import HEAD_BYTES, UTF16_BOMS, describe, sniff_format
from geo_platform.lib.errors import (
    EmptyFileError,
    FormatMismatchError,
    InputError,
    UnreadableFileError,
    UnsupportedFormatError,
    gdal_input_error,
    without_local_paths,
)
from geo_platform.lib.gdal_paths import gdal_safe, vsizip
from geo_platform.lib.repack import Zipped, as_zip_if_archive
from geo_platform.lib.types import BBox, DataKind
from geo_platform.lib.vector import geojson_array, shx
from geo_platform.lib.zip_checks import check_zip

RASTER_FORMATS = {"GTiff", "JP2OpenJPEG", "GRIB", "HFA", "PNG", "JPEG", "GIF", "netCDF",
                  "NITF", "DTED", "PCIDSK", "SRTMHGT", "AAIGrid", "WEBP", "ZIP", "unknown",
                  "GSBG", "GS7BG", "GSAG", "MBTiles", "PCRaster",
                  "text"}  # fmt: skip
VECTOR_FORMATS = {"GeoJSON", "GeoJSONSeq", "GPKG", "SQLite", "ZIP", "CSV", "KML", "FlatGeobuf",
                  "Parquet", "ESRI Shapefile", "GML", "GPX", "XML", "JSON", "TopoJSON", "ESRIJSON",
                  "DXF", "MapInfo TAB", "MapInfo MIF", "OSM", "Arrow"}  # fmt: skip


@dataclass
class Inventory:
    kind: DataKind
    format: str
    size: int
    sha256: str
    driver: str = ""
    crs: str | None = None
    bbox: BBox | None = None
    width: int | None = None
    height: int | None = None
    bands: int | None = None
    dtypes: list[str] = field(default_factory=list)
    layers: list[dict[str, Any]] = field(default_factory=list)
    features: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, [], "")}


def inventory_file(path: Path, name: str, kind: DataKind) -> Inventory:
    """Sniff, checksum and open ``path`` (a local copy of bronze blob ``name``).

    Bad input is refused here, before any later stage, each with its own error naming the blob
    (never a local path): ``EmptyFileError`` (0 bytes, white space only, a zip without files),
    ``FormatMismatchError`` (content of no supported format: HTML, PDF, office documents,
    text named as geodata; content GDAL does not recognise), ``UnsafeArchiveError`` (a zip
    member escaping the archive root, named), and for vectors the table stage's own
    content-versus-extension rule (``vector.sniff.check_file``).
    """
    holder: compressed.Decompressed | Zipped | None = compressed.if_compressed(path, name)
    if holder is None:  # roads.geojson.gz, dem.asc.xz: the content; else
        holder = as_zip_if_archive(path, name)  # scene.tar, bdtopo.7z: repacked as a zip
    if holder is not None:
        inner = inventory_file(holder.path, name, kind)
        what = holder.codec.name if isinstance(holder, compressed.Decompressed) else holder.kind
        return replace(inner, format=f"{inner.format}+{what}", size=path.stat().st_size,
                       sha256=file_sha256(path))  # fmt: skip
    fmt = sniff_format(path, name)
    _refuse_blank(path, name, fmt)
    expected = RASTER_FORMATS if kind == "raster" else VECTOR_FORMATS
    if fmt not in expected or (path.suffix.lower() in (".zip", ".kmz") and fmt != "ZIP"):
        raise FormatMismatchError(_mismatch(path, kind, fmt), path=name)
    if fmt == "ZIP":
        check_zip(path, name, kind)
    if kind == "vector":
        from geo_platform.lib.vector.sniff import check_file

        check_file(path, name)
    inv = Inventory(kind=kind, format=fmt, size=path.stat().st_size, sha256=file_sha256(path))
    if kind == "raster":
        if fmt == "MBTiles":
            from geo_platform.lib.raster.mbtiles import refuse_vector_tiles

            refuse_vector_tiles(path, name)
        _raster_details(inv, path, name)
    elif fmt in ("Parquet", "Arrow"):  # read with pyarrow, as the table stage reads them
        _read_details(inv, path, name)
    else:
        _vector_details(inv, path, fmt, name)
    return inv


def sha256_file(path: Path, chunk: int = 4 << 20) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a local file, remembered per (file, size, modification time): the bronze
    inventory and the silver provenance of one run read the same bronze file, hashed once."""
    st = path.stat()
    return _sha256(str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=1024)  # more than a run's files: a batch hashed in order twice is all misses
def _sha256(path: str, inode: int, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))


def _mismatch(path: Path, kind: DataKind, fmt: str) -> str:
    ext = path.suffix.lower()
    if ext in (".zip", ".kmz"):
        return f"named {ext}, but it is not a zip archive (content: {fmt})"
    seen = describe(fmt)
    return f"named like a {kind} file ({ext or 'no extension'}), but its content is {seen}"


def _refuse_blank(path: Path, name: str, fmt: str) -> None:
    """A file of white space only is empty, whatever its name."""
    if fmt != "unknown" or path.stat().st_size > HEAD_BYTES:
        return
    if not path.read_bytes().strip(b" \t\r\n\x00").removeprefix(b"\xef\xbb\xbf").strip():
        raise EmptyFileError("the file holds no data (only white space or NUL bytes)", name)


def _raster_details(inv: Inventory, path: Path, name: str) -> None:
    from geo_platform.lib.raster.opening import SeveralRastersError, resolve_gdal_path
    from geo_platform.lib.raster.zip_mosaic import mosaic_vrt

    if name.lower().endswith(".kmz"):  # GroundOverlays or a superoverlay (``kml_overlay``)
        return _describe_overlay(inv, path, name)
    try:
        src = resolve_gdal_path(path, name)
    except SeveralRastersError as several:  # tiles in a zip: described as their mosaic
        with tempfile.TemporaryDirectory(prefix="geo_platform_") as tmp:
            try:
                vrt, driver = mosaic_vrt(path, name, several.members, Path(tmp) / "mosaic.vrt")
            except UnsupportedFormatError:  # not tiles: one item per raster (zip_rasters)
                return _describe_members(inv, path, name, several.members)
            _describe_raster(inv, str(vrt), path, name)
        inv.driver = driver
        return
    _describe_raster(inv, src, path, name)


def _describe_overlay(inv: Inventory, path: Path, name: str) -> None:
    """A KMZ raster (``kml_overlay``): a pyramid as GDAL reads it, else its overlays' pictures
    placed by their boxes (each overlay of a mosaic in ``layers``)."""
    from geo_platform.lib.kml_overlay import Overlay, Pyramid, read_kmz_raster

    raster, member = read_kmz_raster(path, name)
    if isinstance(raster, Pyramid):  # GDAL's KMLSUPEROVERLAY driver reads it whole
        _describe_raster(inv, str(path), path, name)
        inv.driver = f"KMZ ({inv.driver})"
        return
    tiles = [(raster, member)] if isinstance(raster, Overlay) else list(raster.tiles)
    described = []
    for overlay, image in tiles:
        one = Inventory(kind="raster", format="", size=0, sha256="")
        _describe_raster(one, vsizip(path, image), path, f"{name} ({image})")
        one.crs, one.bbox = "EPSG:4326", overlay.envelope()
        described.append((overlay.name, image, one))
    first = described[0][2]
    if len(described) == 1:
        inv.driver, inv.width, inv.height = f"KMZ ({first.driver})", first.width, first.height
    else:  # a mosaic: each overlay in ``layers``
        inv.driver = f"KMZ ({first.driver} tiles)"
        inv.layers = [{"name": n, "image": i, **one.as_dict()} for n, i, one in described]
    inv.bands, inv.dtypes, inv.crs = first.bands, first.dtypes, "EPSG:4326"
    boxes = [one.bbox for _, _, one in described if one.bbox is not None]
    inv.bbox = (min(b[0] for b in boxes), min(b[1] for b in boxes),
                max(b[2] for b in boxes), max(b[3] for b in boxes))  # fmt: skip


def _describe_members(inv: Inventory, path: Path, name: str, members: list[str]) -> None:
    """A zip of several rasters that are not tiles: each member in ``layers``, the bbox of all."""
    for member in members:
        one = Inventory(kind="raster", format="", size=0, sha256="")
        try:
            _describe_raster(one, vsizip(path, member), path, f"{name} ({member})")
        except InputError as exc:
            inv.layers.append({"name": member, "error": exc.message})
            continue
        inv.layers.append({"name": member, **one.as_dict()})
        if one.bbox is not None:
            b = inv.bbox or one.bbox
            inv.bbox = (min(b[0], one.bbox[0]), min(b[1], one.bbox[1]),
                        max(b[2], one.bbox[2]), max(b[3], one.bbox[3]))  # fmt: skip
    inv.driver = "ZIP"


def _describe_raster(inv: Inventory, src: str, path: Path, name: str) -> None:
    import rasterio
    from rasterio.errors import RasterioIOError
    from rasterio.warp import transform_bounds

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(src) as ds:
                inv.driver = ds.driver
                inv.width, inv.height, inv.bands = ds.width, ds.height, ds.count
                inv.dtypes = list(ds.dtypes)
                if ds.crs:
                    inv.crs = ds.crs.to_string()
                    try:
                        inv.bbox = tuple(
                            round(v, 7) for v in transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
                        )
                    except Exception:
                        inv.bbox = None
    except RasterioIOError as exc:
        raise gdal_input_error(exc, name, "raster", src, path) from exc


def _vector_sources(path: Path, fmt: str, name: str) -> tuple[list[tuple[str, str]], object]:
    """[(GDAL path, member name)] to list, and the link folder to keep alive while reading."""
    if fmt == "ZIP" and path.suffix.lower() not in (".kmz", ".xlsx", ".ods"):
        from geo_platform.lib.vector import archive
        from geo_platform.lib.vector.options import VectorOptions

        names = archive.inspect_zip(path, name, VectorOptions())
        members = archive.vectors_in(path, names, name)
        sources, folders = [], []
        for member in members:
            archive.check_member_content(path, member, name)
            src = vsizip(path, member.inner_path)
            if member.driver == "ESRI Shapefile" and shx.lacks_index(member.inner_path, names):
                shp, folder = shx.extracted(path, member.inner_path, names, name)
                src = str(shp)
                folders.append(folder)
            sources.append((src, member.name))
        return sources, folders
    if fmt == "ESRI Shapefile":
        shp, index = shx.indexed(path, name)  # a missing .shx is rebuilt
        if index is not None:
            return [(str(shp), "")], index
    suffix = ".csv" if fmt == "CSV" and path.suffix.lower() not in (".csv", ".tsv") else None
    safe, holder = gdal_safe(path, suffix)
    return [(str(safe), "")], holder


def _single_layer_info(src: str, fmt: str) -> dict[str, Any] | None:
    """``read_info`` of a file of a one-layer format (``sniff.SINGLE_LAYER_DRIVERS``), or None
    for other formats, a TopoJSON, or an error (the listing then reports it)."""
    import pyogrio

    from geo_platform.lib.vector import sniff

    if fmt not in sniff.SINGLE_LAYER_DRIVERS:
        return None
    try:
        info = dict(pyogrio.read_info(src))
    except Exception:
        return None
    return info if sniff.only_layer(info) else None


def _vector_details(inv: Inventory, path: Path, fmt: str, name: str) -> None:
    import pyogrio

    from geo_platform.lib.vector.sniff import only_layer

    if fmt == "ZIP" and _has_extracted_members(path, name):
        return _read_details(inv, path, name)
    if fmt == "CSV" and _head(path, 2) in UTF16_BOMS:  # GDAL reads UTF-8 only
        return _read_details(inv, path, name)
    if fmt == "GeoJSON" and geojson_array.is_array(path):  # read from a wrapped copy
        return _read_details(inv, path, name)
    sources, _keepalive = _vector_sources(path, fmt, name)
    total = 0
    for src, member in sources:
        first = _single_layer_info(src, fmt)  # GeoJSON: one parse, not two
        try:
            only = only_layer(first)
            layers = [only] if only else pyogrio.list_layers(src)
        except Exception as exc:
            error = gdal_input_error(exc, name, "vector", src, path)
            if fmt == "GPKG" and isinstance(error, FormatMismatchError):
                from geo_platform.lib.vector.sniff import raster_gpkg_error

                raise (raster_gpkg_error(path, name) or error) from exc
            raise error from exc
        for layer_name, geom_type in layers:
            try:
                info = first or pyogrio.read_info(src, layer=layer_name)
            except Exception as exc:
                text = without_local_paths(str(exc), name, src, path)
                raise UnreadableFileError(f"layer {layer_name!r} unreadable: {text}", name) from exc
            count = int(info.get("features") or 0)
            total += max(count, 0)
            inv.driver = str(info.get("driver") or inv.driver)
            shown = member if member and len(layers) == 1 else str(layer_name)
            if shown == "source" and _keepalive is not None:
                shown = path.stem  # named after the link, not the file
            inv.layers.append(
                {
                    "name": shown,
                    "geometry_type": str(geom_type),
                    "features": count,
                    "crs": info.get("crs"),
                    "fields": len(info.get("fields", [])),
                }
            )
    if not inv.layers:
        raise UnsupportedFormatError("the file holds no vector layers", path=name)
    inv.features = total
    crs = {str(layer.get("crs")) for layer in inv.layers if layer.get("crs")}
    inv.crs = ", ".join(sorted(crs)) or None


def _head(path: Path, n: int) -> bytes:
    with path.open("rb") as fh:
        return fh.read(n)


def _has_extracted_members(path: Path, name: str) -> bool:
    """True for a zip of vectors holding GeoParquet or workbooks, which GDAL cannot read in
    place (``archive.EXTRACTED_DRIVERS``)."""
    from geo_platform.lib.vector import archive

    if path.suffix.lower() in (".kmz", ".xlsx", ".ods"):
        return False
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    return any(posixpath.splitext(n)[1].lower() in archive.EXTRACTED_DRIVERS for n in names)


def _read_details(inv: Inventory, path: Path, name: str) -> None:
    """The layers as the table stage will read them (``vector.read``)."""
    from geo_platform.lib.vector.read import list_layers

    layers = list_layers(path, name)
    for src in layers:
        inv.layers.append({"name": src.name, "geometry_type": src.geometry_type,
                           "features": src.feature_count or 0, "crs": src.crs,
                           "fields": len(src.fields)})  # fmt: skip
    inv.driver = layers[0].driver
    inv.features = sum(src.feature_count or 0 for src in layers)
    inv.crs = ", ".join(sorted({str(s.crs) for s in layers if s.crs})) or None
