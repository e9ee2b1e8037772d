"""The raster of a KMZ exported for Google Earth (``lib.kml_overlay``), as a GeoTIFF on the map.

- One GroundOverlay: its picture (PNG, JPEG, GIF, a GeoTIFF...) carries no georeferencing of
  its own that Google Earth reads; its ``LatLonBox`` places it, north-up, its edges on the box's
  edges, in WGS84 longitude/latitude. The picture is copied with the geotransform of that box.
- Several GroundOverlays (the tiles of one map, as Garmin Custom Maps cut it): each is placed
  by its box as an 8-bit RGBA tile (a palette expanded, grey repeated, transparency kept), and
  the tiles are mosaicked at the finest resolution among them, the higher ``drawOrder`` on top,
  transparent where no tile lies.
- A superoverlay (a tile pyramid): GDAL's KMLSUPEROVERLAY driver reads its finest level.

Either way the result is a tiled, DEFLATE-compressed (lossless) GeoTIFF in EPSG:4326 that the
COG tiers are then built from, like from any raster, with bands, colour table, nodata and alpha
as the pictures have them (transparent parts of a PNG stay transparent). Pictures and KML files
are read from the KMZ itself: an image or a link outside it (a URL, a path out of it) was
refused already (``kml_overlay.member_of``), so nothing is fetched or read from elsewhere.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window, from_bounds

from geo_platform.lib.errors import TooLargeError, UnsupportedFormatError
from geo_platform.lib.gdal_paths import vsizip
from geo_platform.lib.kml_overlay import Overlay, Overlays, Pyramid, read_kmz_raster
from geo_platform.lib.raster.opening import open_raster
from geo_platform.lib.raster.rectify import Rectified, north_up, refuse_too_large


def placed_overlay(kmz: Path, name: str, out: Path, max_bytes: int) -> Rectified:
    """``out``: the KMZ's raster as a GeoTIFF (module docstring). ``UnsupportedFormatError``
    for a KMZ that holds anything but GroundOverlays or a superoverlay (its message says why),
    ``UnreadableFileError`` for a corrupt one, ``TooLargeError`` above ``max_bytes``."""
    raster, member = read_kmz_raster(kmz, name)
    if isinstance(raster, Pyramid):
        made = _pyramid(kmz, name, raster, out, max_bytes)
    elif isinstance(raster, Overlays):
        made = _mosaic(kmz, name, raster, out, max_bytes)
    else:
        made = _placed(kmz, name, raster, member, out, max_bytes)
    if not raster.left_out:
        return made
    skipped = ", ".join(raster.left_out)
    return replace(made, how=f"{made.how}; not on the map, so not published: {skipped}")


def _placed(
    kmz: Path, name: str, raster: Overlay, member: str, out: Path, max_bytes: int
) -> Rectified:
    turned = out.with_name(out.stem + "-turned.tif") if raster.rotation else out
    with open_raster(vsizip(kmz, member), f"{name} ({member})") as src:
        refuse_too_large(src, name, max_bytes, f"GroundOverlay image {member!r}", "")
        _copy(src, turned)
        width, height, driver = src.width, src.height, src.driver
    with warnings.catch_warnings():  # the copy has no geotransform until this sets it
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        placed = rasterio.open(turned, "r+")
    with placed:
        placed.crs = CRS.from_epsg(4326)
        placed.transform = _box(raster, width, height)
    if raster.rotation:
        north_up(turned, out)
        turned.unlink()
    how = (
        f"placed by the LatLonBox of the KMZ's GroundOverlay {raster.name!r} ({member}: "
        f"north {raster.north:g}, south {raster.south:g}, east {raster.east:g}, "
        f"west {raster.west:g}{_turn(raster)}, EPSG:4326)"
    )
    return Rectified(out, how, "EPSG:4326", f"KMZ ({driver})")


def _turn(overlay: Overlay) -> str:
    if not overlay.rotation:
        return ""
    return f", rotation {overlay.rotation:g} degrees: warped north-up, nearest neighbour"


def _box(overlay: Overlay, width: int, height: int) -> Affine:
    """The geotransform that puts a picture of ``width`` x ``height`` on the overlay's box,
    turned by its rotation about the box's centre (counter-clockwise, in degrees)."""
    res_x = (overlay.east - overlay.west) / width
    res_y = (overlay.north - overlay.south) / height
    box = Affine(res_x, 0.0, overlay.west, 0.0, -res_y, overlay.north)
    if not overlay.rotation:
        return box
    centre = ((overlay.west + overlay.east) / 2, (overlay.north + overlay.south) / 2)
    return Affine.rotation(overlay.rotation, pivot=centre) * box


def _mosaic(kmz: Path, name: str, overlays: Overlays, out: Path, max_bytes: int) -> Rectified:
    """Each overlay's picture placed by its box as an RGBA tile, then their mosaic (``_stack``:
    the top one over the others, at the finest resolution; transparent where no tile lies)."""
    folder = out.with_name(out.stem + "-tiles")
    folder.mkdir(exist_ok=True)
    tiles, drivers = [], set()
    # Google Earth draws the higher drawOrder on top, and of equal ones the later in the KML.
    order = sorted(range(len(overlays.tiles)), key=lambda i: (-overlays.tiles[i][0].draw_order, -i))
    for i in order:  # the top one first
        overlay, member = overlays.tiles[i]
        with open_raster(vsizip(kmz, member), f"{name} ({member})") as src:
            refuse_too_large(src, name, max_bytes, f"GroundOverlay image {member!r}", "")
            rgba = _rgba(src, name, member)
            drivers.add(src.driver)
        tile = folder / f"{i:05d}.tif"
        with rasterio.open(tile, "w", driver="GTiff", width=rgba.shape[2], height=rgba.shape[1],
                           count=4, dtype="uint8", crs=CRS.from_epsg(4326),
                           transform=_box(overlay, rgba.shape[2], rgba.shape[1]),
                           photometric="RGB", alpha="YES") as dst:  # fmt: skip
            dst.write(rgba)
        if overlay.rotation:  # merged only north-up: its turned copy, transparent around
            north_up(tile, tile.with_suffix(".north-up.tif"))
            tile = tile.with_suffix(".north-up.tif")
        tiles.append(tile)
    _refuse_large_mosaic(tiles, name, max_bytes)
    _stack(tiles[::-1], out)
    how = (
        f"mosaicked from the KMZ's {len(tiles)} GroundOverlays, each placed by its LatLonBox "
        "(EPSG:4326, the higher drawOrder on top, transparent where none lies)"
    )
    return Rectified(out, how, "EPSG:4326", f"KMZ ({'/'.join(sorted(drivers))} tiles)")


def _rgba(src: rasterio.io.DatasetReader, name: str, member: str) -> np.ndarray:
    """The picture as 8-bit RGBA: a palette expanded, grey repeated, the mask as alpha."""
    interp = [c.name for c in src.colorinterp]
    if set(src.dtypes) != {"uint8"} or src.count > 4 or (src.count == 4 and interp[3] != "alpha"):
        raise UnsupportedFormatError(
            f"the GroundOverlays of a KMZ are mosaicked from 8-bit pictures (RGB, RGBA, grey or "
            f"a palette); {member!r} has {src.count} band(s) of {'/'.join(sorted(set(src.dtypes)))}"
            "; upload each overlay as its own KMZ",
            path=name,
        )
    data = src.read()
    if interp[0] == "palette":
        table = np.zeros((256, 4), np.uint8)
        for value, color in src.colormap(1).items():
            table[value] = color
        return np.ascontiguousarray(table[data[0]].transpose(2, 0, 1))
    if src.count in (2, 4):  # grey or RGB, and alpha
        colour, alpha = data[:-1], data[-1:]
    else:
        colour, alpha = data, src.dataset_mask()[None]
    return np.concatenate([np.repeat(colour, 3, axis=0) if len(colour) == 1 else colour, alpha])


def _grid(tiles: list[Path]) -> tuple[Affine, int, int]:
    """(geotransform, width, height) of the grid covering ``tiles`` (north-up, EPSG:4326) at
    the finest resolution among them."""
    boxes, res_x, res_y = [], np.inf, np.inf
    for tile in tiles:
        with rasterio.open(tile) as ds:
            boxes.append(ds.bounds)
            res_x, res_y = min(res_x, ds.res[0]), min(res_y, ds.res[1])
    west, north = min(b.left for b in boxes), max(b.top for b in boxes)
    width = max(1, round((max(b.right for b in boxes) - west) / res_x))
    height = max(1, round((north - min(b.bottom for b in boxes)) / res_y))
    return Affine(res_x, 0.0, west, 0.0, -res_y, north), width, height


def _refuse_large_mosaic(tiles: list[Path], name: str, limit: int) -> None:
    _, width, height = _grid(tiles)
    if width * height * 4 > limit:
        raise TooLargeError(
            f"the mosaic of the KMZ's {len(tiles)} GroundOverlays would be {width}x{height} "
            f"RGBA pixels, above the limit of {limit / 2**30:.1f} GiB",
            path=name,
        )


def _stack(tiles: list[Path], out: Path) -> None:
    """``out``: the RGBA ``tiles`` laid on their grid (``_grid``), each over the ones before it
    where it is not transparent; a tile at a time, resampled onto the grid (nearest
    neighbour) through a warped view of it."""
    grid, width, height = _grid(tiles)
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 4,
               "dtype": "uint8", "crs": CRS.from_epsg(4326), "transform": grid, "tiled": True,
               "blockxsize": 512, "blockysize": 512, "compress": "deflate",
               "bigtiff": "if_safer", "photometric": "RGB", "alpha": "YES"}  # fmt: skip
    with rasterio.open(out, "w+", **profile) as dst:
        for tile in tiles:
            with (
                rasterio.open(tile) as src,
                WarpedVRT(src, crs=dst.crs, transform=grid, width=width, height=height,
                          resampling=Resampling.nearest, src_alpha=4, dst_alpha=4) as view,
            ):  # fmt: skip
                window = from_bounds(*src.bounds, transform=grid).round_offsets().round_lengths()
                window = window.intersection(Window(0, 0, width, height))
                part = view.read(window=window)
            below = dst.read(window=window)
            shown = part[3] > 0
            below[:, shown] = part[:, shown]
            dst.write(below, window=window)


def _pyramid(kmz: Path, name: str, pyramid: Pyramid, out: Path, max_bytes: int) -> Rectified:
    with open_raster(str(kmz), name, driver="KMLSUPEROVERLAY") as src:
        refuse_too_large(src, name, max_bytes, "superoverlay", "")
        _copy(src, out)
        crs = src.crs.to_string() if src.crs else "EPSG:4326"
    how = (
        f"read from the KMZ's superoverlay ({pyramid.kmls} KML files of tiles under "
        f"{pyramid.root}) at its finest level, by GDAL's KMLSUPEROVERLAY driver"
    )
    return Rectified(out, how, crs, "KMZ (KMLSUPEROVERLAY)")


def _copy(src: rasterio.io.DatasetReader, out: Path) -> None:
    rasterio.shutil.copy(
        src, out, driver="GTiff", tiled=True, blockxsize=512, blockysize=512,
        compress="deflate", bigtiff="if_safer",
    )  # fmt: skip
