"""The raster a bronze file's tiers are built from: the file itself, or a north-up copy of it.

Most rasters are their own source. Some are placed otherwise, and get a source that is:
- a raster placed by GCPs or RPCs only: its georectified copy (``rectify``);
- a grid on a rotated pole: its copy on longitude/latitude (``rectify.lonlat_copy_if_needed``);
- a zip of tiles of one grid: the mosaic VRT over them, in place (``zip_mosaic``);
- a KMZ that is one GroundOverlay: its image placed by its LatLonBox (``kmz_image``);
- a south-up or mirrored grid: its rows or columns reversed (``flipped``);
- a grid in 0..360 longitudes: moved into -180..180, a VRT (``lon_wrap``; after the above);
- bands with different nodata values: given one, a VRT (``band_nodata``; after the above).
The ``RasterInfo`` returned describes that source, with ``rectified_from`` saying how it was
made (a step of the item's lineage) and ``file_size`` the bronze file's.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from geo_platform.lib.errors import NotGeoreferencedError
from geo_platform.lib.raster.band_nodata import one_nodata
from geo_platform.lib.raster.flipped import flipped_copy
from geo_platform.lib.raster.inspect import RasterInfo, inspect_raster
from geo_platform.lib.raster.kmz_image import placed_overlay
from geo_platform.lib.raster.lon_wrap import lon_wrapped
from geo_platform.lib.raster.opening import SeveralRastersError
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.rectify import Rectified, lonlat_copy_if_needed, rectify
from geo_platform.lib.raster.zip_mosaic import mosaic_vrt


def raster_source(
    local: Path, work: Path, blob: str, options: RasterOptions
) -> tuple[RasterInfo, Path]:
    """(its description, its path) of the raster the tiers of ``local`` (the bronze file
    ``blob``) are built from; intermediate files go to ``work``. Raises the input error of the
    file when none can be made (``NotGeoreferencedError``, ``UnsupportedFormatError``...)."""
    max_bytes, max_pixels = options.max_bytes, options.max_pixels
    if blob.lower().endswith(".kmz"):
        return _described(placed_overlay(local, blob, work / "overlay-source.tif", max_bytes),
                          local, blob, options)  # fmt: skip
    try:
        info = inspect_raster(
            local, blob, max_bytes=max_bytes, max_pixels=max_pixels, assume_crs=options.assume_crs
        )
        warped = work / "warped-source.tif"  # a rotated pole: onto lon/lat
        rectified = lonlat_copy_if_needed(info.gdal_path, info.crs_wkt2, info.crs_source, warped,
                                          max_bytes)  # fmt: skip
        if rectified is None:  # a south-up or mirrored grid: reversed, north-up
            rectified = flipped_copy(info, work / "north-up-source.tif", max_bytes)
        rectified = lon_wrapped(info, rectified, work / "lon-wrapped-source.vrt")  # 0..360
        rectified = one_nodata(info, rectified, work / "one-nodata-source.vrt")  # -1, -2, -3
        if rectified is None:
            return info, local
    except SeveralRastersError as several:  # tiles of one grid in a zip: their mosaic
        vrt, driver = mosaic_vrt(local, blob, several.members, work / "mosaic-source.vrt")
        info = inspect_raster(vrt, blob, max_bytes=max_bytes, max_pixels=max_pixels,
                              assume_crs=options.assume_crs, own_vrt=True)  # fmt: skip
        how = f"mosaicked from the {len(several.members)} tiles in the zip (a VRT, in place)"
        return replace(info, driver=driver, file_size=local.stat().st_size,
                       rectified_from=how), vrt  # fmt: skip
    except NotGeoreferencedError:
        rectified = rectify(local, work / "rectified-source.tif", max_bytes=max_bytes)
        if rectified is None:
            raise
    return _described(rectified, local, blob, options)


def _described(
    made: Rectified, local: Path, blob: str, options: RasterOptions
) -> tuple[RasterInfo, Path]:
    info = inspect_raster(made.path, blob, max_bytes=options.max_bytes,
                          max_pixels=options.max_pixels,
                          own_vrt=made.path.suffix == ".vrt")  # fmt: skip
    return replace(info, driver=made.driver, file_size=local.stat().st_size,
                   rectified_from=made.how), made.path  # fmt: skip
