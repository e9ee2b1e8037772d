"""Open bronze vector files as layers.

``open_source`` checks a file before GDAL reads it (format by content vs extension, zip safety,
text encoding) and returns one ``LayerSource`` per layer to publish; ``batches`` streams a
layer's features.

Formats: GeoJSON, GeoJSONSeq, GeoPackage (all layers or ``options.layer``), Shapefile (zipped,
nested folders and several per zip allowed, each its own layer named by its path in the zip, or
a loose ``.shp`` with its sidecars), CSV with coordinate or WKT columns (see ``csvsource.py``),
KML/KMZ (every folder is a layer), FlatGeobuf, GeoParquet, Arrow IPC/Feather (``arrow_ipc``),
FileGDB, GPX, GML, TopoJSON, Esri JSON, DXF, SQLite, each also compressed or in a tar. Content
decides (``sniff.check_file``).
"""

from __future__ import annotations

import posixpath
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyogrio

from geo_platform.lib import compressed, naming
from geo_platform.lib.errors import (
    EmptyDatasetError,
    FormatMismatchError,
    InvalidCRSError,
    NoGeometryError,
    UnknownLayerError,
    UnreadableFileError,
    UnsupportedFormatError,
)
from geo_platform.lib.gdal_paths import gdal_safe, vsizip
from geo_platform.lib.repack import Zipped, as_zip_if_archive
from geo_platform.lib.vector import (
    archive,
    arrow_ipc,
    dbf_encoding,
    geojson_crs,
    geojson_ids,
    geoparquet,
    gpx_extensions,
    shx,
    sniff,
    spreadsheet,
    truncated,
    zip_tables,
)
from geo_platform.lib.vector import csvsource as csv_source
from geo_platform.lib.vector.batches import reader_error
from geo_platform.lib.vector.geojson_array import Wrapped, if_array
from geo_platform.lib.vector.options import VectorOptions
from geo_platform.lib.vector.source import LayerSource
from geo_platform.lib.vector.wide_text import if_wide_json

# Drivers GDAL may legitimately pick for each declared format.
_ACCEPTED_DRIVERS = {
    "GeoJSON": {"GeoJSON", "ESRIJSON", "TopoJSON"}, "GeoJSONSeq": {"GeoJSONSeq", "GeoJSON"},
    "LIBKML": {"LIBKML", "KML"},
}  # fmt: skip


def _layer_info(src: LayerSource) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pyogrio.read_info(
                src.gdal_path, layer=src.layer, encoding=src.encoding, **src.open_options
            )
        except Exception as exc:
            raise reader_error(exc, src) from exc


def _gdal_layers(base: LayerSource) -> list[tuple[str, str | None]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            listed = pyogrio.list_layers(base.gdal_path)
        except Exception as exc:
            raise reader_error(exc, base) from exc
    return [(str(name), None if gtype is None else str(gtype)) for name, gtype in listed]


def _ogr_layers(base: LayerSource, expected_driver: str) -> list[LayerSource]:
    """Every spatial layer GDAL finds at ``base.gdal_path`` (aspatial tables are skipped)."""
    out = []
    first = _layer_info(base) if expected_driver in sniff.SINGLE_LAYER_DRIVERS else None
    only = sniff.only_layer(first)
    first = first if only else None
    for name, gtype in [only] if only else _gdal_layers(base):
        if gtype is None:
            continue
        src = replace(base, layer=name, name=name)
        info = first or _layer_info(src)
        driver = str(info.get("driver") or "")
        if driver not in _ACCEPTED_DRIVERS.get(expected_driver, {expected_driver}):
            raise FormatMismatchError(
                f"content is read by GDAL as {driver}, not {expected_driver}", path=base.display
            )
        out.append(_with_info(src, info))
    return out


def _with_info(src: LayerSource, info: dict[str, Any]) -> LayerSource:
    count = info.get("features")
    fields = tuple(str(f) for f in info.get("fields", ()))
    fid = str(info.get("fid_column") or "")
    described = replace(
        src,
        driver=str(info.get("driver") or src.driver),
        crs=info.get("crs"),
        geometry_type=str(info.get("geometry_type") or "Unknown"),
        feature_count=None if count is None or count < 0 else int(count),
        fields=fields,
        geometry_column=str(info.get("geometry_name") or "wkb_geometry"),
        fid_column="" if fid in fields else fid,  # Esri JSON: OBJECTID is a field already
    )
    return gpx_extensions.with_extensions(geojson_ids.with_feature_ids(described))


def _declared_crs(
    path: Path, name: str, layers: list[LayerSource], options: VectorOptions
) -> list[LayerSource]:
    """GeoJSON layers whose declared ``crs`` GDAL could not resolve (see ``geojson_crs``)
    take ``assume_crs``, or fail with ``InvalidCRSError``."""
    problem = geojson_crs.declared_crs_problem(path, layers[0].crs) if layers else None
    if problem is None:
        return layers
    if not options.assume_crs:
        raise InvalidCRSError(problem, path=name)
    return [replace(s, crs=None) for s in layers]


def _base(path: Path, display: str, gdal_path: str, driver: str, name: str) -> LayerSource:
    return LayerSource(path=path, display=display, gdal_path=gdal_path, layer=None, name=name,
                       driver=driver, crs=None, geometry_type="Unknown", feature_count=None,
                       fields=(), geometry_column="wkb_geometry")  # fmt: skip


def _zip_layers(path: Path, display: str, options: VectorOptions) -> list[LayerSource]:
    names = archive.inspect_zip(path, display, options)
    members: list[tuple[str, list[LayerSource]]] = []
    vectors = archive.vectors_in(path, names, display)
    for vec in [*vectors, *zip_tables.tables_beside(path, names, vectors)[0]]:
        archive.check_member_content(path, vec, display)
        members.append((vec.inner_path, _member_layers(path, display, vec, options, names)))
    return _distinct_layer_names(members)


def _distinct_layer_names(members: list[tuple[str, list[LayerSource]]]) -> list[LayerSource]:
    """Layers of different zip members whose names would give the same table (``pts.gpkg``
    layer ``pts`` and ``pts.geojson``) are all renamed after their member: ``pts.gpkg/pts``,
    ``pts.geojson``. Every layer of the clash is renamed, so names do not depend on member
    order and stay the same from one run to the next."""

    def key(name: str) -> str:
        return naming.table_name("zip", name, multi_layer=True)

    owners: dict[str, set[str]] = {}
    for inner, found in members:
        for src in found:
            owners.setdefault(key(src.name), set()).add(inner)
    out: list[LayerSource] = []
    for inner, found in members:
        for src in found:
            if len(owners[key(src.name)]) > 1:
                qualified = inner if len(found) == 1 else f"{inner}/{src.name}"
                src = replace(src, name=qualified)
            out.append(src)
    return out


def _member_layers(
    path: Path, display: str, vec: archive.ArchiveVector, options: VectorOptions, names: list[str]
) -> list[LayerSource]:
    if vec.driver == "GeoParquet":  # pyarrow reads no /vsizip/: a private copy
        copy, holder = archive.extracted_member(path, vec.inner_path)
        src = geoparquet.parquet_layer_source(copy, display, options.assume_crs)
        return [replace(src, name=vec.name, keepalive=holder)]
    if vec.driver in spreadsheet.FORMATS:  # a workbook is a zip itself: a private copy
        copy, holder = archive.extracted_member(path, vec.inner_path)
        found = _spreadsheet_layers(copy, display, spreadsheet.FORMATS[vec.driver], options)
        return [replace(s, keepalive=(s.keepalive, holder)) for s in found]
    gdal_path, index = vsizip(path, vec.inner_path), None
    _complete_member(path, display, vec, names)
    if vec.driver == "ESRI Shapefile" and (
        shx.lacks_index(vec.inner_path, names) or shx.stems_differ(vec.inner_path, names)
    ):  # copied out under one stem, a missing .shx rebuilt
        shp, index = shx.extracted(path, vec.inner_path, names, display)
        gdal_path = str(shp)
    base = replace(_base(path, display, gdal_path, vec.driver, vec.name), keepalive=index)
    if vec.driver == "CSV":
        return list(csv_source.csv_layers(base, options))
    if vec.driver == "ESRI Shapefile":
        enc = dbf_encoding.member_encoding(path, vec.inner_path, names, options.encoding, display)
        base = replace(base, encoding=enc)
    found = _ogr_layers(base, vec.driver)
    if vec.driver == "ESRI Shapefile":
        found = [replace(s, name=vec.name) for s in found]
    return found


def _require_siblings(path: Path, display: str, what: str, needed: tuple[str, ...]) -> None:
    siblings = {p.name.lower() for p in path.parent.iterdir()}
    missing = [s for s in needed if (path.stem + s).lower() not in siblings]
    if missing:
        raise UnreadableFileError(
            f"{what} lacks its {', '.join(missing)} sidecar(s) next to it", path=display
        )


def _complete_member(
    path: Path, display: str, vec: archive.ArchiveVector, names: list[str]
) -> None:
    """Refuse a Shapefile or CSV member of a zip that is cut short (``truncated``)."""
    stem, _ext = posixpath.splitext(vec.inner_path)
    if vec.driver == "ESRI Shapefile":
        for member in names:
            base, ext = posixpath.splitext(member)
            if base.lower() == stem.lower() and ext.lower() in (".shp", ".shx", ".dbf"):
                with archive.open_member(path, member) as (stream, size):
                    head = stream.read(32)
                truncated.check_shapefile_part(ext, head, size, member, display)
    elif vec.driver == "CSV":
        with archive.open_member(path, vec.inner_path) as (stream, _size):
            truncated.check_csv_quotes(stream, display)


def _loose_shapefile(path: Path, display: str, options: VectorOptions) -> list[LayerSource]:
    _require_siblings(path, display, "Shapefile", (".dbf",))
    for part in path.parent.iterdir():
        if part.stem.lower() == path.stem.lower() and part.suffix.lower() in (
            ".shp",
            ".shx",
            ".dbf",
        ):
            with part.open("rb") as stream:
                head = stream.read(32)
            truncated.check_shapefile_part(
                part.suffix, head, part.stat().st_size, part.name, display
            )
    shp, index = shx.indexed(path, display)  # a missing .shx is rebuilt
    safe, holder = (shp, index) if index is not None else gdal_safe(path)
    base = _base(path, display, str(safe), "ESRI Shapefile", path.stem)
    enc = dbf_encoding.loose_encoding(path, options.encoding, display)
    base = replace(base, encoding=enc, keepalive=holder)
    return [replace(s, name=path.stem) for s in _ogr_layers(base, "ESRI Shapefile")]


_COMPANIONS = {"tab": ("MapInfo TAB", (".dat",)), "mif": ("MapInfo MIF", (".mid",))}


def _unpacked(path: Path, name: str, options: VectorOptions) -> list[LayerSource] | None:
    """Layers of a compressed file, tar, 7z or JSON array of Features, read from a copy, or None."""
    limit, ratio = options.max_archive_bytes, options.max_archive_ratio
    holder: compressed.Decompressed | Zipped | Wrapped | None = (
        compressed.decompress(path, name, max_bytes=limit, max_ratio=ratio)
        if compressed.is_compressed(path)
        else as_zip_if_archive(path, name, limit) or if_wide_json(path) or if_array(path)
    )
    if holder is None:
        return None
    inner = list_layers(holder.path, name, options)
    return [replace(s, keepalive=(s.keepalive, holder)) for s in inner]


def list_layers(path: Path, name: str, options: VectorOptions | None = None) -> list[LayerSource]:
    """Every spatial layer of a file, after the safety and format checks (no layer choice)."""
    options = options or VectorOptions()
    path = Path(path)
    unpacked = _unpacked(path, name, options)
    if unpacked is not None:
        return unpacked
    fmt = sniff.check_file(path, name)
    if fmt == "zip":
        layers = _zip_layers(path, name, options)
    elif fmt == "shp":
        layers = _loose_shapefile(path, name, options)
    elif fmt == "csv":
        with path.open("rb") as stream:
            truncated.check_csv_quotes(stream, name)
        safe, holder = gdal_safe(path, ".csv")
        base = replace(_base(path, name, str(safe), "CSV", path.stem), keepalive=holder)
        layers = csv_source.csv_layers(base, options)
    elif fmt in spreadsheet.DRIVERS:  # sheets with coordinate columns, read as CSV
        layers = _spreadsheet_layers(path, name, fmt, options)
    elif fmt == "parquet":
        layers = [geoparquet.parquet_layer_source(path, name, options.assume_crs)]
    elif fmt == "arrow":  # Arrow IPC / Feather: pyogrio's GDAL has no Arrow driver
        layers = [arrow_ipc.arrow_layer_source(path, name, options.assume_crs)]
    elif fmt == "kmz":
        archive.inspect_zip(path, name, options)
        safe, holder = gdal_safe(path, ".kmz")
        base = replace(_base(path, name, str(safe), "LIBKML", path.stem), keepalive=holder)
        layers = _ogr_layers(base, "LIBKML")
    else:
        if fmt in _COMPANIONS:  # MapInfo: attributes (and geometry) live in companion files
            _require_siblings(path, name, *_COMPANIONS[fmt])
        sniff.check_text_encoding(path, name, fmt)
        if fmt == "geojsonseq":
            truncated.check_sequence_end(_tail(path), name)
        elif fmt in ("gpx", "gml"):
            truncated.check_xml_end(_head(path), _tail(path), name)
        driver = sniff.DRIVER_OF_FORMAT[fmt]
        safe, holder = gdal_safe(path, sniff.SUFFIX_OF_FORMAT[fmt])
        base = replace(_base(path, name, str(safe), driver, path.stem), keepalive=holder)
        try:
            layers = _ogr_layers(base, driver)
        except FormatMismatchError:  # GDAL's vector drivers see nothing in a raster GeoPackage
            raster = sniff.raster_gpkg_error(path, name) if fmt == "gpkg" else None
            if raster is None:
                raise
            raise raster from None
        layers = _json_crs(path, name, fmt, layers, options)
        if holder is not None and len(layers) == 1 and layers[0].name == "source":
            layers = [replace(layers[0], name=path.stem)]  # named after the link, not the file
    if not layers:
        raise EmptyDatasetError("the file has no layers with features or geometry", path=name)
    multi = len(layers) > 1
    return [replace(s, multi_layer=multi) for s in layers]


def _json_crs(
    path: Path, name: str, fmt: str, layers: list[LayerSource], options: VectorOptions
) -> list[LayerSource]:
    """A GeoJSON's declared CRS; TopoJSON's convention (also when named ``.json``, as TopoJSON
    usually is: world-atlas, us-atlas)."""
    if fmt == "geojson" and any(s.driver == "TopoJSON" for s in layers):
        fmt = "topojson"
    if fmt == "geojson":
        return _declared_crs(path, name, layers, options)
    if fmt == "topojson" and not options.assume_crs:
        # TopoJSON has no CRS member: lon/lat by convention, assumed and range-checked like a
        # CSV's coordinates (projected ones fail with CoordinateRangeError).
        return [
            replace(s, crs="EPSG:4326", crs_assumed=True, lonlat_range_check=True)
            if s.crs is None
            else s
            for s in layers
        ]
    return layers


def _head(path: Path, size: int = 4096) -> bytes:
    with path.open("rb") as stream:
        return stream.read(size)


def _tail(path: Path, size: int = 256) -> bytes:
    with path.open("rb") as stream:
        stream.seek(max(0, path.stat().st_size - size))
        return stream.read()


def _spreadsheet_layers(
    path: Path, name: str, fmt: str, options: VectorOptions
) -> list[LayerSource]:
    archive.inspect_zip(path, name, options)  # a workbook is a zip: the bomb limits hold
    safe, holder = gdal_safe(path, sniff.SUFFIX_OF_FORMAT[fmt])
    base = replace(_base(path, name, str(safe), spreadsheet.DRIVERS[fmt], path.stem),
                   keepalive=holder)  # fmt: skip
    return spreadsheet.spreadsheet_layers(base, fmt, options)


def open_source(path: Path, name: str, options: VectorOptions | None = None) -> list[LayerSource]:
    """The layers to publish from a file: all of them, or ``options.layer`` only."""
    options = options or VectorOptions()
    layers = list_layers(path, name, options)
    if options.layer is None:
        return layers
    chosen = [s for s in layers if options.layer in (s.name, s.layer)]
    if not chosen:
        names = ", ".join(repr(s.name) for s in layers)
        raise UnknownLayerError(f"layer {options.layer!r} not found (layers: {names})", path=name)
    return [replace(chosen[0], multi_layer=False)]


def require_geometry(src: LayerSource) -> None:
    """Refuse an attribute-only layer with a clear error."""
    if src.geometry_type in ("None", ""):
        raise NoGeometryError(f"layer {src.name!r} has no geometry column", path=src.display)


__all__ = [
    "LayerSource",
    "UnsupportedFormatError",
    "list_layers",
    "open_source",
    "require_geometry",
]
