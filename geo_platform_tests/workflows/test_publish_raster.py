"""``publish_raster`` without Dagster: real rasters, the local blob store and pgstac."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from geo_platform.lib import naming, stac_ext
from geo_platform.lib.errors import (
    CoordinateRangeError,
    NotFoundError,
    NotGeoreferencedError,
    UnreadableFileError,
)
from geo_platform.lib.raster.options import RasterOptions
from geo_platform.lib.raster.tiling import TilingOptions
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.store.blobs.local import LocalBlobStore
from geo_platform.store.catalog import publish_sources
from geo_platform.workflows.dedupe import DuplicateLinked
from geo_platform.workflows.publish_raster import (
    RasterPublished,
    RasterSettings,
    publish_raster,
    raster_options,
)
from geo_platform.workflows.publish_tiled import TiledPublished
from geo_platform_tests.fixtures.helpers import TESTDATA
from geo_platform_tests.lib.raster.synth import damage_block, gradient, write_tif

RGB = TESTDATA / "rasters/rgb_uint8/RGB.byte.tif"
TIERS = ("analysis", "visualization", "archive")


def _silver(blob_store: LocalBlobStore, blob: str) -> set[str]:
    """The silver blobs of ``blob``, relative to its silver folder."""
    prefix = naming.silver_prefix(blob) + "/"
    return {b.path[len(prefix) :] for b in blob_store.list_blobs("silver", prefix=prefix)}


def _silver_path(blob_store: LocalBlobStore, blob: str, rel: str) -> Path:
    return Path(blob_store.root) / "silver" / naming.silver_prefix(blob) / rel


def test_raster_becomes_valid_cog_tiers_and_a_valid_item(
    blob_store, pgstac_lookups, bronze_folder
) -> None:
    blob = f"{bronze_folder}/imagery/rgb.tif"
    blob_store.upload_file("bronze", blob, RGB)
    out = publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="run-1")
    assert isinstance(out, RasterPublished)
    item_id = naming.item_id(blob)
    assert _silver(blob_store, blob) == {
        "analysis.tif",
        "visualization.tif",
        "archive.tif",
        "thumbnail.png",
        f"stac/{item_id}.json",
    }
    for tier in TIERS:
        path = _silver_path(blob_store, blob, f"{tier}.tif")
        ok, errors, _ = cog_validate(str(path))
        assert ok, errors
        assert out.tier_bytes[tier] == path.stat().st_size
        href = blob_store.href("silver", f"{naming.silver_prefix(blob)}/{tier}.tif")
        assert out.metadata[f"{tier}_href"] == out.hrefs[tier] == href
    with (
        rasterio.open(RGB) as src,
        rasterio.open(_silver_path(blob_store, blob, "analysis.tif")) as cog,
    ):
        assert (src.read() == cog.read()).all()  # the analysis tier is lossless
    stored = json.loads(_silver_path(blob_store, blob, f"stac/{item_id}.json").read_text())
    assert stored == out.item
    validate_stac(stored)
    props = stored["properties"]
    assert props["geo_platform:source_blob"] == blob and props["geo_platform:run_id"] == "run-1"
    assert {"analysis", "visualization", "archive", "thumbnail"} <= set(stored["assets"])
    assert out.checks == {
        "cog_valid": (True, "cog_validate passed for analysis, visualization, archive"),
        "stac_item_valid": (True, "valid against the official schemas (offline)"),
        "raster_plausible": out.checks["raster_plausible"],
        "collection_consistent": out.checks["collection_consistent"],
    }
    assert all(ok for ok, _ in out.checks.values())
    assert out.consistency.items_compared == 0  # nothing of its collection in pgstac yet
    assert out.metadata["stac_item"] == f"{naming.collection_id(blob)}/{item_id}"
    assert out.metadata["preview"].startswith("![preview](data:image/png;base64,")
    assert sorted(out.metadata["geo_platform/blobs"]) == sorted(out.blobs)
    assert len(out.blobs) == 5
    # Bytes per tier against the source, in the item and the run metadata.
    storage = props["geo_platform:storage"]
    assert storage == out.storage == out.metadata["storage"]
    assert storage["source_bytes"] == RGB.stat().st_size
    for tier in TIERS:
        assert storage["tiers"][tier]["bytes"] == out.tier_bytes[tier]
        assert storage["tiers"][tier]["ratio"] == round(
            out.tier_bytes[tier] / RGB.stat().st_size, 4
        )
    # Built in place and renamed: nothing left in the staging area.
    assert [b.path for b in blob_store.list_blobs("silver", prefix="_staging/")] == []


def test_a_jpeg_cog_is_its_own_archive_and_analysis_tier(
    blob_store, pgstac_lookups, bronze_folder
) -> None:
    source = TESTDATA / "rasters/cog_valid/cogeo.tif"  # JPEG, already a valid COG
    blob = f"{bronze_folder}/imagery/jpeg_cog.tif"
    blob_store.upload_file("bronze", blob, source)
    out = publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="run-1")
    assert isinstance(out, RasterPublished)
    for tier in ("analysis", "archive"):
        path = _silver_path(blob_store, blob, f"{tier}.tif")
        assert path.read_bytes() == source.read_bytes()
        ok, errors, _ = cog_validate(str(path))
        assert ok, errors
    tiers = out.item["properties"]["geo_platform:storage"]["tiers"]
    assert all(t["ratio"] <= 1.25 for t in tiers.values()), tiers
    assert tiers["archive"]["ratio"] == 1.0 and "rule" in tiers["archive"]
    assert out.metadata["archive_rule"] == tiers["archive"]["rule"]
    validate_stac(out.item)


def test_options_follow_prefix_rules_then_overrides(
    blob_store, pgstac_lookups, bronze_folder
) -> None:
    rules = json.dumps({f"{bronze_folder}/dem/": {"tiers": ["analysis", "archive"]}})
    assert raster_options(rules, f"{bronze_folder}/dem/x.tif").tiers == ("analysis", "archive")
    assert raster_options(rules, f"{bronze_folder}/other.tif").tiers == RasterOptions().tiers
    assert raster_options(
        rules, f"{bronze_folder}/dem/x.tif", {"tiers": ["analysis"], "resampling": None}
    ).tiers == ("analysis",)
    blob = f"{bronze_folder}/dem/hills.tif"
    blob_store.upload_file("bronze", blob, TESTDATA / "rasters/dem_float32/dem-hills.tiff")
    settings = RasterSettings(raster_rules=rules)
    out = publish_raster(blob_store, pgstac_lookups, settings, blob, run_id="r")
    assert isinstance(out, RasterPublished) and set(out.tier_bytes) == {"analysis", "archive"}
    assert {p for p in _silver(blob_store, blob) if p.endswith(".tif")} == {
        "analysis.tif",
        "archive.tif",
    }
    # A new version with fewer tiers leaves no stale tier behind.
    out = publish_raster(
        blob_store, pgstac_lookups, settings, blob, run_id="r2", overrides={"tiers": ["analysis"]}
    )
    assert isinstance(out, RasterPublished) and set(out.tier_bytes) == {"analysis"}
    assert {p for p in _silver(blob_store, blob) if p.endswith(".tif")} == {"analysis.tif"}
    assert (
        out.metadata["archive_skipped"] == out.metadata["visualization_skipped"] == "not requested"
    )
    assert "archive_bytes" not in out.metadata and out.metadata["analysis_bytes"] > 0


def test_bad_input_publishes_nothing(blob_store, pgstac_lookups, bronze_folder) -> None:
    blob = f"{bronze_folder}/r/nogeo.tif"
    blob_store.upload_file("bronze", blob, TESTDATA / "rasters/no_crs/hopper.tif")
    with pytest.raises(NotGeoreferencedError):
        publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    with pytest.raises(NotFoundError):
        publish_raster(
            blob_store,
            pgstac_lookups,
            RasterSettings(),
            f"{bronze_folder}/r/missing.tif",
            run_id="r",
        )
    assert list(blob_store.list_blobs("silver")) == []  # no outputs, no staging leftovers


def test_large_raster_is_published_as_tiles(
    blob_store, pgstac_lookups, bronze_folder, tmp_path
) -> None:
    blob = f"{bronze_folder}/big/dem.tif"
    src = write_tif(tmp_path / "dem.tif", gradient(1, 1200, 1500, "uint16"), tiled=True)
    blob_store.upload_file("bronze", blob, src)
    settings = RasterSettings(
        tiling=TilingOptions(threshold_pixels=100_000, tile_size=512, workers=1),
        tiling_work_dir=str(tmp_path / "work"),
    )
    out = publish_raster(blob_store, pgstac_lookups, settings, blob, run_id="r")
    assert isinstance(out, TiledPublished)
    assert len(out.item_ids) == 9  # 1500 x 1200 pixels in 512-pixel tiles, edges clipped
    silver = _silver(blob_store, blob)
    tiles = sorted(p for p in silver if p.startswith("tiles/") and p.endswith(".tif"))
    assert len(tiles) == 9 and "mosaic.json" in silver
    for rel in tiles:
        assert cog_validate(str(_silver_path(blob_store, blob, rel)))[0]
    for item_id in out.item_ids:
        validate_stac(
            json.loads(_silver_path(blob_store, blob, f"stac/{item_id}.json").read_text())
        )
    assert out.metadata["tiles"] == 9 and out.mosaics["mosaic"] == out.metadata["mosaic_href"]
    assert not any((tmp_path / "work").iterdir())  # published: the work bronze_folder is gone
    # What ingest reports ("blobs"), as for a single COG: every silver blob written, by href.
    prefix = naming.silver_prefix(blob)
    assert sorted(out.metadata["geo_platform/blobs"]) == sorted(out.blobs)
    assert set(out.blobs) == {blob_store.href("silver", f"{prefix}/{rel}") for rel in silver}
    assert len(out.blobs) == out.published_blobs == len(silver)
    names = {b.rsplit("/", 1)[1] for b in out.blobs}
    assert {"mosaic.json", "thumbnail.png", "tiles.json"} <= names


def _corrupt_tile(path: Path, nodata: float | None) -> Path:
    """A tiled DEFLATE GeoTIFF whose tile at column 0, row 1 is garbage past its zlib header:
    it opens fine (its directory is intact), the damage shows when the tile is decoded."""
    data = (np.arange(256 * 256) % 200 + 1).astype("int16").reshape(1, 256, 256)
    write_tif(path, data, tiled=True, blockxsize=64, blockysize=64, compress="deflate",
              nodata=nodata)  # fmt: skip
    damage_block(path, 0, 1)
    return path


@pytest.mark.parametrize("nodata", [-9999, None], ids=["read-at-inspection", "read-by-cog"])
def test_a_corrupt_tile_names_the_file_and_block_and_publishes_nothing(
    blob_store, pgstac_lookups, bronze_folder, tmp_path, nodata
) -> None:
    """Before: "RasterioIOError: Read failed. See previous exception for details.". With a
    nodata value inspection reads the tiles (any valid pixel?), without one the COG build."""
    blob = f"{bronze_folder}/dem/corrupt_tiles.tif"
    blob_store.upload_file("bronze", blob, _corrupt_tile(tmp_path / "c.tif", nodata))
    with pytest.raises(UnreadableFileError) as err:
        publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    text = str(err.value)
    assert text.startswith(f"{blob}: band 1, block 0 across and 1 down cannot be decoded")
    assert "the file is corrupt" in text and "upload it again" in text
    assert "GDAL: band 1: IReadBlock failed at X offset 0, Y offset 1" in text
    assert str(tmp_path) not in text and "/tmp" not in text
    assert list(blob_store.list_blobs("silver")) == []  # no tier, no item, no staging leftover


def test_rows_beyond_the_pole_are_refused_and_publish_nothing(
    blob_store, pgstac_lookups, bronze_folder, tmp_path
) -> None:
    from rasterio.transform import from_origin

    blob = f"{bronze_folder}/geo/lat_overflow.tif"
    src = write_tif(tmp_path / "o.tif", np.full((1, 200, 100), 5, "uint8"), crs="EPSG:4326",
                    transform=from_origin(0, 100, 1, 1))  # fmt: skip
    blob_store.upload_file("bronze", blob, src)
    with pytest.raises(CoordinateRangeError, match=rf"{blob}: rows reach latitude 100, beyond"):
        publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    assert list(blob_store.list_blobs("silver")) == []
    # The same raster on -90..90 publishes.
    blob = f"{bronze_folder}/geo/global.tif"
    src = write_tif(tmp_path / "g.tif", np.full((1, 180, 360), 5, "uint8"), crs="EPSG:4326",
                    transform=from_origin(-180, 90, 1, 1))  # fmt: skip
    blob_store.upload_file("bronze", blob, src)
    out = publish_raster(blob_store, pgstac_lookups, RasterSettings(), blob, run_id="r")
    assert isinstance(out, RasterPublished)
    assert out.item["bbox"] == [-180.0, -90.0, 180.0, 90.0]


def test_same_content_under_a_second_name_is_linked_or_flagged(
    blob_store, pgstac_lookups, bronze_folder, tmp_path, pg_dsn, drop_collection
) -> None:
    """The one duplicate lookup is the silver stage's: ``link`` writes a pointer item instead of
    a build, ``publish`` builds in full and flags the item; the catalog upserts either as is."""
    rng = np.random.default_rng(uuid.uuid4().int % 2**32)  # content no other test publishes
    data = rng.integers(1, 255, (1, 64, 64)).astype("uint8")
    src = write_tif(tmp_path / "unique.tif", data)
    first, second, third = (f"{bronze_folder}/{d}/copy.tif" for d in ("a", "b", "c"))
    for blob in (first, second, third):
        blob_store.upload_file("bronze", blob, src)
        drop_collection(naming.collection_id(blob))
    settings = RasterSettings(duplicates="link")
    original = publish_raster(blob_store, pgstac_lookups, settings, first, run_id="r")
    assert isinstance(original, RasterPublished) and original.duplicate_of is None
    assert stac_ext.DUPLICATE_OF_SOURCE not in original.item["properties"]
    with psycopg.connect(pg_dsn) as conn:  # the catalog stage publishes the first file's item
        publish_sources(conn, {first: [original.item]}, "raster")
    out = publish_raster(blob_store, pgstac_lookups, settings, second, run_id="r")
    assert isinstance(out, DuplicateLinked)
    assert out.duplicate_of == first
    assert out.duplicate_of_items == [[naming.collection_id(first), naming.item_id(first)]]
    assert all(ok for ok, _ in out.checks.values()) and set(out.checks) == {
        "cog_valid",
        "stac_item_valid",
    }
    # Nothing built for the copy: only its pointer item, which is valid STAC.
    assert _silver(blob_store, second) == {f"stac/{naming.item_id(second)}.json"}
    pointer = json.loads(
        _silver_path(blob_store, second, f"stac/{naming.item_id(second)}.json").read_text()
    )
    validate_stac(pointer)
    assert out.metadata["quality/duplicate"] is True and out.stac_items == [
        f"{pointer['collection']}/{pointer['id']}"
    ]
    flagged = publish_raster(
        blob_store, pgstac_lookups, RasterSettings(duplicates="publish"), third, run_id="r"
    )
    assert isinstance(flagged, RasterPublished) and flagged.duplicate_of == first
    assert "analysis.tif" in _silver(blob_store, third)  # built in full
    stored = json.loads(
        _silver_path(blob_store, third, f"stac/{naming.item_id(third)}.json").read_text()
    )
    assert stored["properties"][stac_ext.DUPLICATE_OF_SOURCE] == first
    validate_stac(stored)


def test_consistency_against_the_collection_read_once_per_lookup_session(
    blob_store, bronze_folder, tmp_path, pg_dsn, drop_collection
) -> None:
    """The other rasters of the collection (the file's own previous version aside); a run's
    files share one lookup connection, which reads the collection's grids once."""
    from rasterio.transform import from_origin

    a, b = (f"{bronze_folder}/grid/{n}.tif" for n in ("a", "b"))
    drop_collection(naming.collection_id(a))
    blob_store.upload_file("bronze", a, write_tif(tmp_path / "a.tif", gradient(1, 32, 32)))
    coarse = from_origin(500000, 5000000, 20, 20)
    blob_store.upload_file(
        "bronze", b, write_tif(tmp_path / "b.tif", gradient(1, 32, 32), transform=coarse)
    )
    session = psycopg.connect(pg_dsn)

    @contextlib.contextmanager
    def shared() -> Iterator[psycopg.Connection[Any]]:  # as PgSTACResource.lookup_session
        yield session
        session.rollback()

    def publish(blob: str, lookups: Any) -> RasterPublished:
        out = publish_raster(blob_store, lookups, RasterSettings(), blob, run_id="r")
        assert isinstance(out, RasterPublished)
        return out

    try:
        first = publish(a, shared)
        assert first.consistency.items_compared == 0
        with psycopg.connect(pg_dsn) as conn:  # the catalog stage of an earlier run
            publish_sources(conn, {a: [first.item]}, "raster")
        # The session read the collection before "a" was published: it still compares with none.
        assert publish(b, shared).consistency.items_compared == 0
        with psycopg.connect(pg_dsn) as own:

            @contextlib.contextmanager
            def fresh() -> Iterator[psycopg.Connection[Any]]:
                yield own
                own.rollback()

            other = publish(b, fresh)
            assert other.consistency.items_compared == 1
            assert not other.consistency.consistent
            assert other.consistency.resolutions == {"10 x 10": 1, "20 x 20": 1}
            again = publish(a, fresh)  # its own previous version is not compared with
            assert again.consistency.items_compared == 0
    finally:
        session.close()
