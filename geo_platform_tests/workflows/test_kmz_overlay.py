"""A KMZ that is one GroundOverlay (a scanned map for Google Earth) or a superoverlay (the tile
pyramid GDAL and drone software export) publishes as a raster: the sensor and ``ingest`` judge
it from its ends (``lib.kml_overlay``), the raster pipeline places the image by its LatLonBox or
reads the pyramid at its finest level (``lib.raster.kmz_image``). Any other KMZ stays a vector.
Checked on the local store and on Azurite, with rio-cogeo, rasterio and the STAC schemas."""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from rio_cogeo.cogeo import cog_validate

from geo_platform.app.ingest import plan_for
from geo_platform.defs.bronze.sensors import head_reader, tail_reader
from geo_platform.lib import bronze, naming
from geo_platform.lib.content import HEAD_BYTES
from geo_platform.lib.errors import UnsupportedFormatError
from geo_platform.lib.inventory import file_sha256, inventory_file
from geo_platform.lib.kml_overlay import kind_from_ends
from geo_platform.lib.raster.kmz_image import placed_overlay
from geo_platform.lib.zip_kind import TAIL_BYTES
from geo_platform_tests.fixtures.helpers import published_raster
from geo_platform_tests.workflows.test_publish_gcps import store  # noqa: F401  (fixture)

BOX = {"north": 47.5, "south": 47.25, "east": 8.75, "west": 8.25}
LEGEND = (
    "<ScreenOverlay><name>Legend</name><Icon><href>files/legend.png</href></Icon></ScreenOverlay>"
)
PLACEMARK = (
    "<Placemark><name>p</name><Point><coordinates>8.3,47.3</coordinates></Point></Placemark>"
)


def _png(width: int, height: int) -> tuple[bytes, np.ndarray]:
    """An RGBA PNG: a gradient, its top-left corner transparent."""
    rgba = np.zeros((4, height, width), np.uint8)
    rgba[0] = np.arange(width, dtype=np.uint8)[None, :]
    rgba[1] = np.arange(height, dtype=np.uint8)[:, None]
    rgba[2] = 200
    rgba[3] = 255
    rgba[3, :10, :10] = 0
    with warnings.catch_warnings(), MemoryFile() as mem:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a picture: not placed
        with mem.open(driver="PNG", width=width, height=height, count=4, dtype="uint8") as dst:
            dst.write(rgba)
        return mem.read(), rgba


def overlay(name: str = "Zürich 1900", href: str = "files/map.png", **box: float) -> str:
    edges = "".join(f"<{k}>{v}</{k}>" for k, v in {**BOX, **box}.items())
    return (f"<GroundOverlay><name>{name}</name><Icon><href>{href}</href></Icon>"
            f"<LatLonBox>{edges}</LatLonBox></GroundOverlay>")  # fmt: skip


def kmz(
    path: Path,
    *elements: str,
    image: bytes | None = None,
    before: bytes = b"",
    image_name: str = "files/map.png",
) -> Path:
    """A KMZ of ``elements`` in doc.kml and ``image`` as files/map.png; ``before``: a member
    written ahead of doc.kml (so that the KML is not within the blob's first bytes)."""
    doc = ('<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2">'
           f"<Document>{''.join(elements)}</Document></kml>")  # fmt: skip
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        if before:
            archive.writestr("files/scan.tif", before, zipfile.ZIP_STORED)
        archive.writestr("doc.kml", doc)
        archive.writestr(image_name, image if image is not None else _png(64, 32)[0])
    return path


def _kind(path: Path) -> str:
    data = path.read_bytes()
    return kind_from_ends(data[:HEAD_BYTES], data[-TAIL_BYTES:], len(data))


def test_a_kmz_is_a_raster_only_when_it_is_one_north_up_overlay_alone(tmp_path: Path) -> None:
    noise = os.urandom(TAIL_BYTES + HEAD_BYTES)  # incompressible members: a large KMZ
    assert _kind(kmz(tmp_path / "a.kmz", overlay())) == "raster"
    assert _kind(kmz(tmp_path / "big.kmz", overlay(), image=noise)) == "raster"
    assert _kind(kmz(tmp_path / "b.kmz", overlay(href="./files/map.png"))) == "raster"
    assert _kind(kmz(tmp_path / "two.kmz", overlay(), overlay(name="b", west=8.75, east=9))) == (
        "raster"  # tiles side by side
    )
    assert _kind(kmz(tmp_path / "turned.kmz", overlay(rotation=-12.5))) == "raster"
    assert _kind(kmz(tmp_path / "w.kmz", overlay(href="files\\map.png"))) == "raster"  # Windows
    spaced = kmz(
        tmp_path / "s.kmz", overlay(href="files/old%20map.png"), image_name="files/old map.png"
    )
    assert _kind(spaced) == "raster"
    vectors = {
        "placemark": kmz(tmp_path / "c.kmz", overlay(), PLACEMARK),
        "impossible rotation": kmz(tmp_path / "e.kmz", overlay(rotation=400)),
        "a URL": kmz(tmp_path / "f.kmz", overlay(href="https://example.com/map.png")),
        "outside": kmz(tmp_path / "g.kmz", overlay(href="../map.png")),
        "missing": kmz(tmp_path / "h.kmz", overlay(href="files/other.png")),
        "antimeridian": kmz(tmp_path / "i.kmz", overlay(west=179.5, east=-179.5)),
        "no overlay": kmz(tmp_path / "j.kmz", PLACEMARK),
        "KML far in": kmz(tmp_path / "k.kmz", overlay(), before=noise, image=noise),
    }
    assert {why: _kind(path) for why, path in vectors.items()} == dict.fromkeys(vectors, "vector")


def test_the_sensor_and_ingest_route_an_overlay_kmz_to_the_rasters(store, tmp_path) -> None:  # noqa: F811
    store, bronze_container, _ = store
    noise = os.urandom(TAIL_BYTES + HEAD_BYTES)  # the picture: only its size matters here
    raster = kmz(tmp_path / "scan.kmz", overlay(), image=noise)
    vector = kmz(tmp_path / "places.kmz", overlay(), PLACEMARK)
    assert raster.stat().st_size > HEAD_BYTES + TAIL_BYTES  # neither read sees all of it
    for path in (raster, vector):
        store.upload_file(bronze_container, f"in/{path.name}", path)
    listing = [b for b in store.list_blobs(bronze_container) if b.path.endswith(".kmz")]
    readers = {"read_head": head_reader(store, bronze_container),
               "read_tail": tail_reader(store, bronze_container)}  # fmt: skip
    for plan in (bronze.plan_tick(listing, {}, **readers), plan_for(listing, **readers)):
        assert [b.path for b in plan.new["raster"]] == ["in/scan.kmz"]
        assert [b.path for b in plan.new["vector"]] == ["in/places.kmz"]


def test_an_overlay_kmz_publishes_its_image_placed_by_its_box(
    store,  # noqa: F811
    pgstac_lookups,
    bronze_folder,
    tmp_path,
) -> None:
    png, rgba = _png(200, 100)
    path = kmz(tmp_path / "Zürich 1900.kmz", overlay(), LEGEND, image=png)  # a legend too
    blob, out = published_raster(store, pgstac_lookups, bronze_folder, path)
    store, _, silver = store
    inv = inventory_file(path, blob, "raster")  # the bronze partition's description
    assert (inv.driver, inv.crs, inv.bbox) == ("KMZ (PNG)", "EPSG:4326", (8.25, 47.25, 8.75, 47.5))
    props = out.item["properties"]
    assert props["geo_platform:source_driver"] == "KMZ (PNG)"
    assert props["geo_platform:source_sha256"] == file_sha256(path)
    assert out.item["bbox"] == pytest.approx([8.25, 47.25, 8.75, 47.5])
    assert "LatLonBox" in str(props) and "Zürich 1900" in str(props)
    assert "not on the map, so not published: ScreenOverlay 'Legend'" in str(props)
    with store.local_copy(silver, f"{naming.silver_prefix(blob)}/analysis.tif") as local:
        assert cog_validate(str(local))[0]
        with rasterio.open(local) as cog:
            assert cog.crs.to_epsg() == 4326
            assert cog.bounds == pytest.approx((8.25, 47.25, 8.75, 47.5))
            assert np.array_equal(cog.read((1, 2, 3)), rgba[:3])
            mask = cog.dataset_mask()
            assert (mask[:10, :10] == 0).all() and (mask[10:, 10:] == 255).all()


def test_a_kmz_of_placemarks_is_refused_by_the_raster_pipeline(tmp_path: Path) -> None:
    path = kmz(tmp_path / "mixed.kmz", overlay(), PLACEMARK)
    with pytest.raises(UnsupportedFormatError, match=r"mixed\.kmz.*1 GroundOverlay.*Placemark"):
        placed_overlay(path, "in/mixed.kmz", tmp_path / "out.tif", 2**30)
    assert not (tmp_path / "out.tif").exists()


def pyramid_kmz(folder: Path, name: str = "ortho.kmz") -> tuple[Path, np.ndarray]:
    """A superoverlay of PNG tiles as GDAL writes it (two levels, 1/0/0.kml...)."""
    data = np.random.default_rng(3).integers(0, 255, (3, 256, 512), dtype=np.uint8)
    src = folder / "ortho-source.tif"
    grid = Affine(0.001, 0.0, 8.0, 0.0, -0.001, 47.5)
    with rasterio.open(src, "w", driver="GTiff", width=512, height=256, count=3, dtype="uint8",
                       crs="EPSG:4326", transform=grid) as dst:  # fmt: skip
        dst.write(data)
    path = folder / name
    rasterio.shutil.copy(src, path, driver="KMLSUPEROVERLAY", FORMAT="PNG")
    return path, data


def _edited(path: Path, member: str, edit) -> Path:  # type: ignore[no-untyped-def]
    """A copy of the KMZ with ``member`` rewritten by ``edit`` (bytes -> bytes)."""
    out = path.with_name("edited-" + path.name)
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(out, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            new.writestr(info, edit(data) if info.filename == member else data)
    return out


def test_a_superoverlay_is_a_raster_unless_a_link_leaves_the_kmz(tmp_path: Path) -> None:
    path, _ = pyramid_kmz(tmp_path)
    assert _kind(path) == "raster"
    url = _edited(path, "doc.kml", lambda d: d.replace(b"0/0/0.kml", b"https://x.org/0.kml"))
    assert _kind(url) == "vector"
    # A placemark deep in the pyramid is seen when it is published, not from the blob's ends.
    deep = _edited(path, "1/0/0.kml", lambda d: d.replace(b"</Document>", PLACEMARK.encode()
                                                                  + b"</Document>"))  # fmt: skip
    assert _kind(deep) == "raster"
    with pytest.raises(UnsupportedFormatError, match=r"1/0/0\.kml.*Placemark"):
        placed_overlay(deep, "in/ortho.kmz", tmp_path / "out.tif", 2**30)
    assert not (tmp_path / "out.tif").exists()


def test_a_superoverlay_publishes_its_finest_level(
    store,  # noqa: F811
    pgstac_lookups,
    bronze_folder,
    tmp_path,
) -> None:
    path, data = pyramid_kmz(tmp_path)
    blob, out = published_raster(store, pgstac_lookups, bronze_folder, path)
    store, _, silver = store
    assert out.item["properties"]["geo_platform:source_driver"] == "KMZ (KMLSUPEROVERLAY)"
    assert "superoverlay (6 KML files" in str(out.item["properties"])
    with store.local_copy(silver, f"{naming.silver_prefix(blob)}/analysis.tif") as local:
        assert cog_validate(str(local))[0]
        with rasterio.open(local) as cog:
            assert cog.crs.to_epsg() == 4326
            assert cog.bounds == pytest.approx((8.0, 47.244, 8.512, 47.5))
            assert np.array_equal(cog.read((1, 2, 3)), data)


def garmin_kmz(folder: Path) -> tuple[Path, np.ndarray]:
    """A map cut into overlays as Garmin Custom Maps does: three 150x100 tiles of a 300x200
    picture (the fourth missing), one of them a palette PNG; and the RGB they show."""
    full = np.random.default_rng(5).integers(0, 255, (3, 200, 300), dtype=np.uint8)
    palette = {i: (i, 255 - i, 7, 255) for i in range(256)}
    index = np.random.default_rng(6).integers(0, 255, (1, 100, 150), dtype=np.uint8)
    full[:, :100, 150:] = np.array([palette[i][:3] for i in range(256)], np.uint8)[
        index[0]
    ].transpose(2, 0, 1)
    elements, images = [], {}
    for row, col in ((0, 0), (0, 1), (1, 0)):
        tile = full[:, row * 100 : row * 100 + 100, col * 150 : col * 150 + 150]
        with warnings.catch_warnings(), MemoryFile() as mem:
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            bands = index if (row, col) == (0, 1) else tile
            with mem.open(
                driver="PNG", width=150, height=100, count=len(bands), dtype="uint8"
            ) as dst:
                dst.write(bands)
                if len(bands) == 1:
                    dst.write_colormap(1, palette)
            images[f"files/tile_{row}_{col}.png"] = mem.read()
        west, north = 8.0 + col * 0.15, 47.5 - row * 0.1
        box = {"north": north, "south": north - 0.1, "west": west, "east": west + 0.15}
        elements.append(overlay(f"tile {row} {col}", f"files/tile_{row}_{col}.png", **box))
    path = kmz(folder / "custom map.kmz", *elements, image=images.pop("files/tile_0_0.png"),
               image_name="files/tile_0_0.png")  # fmt: skip
    with zipfile.ZipFile(path, "a") as archive:
        for name, data in images.items():
            archive.writestr(name, data)
    return path, full


def test_overlays_side_by_side_publish_as_their_mosaic(
    store,  # noqa: F811
    pgstac_lookups,
    bronze_folder,
    tmp_path,
) -> None:
    path, full = garmin_kmz(tmp_path)
    assert _kind(path) == "raster"
    blob, out = published_raster(store, pgstac_lookups, bronze_folder, path)
    store, _, silver = store
    props = out.item["properties"]
    assert props["geo_platform:source_driver"] == "KMZ (PNG tiles)"
    assert "mosaicked from the KMZ's 3 GroundOverlays" in str(props)
    inv = inventory_file(path, blob, "raster")
    assert [layer["image"] for layer in inv.layers] == [
        "files/tile_0_0.png", "files/tile_0_1.png", "files/tile_1_0.png"
    ]  # fmt: skip
    with store.local_copy(silver, f"{naming.silver_prefix(blob)}/analysis.tif") as local:
        assert cog_validate(str(local))[0]
        with rasterio.open(local) as cog:
            assert cog.bounds == pytest.approx((8.0, 47.3, 8.3, 47.5))
            assert cog.shape == (200, 300)
            mask, rgb = cog.dataset_mask(), cog.read((1, 2, 3))
    assert (mask[100:, 150:] == 0).all() and (mask[:100] == 255).all()  # the missing tile
    assert np.array_equal(rgb[:, :100], full[:, :100]) and np.array_equal(
        rgb[:, 100:, :150], full[:, 100:, :150]
    )


def test_a_rotated_overlay_is_turned_about_its_centre_as_google_earth_draws_it(
    tmp_path: Path,
) -> None:
    picture = np.full((3, 100, 200), 128, np.uint8)
    picture[:, :10, :10] = np.array([255, 0, 0], np.uint8)[:, None, None]  # a red top-left corner
    with warnings.catch_warnings(), MemoryFile() as mem:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with mem.open(driver="PNG", width=200, height=100, count=3, dtype="uint8") as dst:
            dst.write(picture)
        png = mem.read()
    box = {"north": 47.5, "south": 47.4, "east": 8.4, "west": 8.2}
    quarter = kmz(tmp_path / "quarter.kmz", overlay(rotation=90, **box), image=png)
    made = placed_overlay(quarter, "in/quarter.kmz", tmp_path / "quarter.tif", 2**30)
    assert "rotation 90 degrees: warped north-up" in made.how
    inv = inventory_file(quarter, "in/quarter.kmz", "raster")
    assert inv.bbox == pytest.approx((8.25, 47.35, 8.35, 47.55))  # the box as drawn
    with rasterio.open(made.path) as placed:
        # The 0.2 x 0.1 degree box stands upright about its centre (8.3, 47.45); its top-left
        # corner, turned a quarter counter-clockwise, is now at the bottom left.
        assert placed.bounds == pytest.approx((8.25, 47.35, 8.35, 47.55))
        red, centre = placed.sample([(8.2525, 47.3525), (8.3, 47.45)])
        assert list(red) == [255, 0, 0, 255] and list(centre) == [128, 128, 128, 255]
    slanted = kmz(tmp_path / "slanted.kmz", overlay(rotation=30, **box), image=png)
    made = placed_overlay(slanted, "in/slanted.kmz", tmp_path / "slanted.tif", 2**30)
    with rasterio.open(made.path) as placed:
        mask = placed.dataset_mask()
        assert mask[0, 0] == 0 and mask[-1, -1] == 0  # around the turned box: transparent
        assert mask[mask.shape[0] // 2, mask.shape[1] // 2] == 255


def _flat(colour: tuple[int, int, int]) -> bytes:
    with warnings.catch_warnings(), MemoryFile() as mem:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with mem.open(driver="PNG", width=40, height=20, count=3, dtype="uint8") as dst:
            dst.write(np.array(colour, np.uint8)[:, None, None].repeat(20, 1).repeat(40, 2))
        return mem.read()


@pytest.mark.parametrize(
    ("orders", "top"),
    [((None, None), (0, 0, 255)), ((5, None), (255, 0, 0)), ((1, 2), (0, 0, 255))],
)
def test_overlapping_overlays_stack_as_google_earth_draws_them(
    tmp_path: Path, orders: tuple[int | None, int | None], top: tuple[int, int, int]
) -> None:
    """The higher drawOrder on top; of equal ones, the later in the KML."""
    elements = [
        overlay(name, f"files/{name}.png").replace(
            "</name>", "</name>" + (f"<drawOrder>{order}</drawOrder>" if order else "")
        )
        for name, order in zip(("red", "blue"), orders, strict=True)
    ]
    path = kmz(tmp_path / "stack.kmz", *elements, image=_flat((255, 0, 0)),
               image_name="files/red.png")  # fmt: skip
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("files/blue.png", _flat((0, 0, 255)))
    made = placed_overlay(path, "in/stack.kmz", tmp_path / "stack.tif", 2**30)
    with rasterio.open(made.path) as placed:
        (pixel,) = placed.sample([(8.5, 47.375)])
    assert tuple(pixel[:3]) == top
