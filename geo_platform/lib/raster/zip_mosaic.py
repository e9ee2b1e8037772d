"""A zip of raster tiles published as one raster: a mosaic VRT over the members, in place.

A delivery often zips the tiles of one orthophoto or DEM (``ortho.zip`` holding ``r1c1.tif``,
``r1c2.tif``... and their world files). When a zip holds several rasters
(``opening.SeveralRastersError``), ``mosaic_vrt`` writes a VRT that places every member on one
pixel grid, read in place through ``/vsizip/`` (nothing is extracted), and the raster pipeline
builds the tiers from it like from any raster (or tiles it, when large). The members must be
tiles of one grid: the same CRS, band count, data types and nodata, north-up, the same
resolution, aligned on whole pixels, and not covering the same ground (a shared margin is
fine, two rasters of one area are not tiles). Anything else is an ``UnsupportedFormatError``
that says which member differs and how; the raster pipeline then publishes each member as its
own item (``zip_rasters``), that error recorded in their lineage. Gaps between tiles are
transparent: through the members' nodata value, or else through a mask band that is valid only
where a tile lies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import rasterio.io
from rasterio.crs import CRS

from geo_platform.lib.errors import UnsupportedFormatError
from geo_platform.lib.gdal_paths import vsizip
from geo_platform.lib.raster.opening import open_raster

MAX_TILES = 10_000
_ALIGN_TOLERANCE = 0.01  # of a pixel
_GDAL_TYPES = {
    "uint8": "Byte", "int8": "Int8", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32",
    "int32": "Int32", "uint64": "UInt64", "int64": "Int64", "float32": "Float32",
    "float64": "Float64", "complex64": "CFloat32", "complex128": "CFloat64",
}  # fmt: skip


@dataclass(frozen=True)
class _Tile:
    member: str
    source: str  # the GDAL path of the member
    width: int
    height: int
    left: float
    top: float
    res: tuple[float, float]
    crs: CRS | None
    count: int
    dtypes: tuple[str, ...]
    nodata: float | None
    colorinterp: tuple[str, ...]
    driver: str
    palette: tuple[tuple[int, ...], ...] = ()  # band 1's color table, in index order


def _tile(zip_path: Path, member: str, name: str) -> _Tile:
    source = vsizip(zip_path, member)
    with open_raster(source, f"{name} ({member})") as ds:
        t = ds.transform
        if t.b != 0 or t.d != 0 or t.e >= 0:
            raise UnsupportedFormatError(
                f"zip member {member!r} is not a north-up grid: its tiles cannot be mosaicked",
                path=name,
            )
        return _Tile(member, source, ds.width, ds.height, t.c, t.f, (t.a, -t.e), ds.crs,
                     ds.count, tuple(ds.dtypes), ds.nodata,
                     tuple(c.name for c in ds.colorinterp), ds.driver, _palette(ds))  # fmt: skip


def _palette(ds: rasterio.io.DatasetReader) -> tuple[tuple[int, ...], ...]:
    if ds.colorinterp[0].name != "palette":
        return ()
    try:
        table = ds.colormap(1)
    except ValueError:
        return ()
    return tuple(tuple(table[i]) for i in sorted(table))


def _differs(first: _Tile, tile: _Tile) -> str | None:
    """How ``tile`` is not on the grid of ``first``, or None."""
    if (first.crs is None) != (tile.crs is None) or (first.crs and first.crs != tile.crs):
        return f"its CRS is {tile.crs} where {first.member!r} has {first.crs}"
    if tile.count != first.count or tile.dtypes != first.dtypes:
        mine, theirs = "/".join(sorted(set(tile.dtypes))), "/".join(sorted(set(first.dtypes)))
        return (f"it has {tile.count} band(s) of {mine} where {first.member!r} has "
                f"{first.count} of {theirs}")  # fmt: skip
    if tile.palette != first.palette:
        return f"its color table differs from that of {first.member!r}"
    if not _same(tile.nodata, first.nodata):
        return f"its nodata is {tile.nodata} where {first.member!r} has {first.nodata}"
    if any(abs(a - b) > 1e-9 * abs(b) for a, b in zip(tile.res, first.res, strict=True)):
        return f"its pixel size is {tile.res} where {first.member!r} has {first.res}"
    return None


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def _offset(value: float, origin: float, res: float, member: str, name: str) -> int:
    pixels = (value - origin) / res
    whole = round(pixels)
    if abs(pixels - whole) > _ALIGN_TOLERANCE:
        raise UnsupportedFormatError(
            f"zip member {member!r} is not aligned on the pixel grid of the other tiles "
            f"(off by {abs(pixels - whole):.2f} pixel): its tiles cannot be mosaicked",
            path=name,
        )
    return int(whole)


def _refuse_overlaps(placed: list[tuple[_Tile, int, int]], name: str) -> None:
    """Tiles may share a margin; two rasters over the same ground (two dates, two versions)
    are not tiles of one image: more than half of the smaller one covered is refused."""
    x0 = np.array([x for _, x, _ in placed])
    y0 = np.array([y for _, _, y in placed])
    x1 = x0 + np.array([t.width for t, _, _ in placed])
    y1 = y0 + np.array([t.height for t, _, _ in placed])
    area = (x1 - x0) * (y1 - y0)
    for i in range(len(placed) - 1):
        j = slice(i + 1, None)
        dx = np.minimum(x1[i], x1[j]) - np.maximum(x0[i], x0[j])
        dy = np.minimum(y1[i], y1[j]) - np.maximum(y0[i], y0[j])
        shared = np.clip(dx, 0, None) * np.clip(dy, 0, None)
        worst = np.flatnonzero(shared * 2 > np.minimum(area[i], area[j]))
        if worst.size:
            other = placed[i + 1 + int(worst[0])][0].member
            raise UnsupportedFormatError(
                f"zip members {placed[i][0].member!r} and {other!r} cover the same ground: "
                "they are not tiles of one image; publish one raster per archive",
                path=name,
            )


def _source(tile: _Tile, band: str, x: int, y: int, nodata: float | None) -> str:
    kind = "ComplexSource" if nodata is not None else "SimpleSource"
    extra = f"<NODATA>{nodata!r}</NODATA>" if nodata is not None else ""
    return (
        f'<{kind}><SourceFilename relativeToVRT="0">{escape(tile.source)}</SourceFilename>'
        f"<SourceBand>{band}</SourceBand>"
        f'<SrcRect xOff="0" yOff="0" xSize="{tile.width}" ySize="{tile.height}"/>'
        f'<DstRect xOff="{x}" yOff="{y}" xSize="{tile.width}" ySize="{tile.height}"/>'
        f"{extra}</{kind}>"
    )


def mosaic_vrt(zip_path: Path, name: str, members: list[str], dest: Path) -> tuple[Path, str]:
    """Write at ``dest`` a VRT mosaic of the raster ``members`` of the zip at ``zip_path``
    (bronze blob ``name``), after checking that they are tiles of one grid; return ``dest``
    and the members' GDAL driver (``GTiff``...)."""
    if len(members) > MAX_TILES:
        raise UnsupportedFormatError(
            f"zip holds {len(members)} rasters (at most {MAX_TILES} tiles are mosaicked)",
            path=name,
        )
    tiles = [_tile(zip_path, m, name) for m in sorted(members)]
    first = tiles[0]
    for tile in tiles[1:]:
        why = _differs(first, tile)
        if why:
            raise UnsupportedFormatError(
                f"zip holds {len(tiles)} rasters that are not tiles of one grid: zip member "
                f"{tile.member!r}: {why}; publish one raster per archive",
                path=name,
            )
    resx, resy = first.res
    left = min(t.left for t in tiles)
    top = max(t.top for t in tiles)
    placed = [(t, _offset(t.left, left, resx, t.member, name),
               _offset(top, t.top, resy, t.member, name)) for t in tiles]  # fmt: skip
    _refuse_overlaps(placed, name)
    width = max(x + t.width for t, x, _ in placed)
    height = max(y + t.height for t, _, y in placed)
    gaps = sum(t.width * t.height for t in tiles) < width * height
    nodata = first.nodata
    parts = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">']
    if first.crs is not None:
        parts.append(f"<SRS>{escape(first.crs.to_wkt())}</SRS>")
    parts.append(f"<GeoTransform>{left!r}, {resx!r}, 0, {top!r}, 0, {-resy!r}</GeoTransform>")
    for b in range(first.count):
        parts.append(f'<VRTRasterBand dataType="{_GDAL_TYPES[first.dtypes[b]]}" band="{b + 1}">')
        if nodata is not None:
            parts.append(f"<NoDataValue>{nodata!r}</NoDataValue>")
        parts.append(f"<ColorInterp>{first.colorinterp[b].capitalize()}</ColorInterp>")
        if b == 0 and first.palette:
            entries = "".join(f'<Entry c1="{c[0]}" c2="{c[1]}" c3="{c[2]}" c4="{c[3]}"/>'
                              for c in first.palette)  # fmt: skip
            parts.append(f"<ColorTable>{entries}</ColorTable>")
        parts += [_source(t, str(b + 1), x, y, nodata) for t, x, y in placed]
        parts.append("</VRTRasterBand>")
    if gaps and nodata is None:  # transparent outside the tiles
        parts.append('<MaskBand><VRTRasterBand dataType="Byte">')
        parts += [_source(t, "mask,1", x, y, None) for t, x, y in placed]
        parts.append("</VRTRasterBand></MaskBand>")
    parts.append("</VRTDataset>")
    dest.write_text("\n".join(parts), encoding="utf-8")
    return dest, first.driver
