from pathlib import Path

import pytest

from geo_platform.lib import bronze, bronze_cursor
from geo_platform.lib.errors import EmptyFileError
from geo_platform.lib.file_kinds import listed_roles
from geo_platform.lib.types import BlobInfo
from geo_platform_tests.fixtures.helpers import TESTDATA


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("a/b.tif", "raster"),
        ("a/b.TIFF", "raster"),
        ("srtm/N45E006.hgt.zip", "raster"),
        ("v/x.geojson", "vector"),
        ("v/x.zip", "vector"),
        ("v/x.gdb.zip", "vector"),
        ("v/x.kmz", "vector"),
        ("v/x.shp", "vector"),
        ("v/x.dbf", "sidecar"),
        ("v/x.shp.xml", "sidecar"),
        ("v/x.qpj", "sidecar"),  # QGIS's companions of a layer: published with it
        ("v/x.qml", "sidecar"),
        ("v/x.sld", "sidecar"),
        ("v/x.cst", "sidecar"),
        ("g/dem.sgrd", "sidecar"),  # the header of a SAGA grid
        ("g/dem.sdat", "raster"),
        ("g/dem.grd", "raster"),
        ("v/x.sqlite", "vector"),
        ("a/b.tif.aux.xml", "sidecar"),
        ("a/b.ovr", "sidecar"),
        ("a/b.jgw", "sidecar"),
        ("a/b.gfw", "sidecar"),
        ("a/b_RPC.TXT", "sidecar"),
        ("a/dem.clr", "sidecar"),
        ("a/scene.IMD", "sidecar"),
        ("a/notes.txt", "unsupported"),
        ("a/wells.csvt", "sidecar"),
        ("a/b.docx", "unsupported"),
        ("a/README", "unsupported"),
        ("a/.DS_Store", "unsupported"),
    ],
)
def test_classify(path, kind):
    assert bronze.classify(path, 10).kind == kind


def test_zero_bytes_is_unsupported_with_reason():
    c = bronze.classify("a/b.tif", 0)
    assert c.kind == "unsupported" and "zero" in c.reason


def test_sidecar_names_group_by_stem():
    names = [
        "v/roads.shp",
        "v/roads.dbf",
        "v/roads.shx",
        "v/roads.prj",
        "v/roadsX.dbf",
        "w/roads.dbf",
    ]
    assert bronze.sidecar_names("v/roads.shp", names) == [
        "v/roads.dbf",
        "v/roads.prj",
        "v/roads.shx",
    ]


@pytest.mark.parametrize(
    ("rel", "fmt"),
    [
        ("rasters/rgb_uint8/RGB.byte.tif", "GTiff"),
        ("rasters/misc/sample_bigtiff.tif", "GTiff"),
        ("rasters/non_tiff/nemo.jp2", "JP2OpenJPEG"),
        ("rasters/non_tiff/gfs.t06z.pgrb2.10p0.f010.grib2", "GRIB"),
        ("rasters/non_tiff/dem_azimuth50_pa.img", "HFA"),
        ("vectors/gpkg_multilayer/ynp_features.gpkg", "GPKG"),
        ("vectors/shp_zip_with_prj/naturalearth_lowres.zip", "ZIP"),
        ("vectors/misc/open_shelter_Nanao-shi_2024-01-15.fgb", "FlatGeobuf"),
        ("vectors/misc/trio.geojson", "GeoJSON"),
        ("vectors/kml/addresses.kml", "KML"),
        ("vectors/csv_latlon/airports.csv", "CSV"),
        ("vectors/misc/badzip.zip", "unknown"),
    ],
)
def test_sniff_real_files(rel, fmt):
    got = bronze.sniff_format(TESTDATA / rel)
    if fmt == "unknown":
        assert got != "ZIP"  # named .zip, but not a zip archive
    else:
        assert got == fmt


def test_sniff_empty_file(tmp_path: Path):
    p = tmp_path / "empty.tif"
    p.write_bytes(b"")
    with pytest.raises(EmptyFileError, match=r"empty\.tif"):
        bronze.sniff_format(p)


def _b(path: str, etag: str = "e1", size: int = 10) -> BlobInfo:
    return BlobInfo(path=path, size=size, etag=etag)


def test_plan_tick_new_changed_removed_unsupported():
    first = bronze.plan_tick(
        [_b("r/a.tif"), _b("v/b.gpkg"), _b("x/c.docx"), _b("r/a.tif.aux.xml")], {}
    )
    assert [b.path for b in first.new["raster"]] == ["r/a.tif"]
    assert [b.path for b in first.new["vector"]] == ["v/b.gpkg"]
    assert [b.path for b, _ in first.unsupported] == ["x/c.docx"]
    assert first.sidecars == 1
    # Same listing again: nothing to do, unsupported not reported twice.
    again = bronze.plan_tick(
        [_b("r/a.tif"), _b("v/b.gpkg"), _b("x/c.docx"), _b("r/a.tif.aux.xml")], first.state
    )
    assert not again.new["raster"] and not again.changed["raster"] and not again.unsupported
    # Changed etag, removal.
    third = bronze.plan_tick([_b("r/a.tif", "e2")], again.state)
    assert [b.path for b in third.changed["raster"]] == ["r/a.tif"]
    assert third.removed == {"v/b.gpkg": "vector"}


def test_a_file_runs_again_when_its_sidecars_arrive_change_or_go():
    shp = [_b("v/roads.shp"), _b("v/roads.shx"), _b("v/other.gpkg"), _b("w/roads.dbf")]
    first = bronze.plan_tick([*shp, _b("r/a.tif")], {})
    assert sorted(b.path for b in first.new["vector"]) == ["v/other.gpkg", "v/roads.shp"]
    assert not first.changed["vector"]  # new files with their sidecars run once, as new
    # The .dbf arrives a tick later (a multi-file upload is not atomic): the .shp runs again.
    second = bronze.plan_tick([*shp, _b("v/roads.dbf"), _b("r/a.tif")], first.state)
    (rerun,) = second.changed["vector"]
    assert rerun.path == "v/roads.shp" and rerun.etag.startswith("e1+sidecars:")
    assert not second.new["vector"] and not second.changed["raster"]
    # Nothing new: nothing runs. A world file for the raster: the raster runs again.
    same = bronze.plan_tick([*shp, _b("v/roads.dbf"), _b("r/a.tif")], second.state)
    assert not same.changed["vector"] and not same.changed["raster"]
    world = bronze.plan_tick([*shp, _b("v/roads.dbf"), _b("r/a.tif"), _b("r/a.tfw")], same.state)
    assert [b.path for b in world.changed["raster"]] == ["r/a.tif"]
    # A changed .prj and a removed .dbf make new versions, each its own.
    prj = bronze.plan_tick(
        [*shp, _b("v/roads.dbf"), _b("v/roads.prj"), _b("r/a.tif"), _b("r/a.tfw")], world.state
    )
    gone = bronze.plan_tick([*shp, _b("v/roads.prj"), _b("r/a.tif"), _b("r/a.tfw")], prj.state)
    versions = {rerun.etag, prj.changed["vector"][0].etag, gone.changed["vector"][0].etag}
    assert len(versions) == 3
    # A changed main file runs once, whatever its sidecars did.
    both = bronze.plan_tick(
        [_b("v/roads.shp", "e2"), _b("v/roads.shx", "e2"), _b("v/other.gpkg"), _b("r/a.tif")],
        gone.state,
    )
    assert [b.etag for b in both.changed["vector"]] == ["e2"]


def test_plan_tick_defers_beyond_limit():
    listing = [_b(f"r/{i:03d}.tif") for i in range(10)]
    plan = bronze.plan_tick(listing, {}, max_new=4)
    assert len(plan.new["raster"]) == 4 and plan.deferred == 6
    nxt = bronze.plan_tick(listing, plan.state, max_new=4)
    assert len(nxt.new["raster"]) == 4 and not nxt.removed


def test_state_round_trip_is_compact():
    state = {f"rasters/tile_{i:05d}.tif": "r0123456789" for i in range(10_000)}
    enc = bronze_cursor.encode_state(state)
    assert bronze_cursor.decode_state(enc) == state
    assert len(enc) < 200_000


@pytest.mark.parametrize(
    ("member", "noise"),
    [
        ("__MACOSX/._a.tif", True),
        ("data/__MACOSX/x.shp", True),
        ("._a.tif", True),
        (".hidden/a.tif", True),
        ("a.tif", False),
        ("folder/roads.shp", False),
        ("folder.v2/roads.shp", False),
    ],
)
def test_archive_noise(member: str, noise: bool) -> None:
    from geo_platform.lib.bronze import is_archive_noise

    assert is_archive_noise(member) is noise


def test_a_tab_beside_a_picture_is_its_sidecar_a_mapinfo_table_is_not() -> None:
    """A ``.tab`` places a raster of the same name (MapInfo raster registration) unless it has
    the ``.map``/``.dat`` of a MapInfo vector table (that ``.map`` is the table's part, not a
    PCRaster raster)."""
    picture = ["m/sheet.jpg", "m/sheet.tab", "m/sheet.prj"]
    table = ["v/roads.tab", "v/roads.map", "v/roads.dat", "v/roads.id", "v/roads.jpg"]
    assert listed_roles([*picture, *table]) == {"m/sheet.tab": "sidecar", "v/roads.map": "sidecar"}
    assert bronze.sidecar_names("m/sheet.jpg", picture) == ["m/sheet.prj", "m/sheet.tab"]
    assert "v/roads.tab" not in bronze.sidecar_names("v/roads.jpg", table)
    roles = listed_roles(picture)
    assert bronze.classify_listed(_b("m/sheet.tab"), roles).kind == "sidecar"
    assert bronze.classify_listed(_b("v/roads.tab"), listed_roles(table)).kind == "vector"
