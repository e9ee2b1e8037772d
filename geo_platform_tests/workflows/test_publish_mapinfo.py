"""MapInfo TAB and MIF (multi-file formats, like a Shapefile), loose or zipped, and GML/GPX in a
zip: bronze blobs in a real store (each companion file a blob of its own), published through
``publish_vector`` into real PostGIS, written here by GDAL's own drivers."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Polygon

from geo_platform.lib import bronze, content
from geo_platform.lib.errors import UnreadableFileError
from geo_platform.lib.inventory import inventory_file
from geo_platform_tests.fixtures.vector_world import table_facts

pytestmark = pytest.mark.filterwarnings("ignore:.*Integer64")


def _ogr(driver: str, dest: Path, src: Path, *args: str) -> Path:
    cmd = ["ogr2ogr", "-f", driver, str(dest), str(src), *args]
    subprocess.run(cmd, check=True, capture_output=True)
    return dest


@pytest.fixture
def parcels(tmp_path: Path) -> Path:
    """Three polygons in EPSG:3857 with a text and a number column."""
    squares = [Polygon([(x, 0), (x + 1000, 0), (x + 1000, 1000), (x, 1000)]) for x in (0, 2e3, 4e3)]
    frame = gpd.GeoDataFrame(
        {"name": ["été", "b", "c"], "area": [1.5, 2.5, 3.5]}, geometry=squares, crs="EPSG:3857"
    )
    path = tmp_path / "src" / "parcels.gpkg"
    path.parent.mkdir()
    frame.to_file(path)
    return path


def _companions(folder: Path, stem: str) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.stem == stem)


@pytest.mark.parametrize(("driver", "ext"), [("MapInfo File", ".tab"), ("MapInfo File", ".mif")])
def test_loose_mapinfo_with_its_companions_as_blobs(world, parcels, tmp_path, driver, ext):
    out = tmp_path / "mi"
    out.mkdir()
    main = _ogr(driver, out / f"parcels{ext}", parcels)
    files = _companions(out, "parcels")
    assert len(files) >= 2  # .tab + .dat/.map/.id, or .mif + .mid
    blobs = [world.upload(f.name, f) for f in files]
    blob = next(b for b in blobs if b.endswith(ext))
    assert {bronze.classify(b, 1).kind for b in blobs if b != blob} == {"sidecar"}
    assert bronze.classify(blob, 1).kind == "vector"
    assert content.sniff_head(main.read_bytes()[:4096], main.name) in content.VECTOR_CONTENT
    inv = inventory_file(main, blob, "vector")  # the bronze stage's checks take it
    assert inv.driver == "MapInfo File" and [x["name"] for x in inv.layers] == ["parcels"]

    result = world.publish(blob)

    (table,) = result.tables
    assert table.driver == "MapInfo File" and table.rows_loaded == 3
    rows, srids, types, invalid, declared = table_facts(world.dsn, world.schema, table.table)
    assert (rows, srids, types, invalid, declared) == (
        3,
        [4326],
        ["MULTIPOLYGON"],
        0,
        "MULTIPOLYGON",
    )
    with world.connect() as conn:
        names = conn.execute(
            f'SELECT name FROM "{world.schema}"."{table.table}" ORDER BY fid'
        ).fetchall()
    assert [n for (n,) in names] == ["été", "b", "c"]  # MapInfo's charset decoded to UTF-8
    assert len(result.items) == 1


def test_zipped_tab_and_gml(world, parcels, tmp_path):
    out = tmp_path / "mi"
    out.mkdir()
    _ogr("MapInfo File", out / "parcels.tab", parcels)
    _ogr("GML", out / "roads.gml", parcels, "-nln", "roads")
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(out.iterdir()):
            zf.write(f, f"export/{f.name}")

    result = world.publish(world.upload("bundle.zip", archive))

    by_layer = {t.layer: t for t in result.tables}
    assert set(by_layer) == {"parcels", "roads"}
    assert by_layer["parcels"].driver == "MapInfo File" and by_layer["roads"].driver == "GML"
    for t in by_layer.values():
        assert table_facts(world.dsn, world.schema, t.table)[:3] == (3, [4326], ["MULTIPOLYGON"])


def test_a_tab_without_its_attribute_file_is_refused_by_name(world, parcels, tmp_path):
    out = tmp_path / "mi"
    out.mkdir()
    _ogr("MapInfo File", out / "parcels.tab", parcels)
    archive = tmp_path / "partial.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in _companions(out, "parcels"):
            if f.suffix != ".dat":
                zf.write(f, f.name)
    with pytest.raises(UnreadableFileError, match=r"'parcels.tab' in the zip lacks its \.dat"):
        world.publish(world.upload("partial.zip", archive))
    loose = world.upload("parcels.tab", out / "parcels.tab")  # without any companion blob
    with pytest.raises(UnreadableFileError, match=r"MapInfo TAB lacks its \.dat sidecar"):
        world.publish(loose)


def test_a_workspace_zip_publishes_its_tables_not_its_raster_registrations(
    world, parcels, tmp_path
):
    """A MapInfo workspace zipped with its vector tables and a scanned background placed by its
    own ``.tab``: that ``.tab`` is the picture's registration, not a table (it failed the zip:
    "'basemap.tab' in the zip lacks its .dat companion file(s)")."""
    out = tmp_path / "mi"
    out.mkdir()
    _ogr("MapInfo File", out / "parcels.tab", parcels)
    (out / "basemap.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    (out / "basemap.tab").write_text('!table\nDefinition Table\n  File "basemap.jpg"\n'
                                     '  Type "RASTER"\n')  # fmt: skip
    archive = tmp_path / "workspace.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(out.iterdir()):
            zf.write(f, f"workspace/{f.name}")
    result = world.publish(world.upload("workspace.zip", archive))
    assert [t.layer for t in result.tables] == ["parcels"]
    assert table_facts(world.dsn, world.schema, result.tables[0].table)[:1] == (3,)
