"""One variable of a multidimensional file as a VRT the COG pipeline reads like any raster.

The VRT selects the variable's bands, carries what CF says about them (nodata from
``_FillValue``, scale and offset, unit, a band description per time step or level, the
source's band metadata for the archive tier) and shifts 0..360 longitudes: with ``roll``
columns to move, each band has two sources, the eastern columns placed first. Nothing is
copied; GDAL's COG driver streams the pixels through the VRT.

The VRT points at a local file this process linked (``multidim.read_cube``), so it is trusted,
unlike a VRT uploaded to bronze (``inspect.REFERENCING_DRIVERS``).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from geo_platform.lib.raster.multidim import CubeVariable

_GDAL_TYPES = {
    "uint8": "Byte",
    "int8": "Int8",
    "uint16": "UInt16",
    "int16": "Int16",
    "uint32": "UInt32",
    "int32": "Int32",
    "uint64": "UInt64",
    "int64": "Int64",
    "float32": "Float32",
    "float64": "Float64",
    "complex64": "CFloat32",
    "complex128": "CFloat64",
    "complex_int16": "CInt16",
}


def _number(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


def _metadata(parent: ET.Element, items: dict[str, str]) -> None:
    if not items:
        return
    meta = ET.SubElement(parent, "Metadata")
    for key, value in items.items():
        ET.SubElement(meta, "MDI", key=key).text = value


def _source(
    band: ET.Element, var: CubeVariable, source_band: int, src_x: int, dst_x: int, width: int
) -> None:
    """A source of ``width`` columns from ``src_x`` in the variable, placed at ``dst_x``."""
    simple = ET.SubElement(band, "SimpleSource")
    ET.SubElement(simple, "SourceFilename", relativeToVRT="0").text = var.source
    ET.SubElement(simple, "SourceBand").text = str(source_band)
    for tag, x_off in (("SrcRect", src_x), ("DstRect", dst_x)):
        rect = {"xOff": str(x_off), "yOff": "0", "xSize": str(width), "ySize": str(var.height)}
        ET.SubElement(simple, tag, rect)


def write_variable_vrt(var: CubeVariable, path: Path) -> Path:
    """Write the VRT of ``var`` to ``path`` and return it."""
    root = ET.Element("VRTDataset", rasterXSize=str(var.width), rasterYSize=str(var.height))
    ET.SubElement(root, "SRS").text = var.crs_wkt
    ET.SubElement(root, "GeoTransform").text = ", ".join(repr(float(v)) for v in _gdal_order(var))
    _metadata(root, var.tags)
    east = var.width - var.roll
    for index, (source_band, label) in enumerate(zip(var.bands, var.labels, strict=True), 1):
        band = ET.SubElement(
            root, "VRTRasterBand", dataType=_GDAL_TYPES.get(var.dtype, "Float64"), band=str(index)
        )
        ET.SubElement(band, "Description").text = label
        if var.nodata is not None:
            ET.SubElement(band, "NoDataValue").text = _number(var.nodata)
        if var.unit:
            ET.SubElement(band, "UnitType").text = var.unit
        ET.SubElement(band, "Offset").text = repr(float(var.offset))
        ET.SubElement(band, "Scale").text = repr(float(var.scale))
        _metadata(band, var.band_tags[index - 1] if var.band_tags else {})
        if var.roll:
            _source(band, var, source_band, var.roll, 0, east)
            _source(band, var, source_band, 0, east, var.roll)
        else:
            _source(band, var, source_band, 0, 0, var.width)
    ET.ElementTree(root).write(path, encoding="utf-8")
    return path


def _gdal_order(var: CubeVariable) -> tuple[float, ...]:
    """Affine (a, b, c, d, e, f) as GDAL's geotransform (c, a, b, f, d, e)."""
    a, b, c, d, e, f = var.transform
    return (c, a, b, f, d, e)
