"""How a raster becomes an 8-bit picture (visualization tier and thumbnail).

The rule, applied to the analysis COG (same bands as the source, plus an alpha band when a
reprojection added one):

1. A palette band is expanded to red, green and blue through its colour table.
2. Bands whose colour interpretation is red, green and blue (in any order, e.g. BGRA) make an RGB
   picture. 8-bit data passes through unchanged; other data types get ONE linear stretch shared by
   the three bands (from the lowest 2nd percentile to the highest 98th percentile of the three),
   so colours keep their balance.
3. A single band (with or without an alpha band) makes a grey picture: 8-bit bands interpreted as
   grey pass through; anything else (16-bit, float, 8-bit with undefined interpretation such as a
   hillshade) gets a linear 2nd-98th percentile stretch of its valid pixels.
4. ``visual_bands`` (1 or 3 band indexes) overrides the choice, with the stretch of rule 2/3.
5. Anything else (several bands without an RGB interpretation, such as a 6-band GRIB file, or
   complex numbers) has no natural picture: the visualization tier is skipped with that reason.
   The thumbnail then shows band 1 with the stretch of rule 3, as a preview only.

Validity comes from the source's own mask: the alpha band, else the nodata value, else the
internal mask; it is written as a mask (JPEG cannot carry nodata or alpha without artefacts).
A palette's entries of alpha 0 (a transparent "no class") are masked too, as ``gdal_translate
-expand rgba`` and QGIS draw them: a lookup table over the palette indexes (nodata included),
combined with an alpha band or internal mask when there is one.

Pixels are never read into Python: the picture is a VRT over the analysis COG (scale and offset,
colour-table expansion and mask are VRT sources), with one VRT per overview level so that the
COG driver reuses the analysis overviews instead of recomputing them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import rasterio
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.errors import RasterioError

from geo_platform.lib.raster.grid import band_nodatavals
from geo_platform.lib.raster.stats import BandStats, RasterSample


@dataclass(frozen=True)
class RenderBand:
    """One output band: a source band, optionally scaled (out = in * scale + offset)."""

    source_band: int
    colorinterp: str
    scale: float | None = None
    offset: float | None = None
    color_component: int | None = None


@dataclass(frozen=True)
class MaskSpec:
    """Where validity comes from: ``alpha`` or ``nodata`` (band + value), GDAL ``mask``, or
    ``palette`` (``lut``: a VRT lookup table from palette index to 0 or 255, and ``also``: an
    alpha band or internal mask that hides more pixels)."""

    kind: str
    band: int
    nodata: float | None = None
    lut: str | None = None
    also: MaskSpec | None = None


@dataclass(frozen=True)
class RenderPlan:
    bands: tuple[RenderBand, ...]
    mask: MaskSpec | None
    rule: str


@dataclass(frozen=True)
class Layout:
    """The band layout of a dataset, as far as rendering cares."""

    count: int
    dtype: str
    colorinterp: tuple[str, ...]
    nodata: float | None
    has_palette: bool
    alpha_band: int | None
    per_dataset_mask: bool
    transparent_entries: tuple[int, ...] = ()
    """Palette indexes whose colour has alpha 0 (drawn transparent)."""

    @classmethod
    def of(cls, ds: rasterio.io.DatasetReader, palette_source: str | None = None) -> Layout:
        """The layout of ``ds``; a palette's transparent entries are read from
        ``palette_source`` when given: the file ``ds`` was copied from, when ``ds`` is a GeoTIFF
        (a TIFF colour table has no alpha, so the analysis COG loses it)."""
        names = tuple(ci.name for ci in ds.colorinterp)
        flags = ds.mask_flag_enums[0]
        has_palette = ds.colorinterp[0] == ColorInterp.palette
        return cls(
            count=ds.count,
            dtype=ds.dtypes[0],
            colorinterp=names,
            nodata=band_nodatavals(ds)[0],
            has_palette=has_palette,
            alpha_band=names.index("alpha") + 1 if "alpha" in names else None,
            per_dataset_mask=MaskFlags.per_dataset in flags and MaskFlags.alpha not in flags,
            transparent_entries=transparent_entries(palette_source or ds) if has_palette else (),
        )


def transparent_entries(source: rasterio.io.DatasetReader | str) -> tuple[int, ...]:
    """The indexes of band 1's colour table whose alpha is 0 (none without a colour table)."""
    try:
        if isinstance(source, str):
            with rasterio.open(source) as ds:
                colormap = ds.colormap(1)
        else:
            colormap = source.colormap(1)
    except (ValueError, RasterioError):  # no colour table; an unreadable source
        return ()
    return tuple(sorted(i for i, rgba in colormap.items() if len(rgba) > 3 and rgba[3] == 0))


def plan_render(
    layout: Layout,
    sample: RasterSample,
    visual_bands: tuple[int, ...] | None = None,
    *,
    for_thumbnail: bool = False,
) -> RenderPlan | str:
    """The picture to make, or the reason why there is none (see the module docstring)."""
    mask = _mask_spec(layout)
    if layout.dtype.startswith("complex"):
        return "complex-valued data has no natural picture"
    if visual_bands:
        return _stretched(layout, sample, visual_bands, mask, "visual_bands option")
    if layout.has_palette:
        bands = tuple(
            RenderBand(1, ci, color_component=k)
            for k, ci in enumerate(("Red", "Green", "Blue"), start=1)
        )
        return RenderPlan(bands, mask, "palette expanded to RGB")
    data_bands = [b for b in range(1, layout.count + 1) if b != layout.alpha_band]
    rgb = [
        layout.colorinterp.index(c) + 1 for c in ("red", "green", "blue") if c in layout.colorinterp
    ]
    if len(rgb) == 3:
        if layout.dtype == "uint8":
            bands = tuple(
                RenderBand(b, ci) for b, ci in zip(rgb, ("Red", "Green", "Blue"), strict=True)
            )
            return RenderPlan(bands, mask, "8-bit RGB passed through")
        return _stretched(layout, sample, tuple(rgb), mask, "RGB")
    if len(data_bands) == 1 or for_thumbnail:
        band = data_bands[0]
        if layout.dtype == "uint8" and layout.colorinterp[band - 1] == "gray":
            return RenderPlan((RenderBand(band, "Gray"),), mask, "8-bit grey passed through")
        return _stretched(layout, sample, (band,), mask, "single band")
    return (
        f"{len(data_bands)} bands without a red/green/blue colour interpretation have no natural "
        "picture (set visual_bands to choose 1 or 3 bands)"
    )


def _mask_spec(layout: Layout) -> MaskSpec | None:
    mask = _own_mask(layout)
    hidden = set(layout.transparent_entries)
    if not layout.has_palette or not hidden - {layout.nodata}:  # GTiff: nodata's alpha is 0
        return mask
    if mask is not None and mask.kind == "nodata":
        nodata = mask.nodata
        if nodata is not None and nodata == nodata and float(nodata).is_integer():
            hidden.add(int(nodata))
        mask = None
    top = 255 if layout.dtype == "uint8" else max(65535, *hidden)
    return MaskSpec("palette", 1, lut=_palette_lut(hidden, top), also=mask)


def _palette_lut(hidden: set[int], top: int) -> str:
    """A VRT ``<LUT>``: 0 for the ``hidden`` indexes, 255 for the others in 0..``top``. GDAL
    interpolates between points, so each run of equal output is given by both its ends."""
    points: list[str] = []
    start = 0
    for index in sorted(i for i in hidden if 0 <= i <= top):
        if index > start:
            points += [f"{start}:255", f"{index - 1}:255"]
        points += [f"{index}:0", f"{index}:0"]
        start = index + 1
    if start <= top:
        points += [f"{start}:255", f"{top}:255"]
    return ",".join(dict.fromkeys(points))  # a run of one index: its point once


def _own_mask(layout: Layout) -> MaskSpec | None:
    if layout.alpha_band is not None:
        return MaskSpec("alpha", layout.alpha_band, 0)
    if layout.nodata is not None:
        return MaskSpec("nodata", 1, layout.nodata)
    if layout.per_dataset_mask:
        return MaskSpec("mask", 1)
    return None


def _stretched(
    layout: Layout,
    sample: RasterSample,
    bands: tuple[int, ...],
    mask: MaskSpec | None,
    what: str,
) -> RenderPlan | str:
    if len(bands) not in (1, 3) or not all(1 <= b <= layout.count for b in bands):
        return f"visual_bands must name 1 or 3 of the {layout.count} bands, got {list(bands)}"
    stats = [sample.stats[b - 1] for b in bands]
    low, high = _shared_range(stats)
    scale = 255.0 / (high - low) if high > low else 0.0
    offset = -low * scale if high > low else 128.0
    names = ("Gray",) if len(bands) == 1 else ("Red", "Green", "Blue")
    out = tuple(RenderBand(b, ci, scale, offset) for b, ci in zip(bands, names, strict=True))
    p_lo, p_hi = sample.percentiles
    rule = f"{what}: linear stretch of percentiles {p_lo:g}-{p_hi:g} ({low:.6g} .. {high:.6g})"
    return RenderPlan(
        out,
        mask
        if mask is None or mask.kind != "nodata"
        else MaskSpec("nodata", bands[0], mask.nodata),
        rule,
    )


def _shared_range(stats: list[BandStats]) -> tuple[float, float]:
    lows = [s.p_low for s in stats if s.p_low is not None]
    highs = [s.p_high for s in stats if s.p_high is not None]
    if not lows or not highs:
        return 0.0, 255.0
    return min(lows), max(highs)


def write_render_vrt(src: Path, plan: RenderPlan, work_dir: Path, stem: str = "render") -> Path:
    """Write the picture VRT (plus one VRT per overview level) and return the main VRT path."""
    with rasterio.open(src) as ds:
        size = (ds.width, ds.height)
        gt = ds.transform.to_gdal()
        wkt = ds.crs.to_wkt() if ds.crs else ""
        levels = []
        for level in range(len(ds.overviews(1))):
            with rasterio.open(src, overview_level=level) as ovr:
                levels.append((ovr.width, ovr.height))
    ovr_files = []
    for level, (w, h) in enumerate(levels):
        path = work_dir / f"{stem}.ovr{level}.vrt"
        path.write_text(_vrt_xml(src, (w, h), gt, wkt, plan, level, []))
        ovr_files.append(path)
    main = work_dir / f"{stem}.vrt"
    main.write_text(_vrt_xml(src, size, gt, wkt, plan, None, ovr_files))
    return main


def _source(src: Path, band: str, level: int | None, body: str) -> str:
    opts = (
        f'<OpenOptions><OOI key="OVERVIEW_LEVEL">{level}</OOI></OpenOptions>'
        if level is not None
        else ""
    )
    # A band passed through unchanged is a SimpleSource: GDAL then reads all bands of a tile in
    # one dataset-level request (a ComplexSource is read band by band, about 20% more CPU time
    # for an 8-bit RGB picture); the pixels, and so the output bytes, are the same.
    kind = "SimpleSource" if not body and not band.startswith("mask") else "ComplexSource"
    return (
        f'<{kind}><SourceFilename relativeToVRT="0">{escape(str(src))}</SourceFilename>'
        f"{opts}<SourceBand>{band}</SourceBand>{body}</{kind}>"
    )


def _band_body(band: RenderBand) -> str:
    if band.color_component is not None:
        return f"<ColorTableComponent>{band.color_component}</ColorTableComponent>"
    if band.scale is None:
        return ""
    return f"<ScaleOffset>{band.offset!r}</ScaleOffset><ScaleRatio>{band.scale!r}</ScaleRatio>"


def _mask_body(mask: MaskSpec) -> tuple[str, str]:
    """(source band, source body) of a 0/255 mask built from alpha, nodata, GDAL's mask or a
    palette's lookup table."""
    if mask.kind == "mask":
        return "mask,1", ""
    if mask.kind == "palette":
        return str(mask.band), f"<LUT>{mask.lut}</LUT>"
    nodata = "nan" if mask.nodata is None or mask.nodata != mask.nodata else repr(mask.nodata)
    # Pixels equal to NODATA are skipped (stay 0); every other pixel becomes 0 * v + 255.
    body = f"<NODATA>{nodata}</NODATA><ScaleOffset>255</ScaleOffset><ScaleRatio>0</ScaleRatio>"
    return str(mask.band), body


def _mask_sources(src: Path, mask: MaskSpec, level: int | None) -> str:
    """The sources of the mask band: ``mask``'s, then the one it is combined with (``also``),
    painted over it where that one is not 255 (an alpha of 0, a masked pixel)."""
    src_band, body = _mask_body(mask)
    out = _source(src, src_band, level, body)
    if mask.also is not None:
        also_band, _ = _mask_body(mask.also)
        out += _source(src, also_band, level, "<NODATA>255</NODATA>")
    return out


def _vrt_xml(
    src: Path,
    size: tuple[int, int],
    gt: tuple[float, ...],
    wkt: str,
    plan: RenderPlan,
    level: int | None,
    ovr_files: list[Path],
) -> str:
    def overviews(band: str) -> str:
        return "".join(
            f'<Overview><SourceFilename relativeToVRT="0">{escape(str(f))}</SourceFilename>'
            f"<SourceBand>{band}</SourceBand></Overview>"
            for f in ovr_files
        )

    parts = [f'<VRTDataset rasterXSize="{size[0]}" rasterYSize="{size[1]}">']
    if wkt:
        parts.append(f"<SRS>{escape(wkt)}</SRS>")
    parts.append(f"<GeoTransform>{', '.join(repr(v) for v in gt)}</GeoTransform>")
    for i, band in enumerate(plan.bands, start=1):
        parts.append(
            f'<VRTRasterBand dataType="Byte" band="{i}"><ColorInterp>{band.colorinterp}'
            f"</ColorInterp>{_source(src, str(band.source_band), level, _band_body(band))}"
            f"{overviews(str(i))}</VRTRasterBand>"
        )
    if plan.mask is not None:
        sources = _mask_sources(src, plan.mask, level)
        parts.append(
            '<MaskBand><VRTRasterBand dataType="Byte">'
            f"{sources}{overviews('mask,1')}</VRTRasterBand></MaskBand>"
        )
    parts.append("</VRTDataset>")
    return "".join(parts)
