"""GeoPackages holding raster tiles: a raster-only one is refused with what it is and what to
do (not GDAL's 'no vector format'), a mixed one publishes its vector layers and names its raster
tables among the failed layers (the file is partial). Real GeoPackages written by GDAL. A zip of
vector files names the rasters it holds the same way."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import Point

from geo_platform.lib.errors import EmptyDatasetError, UnsupportedFormatError
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.vector.archive import raster_members
from geo_platform.lib.vector.kml_overlays import ground_overlays, network_links
from geo_platform.lib.vector.read import open_source
from geo_platform.lib.vector.sniff import gpkg_attribute_tables, gpkg_raster_tables
from geo_platform_tests.fixtures.vector_world import table_facts


def _raster_gpkg(path: Path, table: str = "ortho") -> Path:
    data = (np.arange(64 * 64).reshape(1, 64, 64) % 200).astype("uint8")
    profile = {"driver": "GPKG", "width": 64, "height": 64, "count": 1, "dtype": "uint8",
               "crs": "EPSG:3857", "transform": from_origin(0, 6400, 100, 100)}  # fmt: skip
    with rasterio.open(path, "w", RASTER_TABLE=table, **profile) as dst:
        dst.write(data)
    return path


def test_a_raster_only_geopackage_is_refused_with_what_it_is(tmp_path: Path) -> None:
    path = _raster_gpkg(tmp_path / "ortho.gpkg")
    assert gpkg_raster_tables(path) == ["ortho"]
    for attempt in (
        lambda: open_source(path, "v/ortho.gpkg"),
        lambda: inventory_file(path, "v/ortho.gpkg", "vector"),
    ):
        with pytest.raises(UnsupportedFormatError, match=r"raster tiles \('ortho'\)") as err:
            attempt()
        assert "v/ortho.gpkg" in str(err.value) and "gdal_translate" in str(err.value)
    assert gpkg_raster_tables(tmp_path / "missing.gpkg") == []
    (tmp_path / "text.gpkg").write_text("not sqlite")
    assert gpkg_raster_tables(tmp_path / "text.gpkg") == []


def test_a_mixed_geopackage_publishes_its_vectors_and_names_its_rasters(world, tmp_path):
    path = _raster_gpkg(tmp_path / "site.gpkg")
    points = gpd.GeoDataFrame({"k": [1, 2]}, geometry=[Point(1, 2), Point(3, 4)], crs=4326)
    points.to_file(path, layer="wells", driver="GPKG")
    assert gpkg_raster_tables(path) == ["ortho"]

    result = world.publish(world.upload("site.gpkg", path))

    (table,) = result.tables
    assert table.layer == "wells" and table_facts(world.dsn, world.schema, table.table)[0] == 2
    assert set(result.failed_layers) == {"ortho"}
    assert result.failed_layers["ortho"].startswith("UnsupportedFormatError: raster tiles")


def test_a_zip_of_vectors_names_the_rasters_it_holds_among_the_failed(world, tmp_path):
    points = gpd.GeoDataFrame({"k": [1, 2]}, geometry=[Point(1, 2), Point(3, 4)], crs=4326)
    points.to_file(tmp_path / "wells.shp")
    _raster_gpkg(tmp_path / "x.gpkg")  # any raster will do: a GeoTIFF of the same pixels
    with rasterio.open(tmp_path / "x.gpkg") as src:
        profile = {**src.profile, "driver": "GTiff"}
        profile.pop("tiled", None), profile.pop("blockxsize", None), profile.pop("blockysize", None)
        with rasterio.open(tmp_path / "ortho.tif", "w", **profile) as dst:
            dst.write(src.read())
    path = tmp_path / "delivery.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for ext in ("shp", "shx", "dbf", "prj", "cpg"):
            archive.write(tmp_path / f"wells.{ext}", f"wells.{ext}")
        archive.write(tmp_path / "ortho.tif", "imagery/ortho.tif")

    result = world.publish(world.upload("delivery.zip", path))

    (table,) = result.tables
    assert table_facts(world.dsn, world.schema, table.table)[0] == 2
    assert list(result.failed_layers) == ["imagery/ortho.tif"]
    assert "upload it on its own" in result.failed_layers["imagery/ortho.tif"]


def test_pictures_icons_and_previews_are_not_rasters_left_out(tmp_path: Path) -> None:
    def _zip(name: str, members: dict[str, bytes]) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as archive:
            for member, data in members.items():
                archive.writestr(member, data)
        return path

    shp = {"wells.shp": b"", "wells.shx": b"", "wells.dbf": b""}
    assert raster_members(_zip("preview.zip", {**shp, "preview.png": b"", "logo.jpg": b""})) == []
    placed = {**shp, "scan.png": b"", "scan.pgw": b"", "ortho.jpg": b"", "ortho.jpg.aux.xml": b""}
    assert raster_members(_zip("placed.zip", placed)) == ["scan.png", "ortho.jpg"]
    assert raster_members(_zip("dem.zip", {**shp, "dem/dem.tif": b""})) == ["dem/dem.tif"]
    kmz = {"doc.kml": b"<kml/>", "files/icon.png": b"", "files/photo.tif": b""}
    assert raster_members(_zip("map.kmz", kmz)) == []  # a KMZ's pictures belong to its styles
    workbook = {"[Content_Types].xml": b"", "xl/workbook.xml": b"", "xl/media/image1.png": b""}
    assert raster_members(_zip("stations.xlsx", workbook)) == []
    (tmp_path / "plain.geojson").write_text("{}")
    assert raster_members(tmp_path / "plain.geojson") == []


def test_attribute_tables_are_named_not_dropped(world, tmp_path):
    """A lookup table beside the layers (no geometry) is named among the layers not published
    (the file is partial); QGIS's saved styles are not data and are not named."""
    path = tmp_path / "parcels.gpkg"
    points = gpd.GeoDataFrame({"code": [1, 2]}, geometry=[Point(1, 2), Point(3, 4)], crs=4326)
    points.to_file(path, layer="parcels", driver="GPKG")
    for layer, frame in {"land_use": {"code": [1, 2], "label": ["farm", "wood"]},
                         "layer_styles": {"styleName": ["default"]}}.items():  # fmt: skip
        pyogrio.write_dataframe(pd.DataFrame(frame), path, layer=layer)
    assert gpkg_attribute_tables(path) == ["land_use"]

    result = world.publish(world.upload("parcels.gpkg", path))

    assert [t.layer for t in result.tables] == ["parcels"]
    assert set(result.failed_layers) == {"land_use"}
    assert result.failed_layers["land_use"].startswith("NoGeometryError: an attribute table")


def test_a_ground_overlay_image_is_named_not_dropped(world, tmp_path):
    """A KMZ map overlay: its footprint publishes as a feature, its image is named among the
    layers not published (with how to make it a raster), not left out silently."""
    kml = (
        '<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        "<Placemark><name>pin</name><Point><coordinates>8.5,47.5</coordinates></Point></Placemark>"
        "<GroundOverlay><name>old map</name><Icon><href>files/map.png</href></Icon>"
        "<LatLonBox><north>48</north><south>47</south><east>9</east><west>8</west></LatLonBox>"
        "</GroundOverlay></Document></kml>"
    )
    with rasterio.open(tmp_path / "map.png", "w", driver="PNG", width=8, height=8, count=1,
                       dtype="uint8") as png:  # fmt: skip
        png.write(np.full((1, 8, 8), 3, "uint8"))
    path = tmp_path / "map.kmz"
    with zipfile.ZipFile(path, "w") as kmz:
        kmz.writestr("doc.kml", kml)
        kmz.write(tmp_path / "map.png", "files/map.png")
    assert ground_overlays(path) == ["old map (files/map.png)"]

    result = world.publish(world.upload("map.kmz", path))

    assert sum(t.rows_loaded for t in result.tables) >= 1  # the pin (and the footprint)
    (why,) = result.failed_layers.values()
    assert "GroundOverlay old map (files/map.png)" in result.failed_layers
    assert why.startswith("UnsupportedFormatError: the image of a KML GroundOverlay")
    assert ground_overlays(tmp_path / "map.png") == []


def test_network_links_are_named_and_a_file_of_links_only_says_so(world, tmp_path):
    """A KML NetworkLink (a live feed Google Earth fetches) is not followed: named among the
    layers not published beside real features, and the reason a file of links only fails."""
    link = ("<NetworkLink><name>feed</name><Link><href>http://example.com/feed.kml</href>"
            "</Link></NetworkLink>")  # fmt: skip
    pin = (
        "<Placemark><name>pin</name><Point><coordinates>8.5,47.5</coordinates></Point></Placemark>"
    )
    for name, body in (("live.kml", pin + link), ("links.kml", link)):
        (tmp_path / name).write_text(
            '<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
            f"<name>Live</name>{body}</Document></kml>"
        )
    assert network_links(tmp_path / "live.kml") == ["feed (http://example.com/feed.kml)"]

    result = world.publish(world.upload("live.kml", tmp_path / "live.kml"))
    assert sum(t.rows_loaded for t in result.tables) == 1
    assert result.failed_layers["NetworkLink feed (http://example.com/feed.kml)"].startswith(
        "UnsupportedFormatError: a KML NetworkLink is not followed"
    )
    with pytest.raises(EmptyDatasetError) as err:
        world.publish(world.upload("links.kml", tmp_path / "links.kml"))
    assert "holds only NetworkLink feed (http://example.com/feed.kml)" in str(err.value)
    assert "links.kml" in str(err.value)
