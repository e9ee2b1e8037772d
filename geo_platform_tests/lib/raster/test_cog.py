"""COG tiers: validity, lossless round trip, masks, palettes, reprojection and failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from PIL import Image

from geo_platform.lib.errors import (
    ConfigError,
    EmptyDatasetError,
    GeoPlatformError,
    UnreadableFileError,
    ValidationError,
)
from geo_platform.lib.raster.cog import (
    CogBuildResult,
    RasterOptions,
    build_cog_tiers,
    multihash_sha256,
    validate_cog,
)
from geo_platform.lib.raster.inspect import inspect_raster
from geo_platform_tests.lib.raster import synth
from geo_platform_tests.lib.raster.test_inspect import PUBLISHABLE

Built = Callable[[str], CogBuildResult]


def _interp(ds: rasterio.io.DatasetReader) -> tuple[str, ...]:
    """Colour interpretation; TIFF stores 'undefined' as grey (MinIsBlack), so compare as grey."""
    return tuple("gray" if c.name == "undefined" else c.name for c in ds.colorinterp)


def _read_all(path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    with rasterio.open(path) as ds:
        return ds.read(), ds.read_masks()


@pytest.mark.parametrize("rel", PUBLISHABLE)
def test_every_tier_is_a_valid_cog(built_shared: Built, rel: str) -> None:
    result = built_shared(rel)
    assert set(result.tiers) == {"analysis", "visualization", "archive"}
    for tier in result.published().values():
        assert tier.path is not None and tier.path.is_file()
        validate_cog(tier.path)
        assert tier.size_bytes == tier.path.stat().st_size
        assert tier.checksum == multihash_sha256(tier.path)
        assert tier.checksum.startswith("1220") and len(tier.checksum) == 68
    assert result.thumbnail is not None
    with Image.open(result.thumbnail) as thumb:
        assert thumb.format == "PNG" and max(thumb.size) <= 256


@pytest.mark.parametrize("rel", PUBLISHABLE)
def test_lossless_tiers_are_pixel_identical(built_shared: Built, rel: str) -> None:
    result = built_shared(rel)
    src_data, src_masks = _read_all(result.info.gdal_path)
    with rasterio.open(result.info.gdal_path) as src:
        src_profile = (src.dtypes, src.nodatavals, src.descriptions, _interp(src))
        src_cmap = src.colormap(1) if result.info.has_palette else None
    for tier in ("analysis", "archive"):
        path = result.tiers[tier].path
        assert path is not None
        data, masks = _read_all(path)
        np.testing.assert_array_equal(data, src_data, err_msg=f"{tier} pixels differ")
        np.testing.assert_array_equal(masks, src_masks, err_msg=f"{tier} masks differ")
        with rasterio.open(path) as out:
            assert (out.dtypes, out.nodatavals, out.descriptions, _interp(out)) == src_profile
            if src_cmap is not None:
                assert out.colormap(1) == src_cmap, "palette must be kept"


def test_analysis_uses_predictor_and_overviews(built_shared: Built) -> None:
    result = built_shared("rgb_uint8/RGB.byte.tif")
    profile = result.tiers["analysis"].profile
    assert (profile["compression"], profile["predictor"]) == ("DEFLATE", "2")
    assert profile["overviews"] == [2] and profile["blocksize"] == [512, 512]
    dem = built_shared("dem_float32/dem-hills.tiff").tiers["analysis"].profile
    assert dem["predictor"] == "3"
    archive = result.tiers["archive"].profile
    assert archive["compression"] == "LZW" and archive["overviews"] == [2]


def test_visualization_tier_is_8bit_jpeg_with_mask(built_shared: Built) -> None:
    result = built_shared("rgb_uint8/RGB.byte.tif")
    viz = result.tiers["visualization"]
    assert viz.path is not None and viz.rule == "8-bit RGB passed through"
    with rasterio.open(viz.path) as ds, rasterio.open(result.info.gdal_path) as src:
        assert ds.dtypes == ("uint8",) * 3 and ds.nodata is None
        structure = ds.tags(ns="IMAGE_STRUCTURE")
        assert structure["COMPRESSION"] == "YCbCr JPEG" and structure["JPEG_QUALITY"] == "85"
        assert structure["INTERLEAVE"] == "PIXEL"
        # validity travels as an internal mask equal to the source's nodata mask
        np.testing.assert_array_equal(ds.dataset_mask() > 0, src.read_masks(1) > 0)
        assert ds.overviews(1) == [2]


def test_visualization_rules(built_shared: Built) -> None:
    alpha = built_shared("multiband_uint16/RGBA.uint16.tif")
    assert alpha.tiers["visualization"].rule.startswith("RGB: linear stretch of percentiles 2-98")
    with (
        rasterio.open(alpha.tiers["visualization"].path) as ds,
        rasterio.open(alpha.info.gdal_path) as src,
    ):
        assert ds.count == 3
        np.testing.assert_array_equal(ds.dataset_mask() > 0, src.read(4) > 0)
    palette = built_shared("palette/storml_tcc.tif")
    assert palette.tiers["visualization"].rule == "palette expanded to RGB"
    dem = built_shared("dem_float32/dem-hills.tiff")
    assert dem.tiers["visualization"].rule.startswith("single band: linear stretch")
    with rasterio.open(dem.tiers["visualization"].path) as ds:
        data = ds.read(1, masked=True)
        assert ds.count == 1 and data.min() == 0 and data.max() == 255
    grib = built_shared("non_tiff/gfs.t06z.pgrb2.10p0.f010.grib2")
    assert grib.tiers["visualization"].skipped_reason is not None
    assert "6 bands without a red/green/blue" in grib.tiers["visualization"].skipped_reason
    assert grib.thumbnail is not None, "a preview of band 1 is still made"


def test_visual_bands_option_makes_a_picture(tmp_path: Path) -> None:
    grib = synth.RASTERS / "non_tiff/gfs.t06z.pgrb2.10p0.f010.grib2"
    result = build_cog_tiers(grib, tmp_path, RasterOptions(visual_bands=(1, 2, 3)), "grib")
    assert result.tiers["visualization"].path is not None
    assert result.tiers["visualization"].profile["count"] == 3


def test_internal_mask_is_preserved(built_shared: Built) -> None:
    result = built_shared("cog_valid/cogeo.tif")
    with rasterio.open(result.info.gdal_path) as src:
        assert src.mask_flag_enums[0][0].name == "per_dataset"
    for tier in result.published().values():
        assert tier.profile["internal_mask"], f"{tier.tier} lost the internal mask"


def test_archive_keeps_every_metadata_item(tmp_path: Path) -> None:
    path = synth.write_tif(tmp_path / "meta.tif", synth.gradient(2, 64, 64, "uint16"), nodata=0)
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(TIFFTAG_DATETIME="2020:01:02 03:04:05", TIFFTAG_SOFTWARE="X 1", custom="y")
        ds.update_tags(ns="VENDOR", calibration="1.5")
        ds.update_tags(1, band_key="b1")
        ds.set_band_description(1, "nir")
        ds.set_band_unit(1, "W/m2")
    result = build_cog_tiers(path, tmp_path / "out", RasterOptions(), "meta.tif")
    assert result.tiers["archive"].path is not None
    with rasterio.open(result.tiers["archive"].path) as ds:
        tags = ds.tags()
        assert tags["TIFFTAG_DATETIME"] == "2020:01:02 03:04:05" and tags["custom"] == "y"
        assert json.loads(tags["GEO_PLATFORM_SOURCE_METADATA"])["VENDOR"] == {"calibration": "1.5"}
        assert ds.tags(1)["band_key"] == "b1"
        assert ds.descriptions[0] == "nir" and ds.units[0] == "W/m2"
    np.testing.assert_array_equal(_read_all(result.tiers["archive"].path)[0], _read_all(path)[0])


def test_corrupt_block_fails_with_the_file_name_and_leaves_nothing(tmp_path: Path) -> None:
    path = synth.corrupt_one_tile(tmp_path / "corrupt.tif")
    inspect_raster(path, "bronze/corrupt.tif")  # opens fine: the damage is inside a tile
    out = tmp_path / "out"
    with pytest.raises(UnreadableFileError, match=r"bronze/corrupt.tif: band 1, block 1 .*corrupt"):
        build_cog_tiers(path, out, RasterOptions(), "bronze/corrupt.tif")
    assert list(out.iterdir()) == []


def test_all_nodata_detected_by_the_builder(tmp_path: Path) -> None:
    path = synth.write_tif(
        tmp_path / "z.tif", np.zeros((1, 600, 700), "int16"), nodata=0, tiled=True
    )
    info = inspect_raster(path, "z.tif", check_empty=False)  # as for a large file
    out = tmp_path / "out"
    with pytest.raises(EmptyDatasetError, match=r"z.tif: every pixel is nodata"):
        build_cog_tiers(path, out, RasterOptions(), "z.tif", info=info)
    assert list(out.iterdir()) == []


def test_only_requested_tiers_are_written(tmp_path: Path) -> None:
    src = synth.RASTERS / "rgb_uint8/RGB.byte.tif"
    result = build_cog_tiers(src, tmp_path, RasterOptions(tiers=("visualization",)), "rgb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thumbnail.png", "visualization.tif"]
    assert result.tiers["analysis"].skipped_reason == "not requested"
    assert result.tiers["archive"].path is None


def test_reprojection_keeps_categories_and_native_archive(tmp_path: Path) -> None:
    src = synth.RASTERS / "palette/storml_tcc.tif"
    result = build_cog_tiers(src, tmp_path, RasterOptions(target_crs="EPSG:4326"), "pal")
    assert result.grid.crs_code == "EPSG:4326"
    assert result.archive_grid is not None and result.archive_grid.crs_code == "EPSG:26912"
    with rasterio.open(src) as s, rasterio.open(result.tiers["analysis"].path) as a:
        classes = set(np.unique(s.read(1, masked=True).compressed()))
        assert set(np.unique(a.read(1, masked=True).compressed())) <= classes, (
            "nearest keeps classes"
        )
        assert a.colormap(1) == s.colormap(1)
        assert a.tags(ns="IMAGE_STRUCTURE").get("OVERVIEW_RESAMPLING", "NEAREST") == "NEAREST"


def test_web_optimized(tmp_path: Path) -> None:
    src = synth.RASTERS / "rgb_uint8/RGB.byte.tif"
    result = build_cog_tiers(src, tmp_path, RasterOptions(web_optimized=True), "rgb")
    assert result.grid.crs_code == "EPSG:3857"
    with rasterio.open(result.tiers["analysis"].path) as ds:
        assert ds.tags(ns="TILING_SCHEME").get("NAME", "").lower() == "googlemapscompatible"
    for tier in result.published().values():
        validate_cog(tier.path)


def test_jpeg_with_world_file_and_zipped_srtm_are_published(tmp_path: Path) -> None:
    jpg = synth.jpeg_with_world_file(tmp_path / "jpg")
    result = build_cog_tiers(jpg, tmp_path / "jpg-out", RasterOptions(), "photo.jpg")
    with rasterio.open(result.tiers["analysis"].path) as ds:
        assert ds.crs.to_epsg() == 32633 and ds.transform.c == 500000.0
    hgt = synth.srtm_zip(tmp_path / "hgt")
    result = build_cog_tiers(hgt, tmp_path / "hgt-out", RasterOptions(), "N45E006.hgt.zip")
    data, _ = _read_all(result.tiers["analysis"].path)
    assert data.dtype == np.int16 and data.shape == (1, 1201, 1201)


def test_options_from_mapping() -> None:
    opts = RasterOptions.from_mapping({"tiers": ["analysis"], "target_crs": "EPSG:3857"})
    assert opts.tiers == ("analysis",) and opts.reprojects
    assert opts.merged({"jpeg_quality": 70}).jpeg_quality == 70
    with pytest.raises(ConfigError, match="unknown raster options"):
        RasterOptions.from_mapping({"tierz": []})
    with pytest.raises(ConfigError):
        RasterOptions(tiers=("bronze",))
    with pytest.raises(ConfigError):
        RasterOptions(archive_compression="JPEG")


def test_validate_cog_rejects_a_plain_tiff() -> None:
    with pytest.raises(ValidationError, match="not a valid Cloud-Optimized GeoTIFF"):
        validate_cog(synth.RASTERS / "dem_float32/dem-hills.tiff")


def test_tile_sized_width_is_not_a_false_positive(tmp_path: Path) -> None:
    path = synth.write_tif(tmp_path / "tall.tif", synth.gradient(1, 1100, 512))
    result = build_cog_tiers(path, tmp_path / "out", RasterOptions(), "tall.tif")
    assert result.tiers["analysis"].profile["width"] == 512


@pytest.mark.parametrize(
    "dtype",
    ["int8", "uint16", "int16", "uint32", "int32", "int64", "float32", "float64", "complex64"],
)
def test_every_data_type_round_trips(tmp_path: Path, dtype: str) -> None:
    data = (np.arange(530 * 520).reshape(1, 530, 520) % 97).astype(dtype)
    path = synth.write_tif(tmp_path / f"{dtype}.tif", data)
    result = build_cog_tiers(path, tmp_path / "out", RasterOptions(), f"{dtype}.tif")
    for tier in ("analysis", "archive"):
        np.testing.assert_array_equal(_read_all(result.tiers[tier].path)[0], data)
    predictor = result.tiers["analysis"].profile["predictor"]
    expected = None if dtype.startswith("complex") else "3" if dtype.startswith("float") else "2"
    assert predictor == expected
    viz = result.tiers["visualization"]
    assert (viz.skipped_reason is not None) == dtype.startswith("complex")


def test_summary_is_json_ready(built_shared: Built) -> None:
    summary = built_shared("non_tiff/gfs.t06z.pgrb2.10p0.f010.grib2").summary()
    text = json.dumps(summary)
    assert summary["tiers"]["visualization"]["skipped"].startswith("6 bands")
    assert summary["tiers"]["analysis"]["compression_ratio"] > 0
    assert summary["source"]["driver"] == "GRIB" and "bbox_4326" in text


def test_georeferenced_jpeg2000_is_published_losslessly(tmp_path: Path) -> None:
    jp2 = tmp_path / "scene.jp2"
    src = synth.RASTERS / "rgb_uint8/RGB.byte.tif"
    rasterio.shutil.copy(src, jp2, driver="JP2OpenJPEG", reversible="YES", quality="100")
    result = build_cog_tiers(jp2, tmp_path / "out", RasterOptions(), "scene.jp2")
    assert result.info.driver == "JP2OpenJPEG" and result.grid.crs_code == "EPSG:32618"
    np.testing.assert_array_equal(_read_all(result.tiers["analysis"].path)[0], _read_all(src)[0])


def _tier_bytes(result: CogBuildResult) -> dict[str, bytes]:
    paths = {k: t.path for k, t in result.tiers.items() if t.path is not None}
    if result.thumbnail is not None:
        paths["thumbnail"] = result.thumbnail
    return {k: Path(p).read_bytes() for k, p in paths.items()}


@pytest.mark.parametrize("reproject", [False, True])
def test_uncompressed_gdal_temp_files_change_no_output_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reproject: bool
) -> None:
    """Issue 18: GDAL's temporary overview (and warp) files are written uncompressed for a
    source up to TMP_RAW_LIMIT; every tier must be the same bytes as with GDAL's default."""
    from geo_platform.lib.raster import cog_steps

    src = synth.write_tif(tmp_path / "rgb.tif", synth.gradient(3, 1200, 1100), photometric="RGB")
    options = RasterOptions(target_crs="EPSG:4326" if reproject else None)
    info = inspect_raster(src, "rgb.tif")
    assert cog_steps.build_env(options, info)["COG_TMP_COMPRESSION"] == "NONE"
    fast = build_cog_tiers(src, tmp_path / "fast", options, "rgb.tif")
    monkeypatch.setattr(cog_steps, "TMP_RAW_LIMIT", info.uncompressed_bytes - 1)
    assert "COG_TMP_COMPRESSION" not in cog_steps.build_env(options, info)
    default = build_cog_tiers(src, tmp_path / "default", options, "rgb.tif")
    assert fast.tiers["analysis"].profile["overviews"], "the case must have overviews"
    fast_bytes, default_bytes = _tier_bytes(fast), _tier_bytes(default)
    assert fast_bytes.keys() == default_bytes.keys() >= {"analysis", "visualization", "archive"}
    for name, data in fast_bytes.items():
        assert data == default_bytes[name], f"{name} differs"


@pytest.mark.parametrize("rel", ["rgb_uint8/RGB.byte.tif", "multiband_uint16/RGBA.uint16.tif"])
def test_picture_vrt_reads_the_same_pixels_with_simple_sources(tmp_path: Path, rel: str) -> None:
    """Bands passed through unchanged are SimpleSources in the picture VRT (faster); the
    pixels and masks must equal those of the same VRT written with ComplexSources only."""
    from geo_platform.lib.raster.render import Layout, plan_render, write_render_vrt
    from geo_platform.lib.raster.stats import sample_raster

    src = synth.RASTERS / rel
    with rasterio.open(src) as ds:
        layout = Layout.of(ds)
    plan = plan_render(layout, sample_raster(str(src), (2.0, 98.0)), None)
    assert not isinstance(plan, str)
    vrt = write_render_vrt(src, plan, tmp_path, "pic")
    text = vrt.read_text()
    passthrough = plan.rule == "8-bit RGB passed through"
    assert ("<SimpleSource>" in text) is passthrough
    complex_only = tmp_path / "complex.vrt"
    complex_only.write_text(
        text.replace("<SimpleSource>", "<ComplexSource>").replace(
            "</SimpleSource>", "</ComplexSource>"
        )
    )
    with rasterio.open(vrt) as a, rasterio.open(complex_only) as b:
        np.testing.assert_array_equal(a.read(), b.read())
        np.testing.assert_array_equal(a.dataset_mask(), b.dataset_mask())
        assert a.read().any() and a.dataset_mask().any() and not a.dataset_mask().all()


@pytest.mark.parametrize("failing", ["visualization", "archive"])
def test_a_failure_beside_the_other_tier_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """Issue 18: the visualization is built in a thread beside the archive; whichever fails,
    the error names the file and no tier (the other one finishing later included) is left."""
    from geo_platform.lib.raster import cog

    real = cog.translate

    def translate(source: str, dst: Path, *args: Any, **kwargs: Any) -> None:
        real(source, dst, *args, **kwargs)
        if dst.name == f"{failing}.tif":
            raise GeoPlatformError(f"writing {dst.name} failed: disk full", path="rgb.tif")

    monkeypatch.setattr(cog, "translate", translate)
    src = synth.write_tif(tmp_path / "rgb.tif", synth.gradient(3, 600, 500), photometric="RGB")
    out = tmp_path / "out"
    with pytest.raises(GeoPlatformError, match=rf"rgb.tif: writing {failing}.tif failed"):
        build_cog_tiers(src, out, RasterOptions(), "rgb.tif")
    assert list(out.iterdir()) == []


def test_every_tier_gets_the_build_gdal_config_from_any_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rasterio's configuration is per thread: a build started off the main thread (as an
    executor may run it) must still give the tier built beside it the same GDAL options."""
    import threading

    from rasterio.env import get_gdal_config

    from geo_platform.lib.raster import cog, cog_steps

    seen: dict[str, tuple[str, ...]] = {}
    real = cog.translate

    def translate(source: str, dst: Path, *args: Any, **kwargs: Any) -> None:
        keys = ("GDAL_TIFF_INTERNAL_MASK", "GDAL_NUM_THREADS", "GDAL_CACHEMAX")
        seen[dst.name] = tuple(str(get_gdal_config(k)) for k in keys)
        real(source, dst, *args, **kwargs)

    monkeypatch.setattr(cog, "translate", translate)
    src = synth.write_tif(tmp_path / "rgb.tif", synth.gradient(3, 600, 500), photometric="RGB")
    options = RasterOptions(threads=2)
    failures: list[BaseException] = []

    def build() -> None:
        try:
            build_cog_tiers(src, tmp_path / "out", options, "rgb.tif")
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    worker = threading.Thread(target=build)
    worker.start()
    worker.join()
    assert not failures, failures
    env = cog_steps.build_env(options, inspect_raster(src, "rgb.tif"))
    wanted = (env["GDAL_TIFF_INTERNAL_MASK"], env["GDAL_NUM_THREADS"], str(env["GDAL_CACHEMAX"]))
    assert seen.keys() == {"analysis.tif", "visualization.tif", "archive.tif"}
    for name, values in seen.items():
        assert values == wanted, name
