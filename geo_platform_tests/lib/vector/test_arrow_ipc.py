"""Arrow IPC files and streams (``.arrow``, ``.feather``, ``.arrows``, ``.ipc``) publish like
GeoParquet (``lib/vector/arrow_ipc.py``): as geopandas' ``to_feather`` writes them (WKB and
"geo" metadata), as pyarrow writes files and streams, and as GDAL's Arrow driver writes them
(a GeoArrow extension type, native or WKB, its CRS in the extension metadata)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyogrio
import pyproj
import pytest
import shapely
from psycopg import sql

from geo_platform.lib.bronze import classify, classify_content, plan_tick
from geo_platform.lib.content import HEAD_BYTES, is_arrow_stream
from geo_platform.lib.errors import FormatMismatchError, UnreadableFileError
from geo_platform.lib.inventory import inventory_file
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.types import BlobInfo
from geo_platform.lib.vector.read import open_source
from geo_platform.lib.vector.sniff import check_file
from geo_platform_tests.fixtures.vector_world import World, table_facts
from geo_platform_tests.lib.vector.conftest import publish_file
from geo_platform_tests.lib.vector.test_publish import _db_check

NAMES = ["Bern", "Zürich", "Genève"]
LONLAT = [(7.4474, 46.948), (8.5417, 47.3769), (6.1432, 46.2044)]
LV95 = [(2_600_000.0, 1_199_700.0), (2_683_000.0, 1_248_000.0), (2_500_000.0, 1_118_000.0)]


def _squares(points: list[tuple[float, float]], size: float) -> list[Any]:
    return [shapely.box(x, y, x + size, y + size) for x, y in points]


def _geo(crs: str, types: list[str]) -> bytes:
    column = {"encoding": "WKB", "geometry_types": types, "crs": pyproj.CRS(crs).to_json_dict()}
    geo = {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": column}}
    return json.dumps(geo).encode()


def _wkb_table(geoms: list[Any], crs: str, types: list[str]) -> pa.Table:
    wkb = pa.array(shapely.to_wkb(geoms).tolist(), pa.binary())
    table = pa.table({"name": NAMES, "rank": [1, 2, 3], "geometry": wkb})
    return table.replace_schema_metadata({b"geo": _geo(crs, types)})


def _ipc_file(path: Path, table: pa.Table) -> Path:
    with ipc.new_file(path, table.schema) as writer:
        writer.write_table(table)
    return path


def _ipc_stream(path: Path, table: pa.Table) -> Path:
    with ipc.new_stream(path, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=2):  # two batches
            writer.write_batch(batch)
    return path


def _gdal_style(path: Path, crs: str | None) -> Path:
    """Points as GDAL's Arrow driver writes them: native ``geoarrow.point`` (x/y structs), the
    CRS in the extension metadata, no "geo" schema metadata."""
    xs, ys = zip(*LONLAT, strict=True)
    points = pa.StructArray.from_arrays([pa.array(xs), pa.array(ys)], names=["x", "y"])
    meta = {b"ARROW:extension:name": b"geoarrow.point"}
    if crs is not None:
        crs_meta = {"crs": pyproj.CRS(crs).to_json_dict(), "crs_type": "projjson"}
        meta[b"ARROW:extension:metadata"] = json.dumps(crs_meta).encode()
    schema = pa.schema([pa.field("name", pa.string()), pa.field("geom", points.type, True, meta)])
    return _ipc_file(path, pa.table([pa.array(NAMES), points], schema=schema))


def _rows(conn: Any, schema: str, table: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        sql.SQL("SELECT name, ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) FROM {}.{} "
                "ORDER BY fid").format(sql.Identifier(schema), sql.Identifier(table))
    ).fetchall()  # fmt: skip


@pytest.mark.parametrize("name", ["a.arrow", "a.feather", "a.arrows", "a.ipc", "a.arrow.gz"])
def test_arrow_files_are_vectors_by_name(name: str) -> None:
    assert classify(f"vectors/{name}").kind == "vector"


def test_arrow_files_and_streams_are_vectors_by_content(tmp_path: Path) -> None:
    table = _wkb_table(_squares(LONLAT, 0.01), "EPSG:4326", ["Polygon"])
    for path in (_ipc_file(tmp_path / "f.bin", table), _ipc_stream(tmp_path / "s.bin", table)):
        head = path.read_bytes()[:HEAD_BYTES]
        blob = BlobInfo(path=f"drop/{path.stem}", size=path.stat().st_size, etag="e1")
        assert classify(blob.path).needs_content
        assert classify_content(blob, head).kind == "vector"
        assert check_file(path, f"drop/{path.name}") == "arrow"
    assert is_arrow_stream((tmp_path / "s.bin").read_bytes())
    assert not is_arrow_stream(b"\xff\xff\xff\xff" + bytes(60))  # the marker alone is not one
    fake = tmp_path / "fake.arrow"
    fake.write_text('{"type": "FeatureCollection", "features": []}')
    assert check_file(fake, "v/fake.arrow") == "geojson"  # content wins, as for any vector
    fake.write_bytes(b"\x01\x02\x03" * 100)
    with pytest.raises(FormatMismatchError, match=r"named \.arrow but its content"):
        check_file(fake, "v/fake.arrow")


def test_the_sensor_makes_dropped_arrow_files_vector_partitions(tmp_path: Path) -> None:
    table = _wkb_table(_squares(LONLAT, 0.01), "EPSG:4326", ["Polygon"])
    files = {"drop/a.arrow": _ipc_file(tmp_path / "a.arrow", table),
             "drop/b.feather": _ipc_file(tmp_path / "b.feather", table),
             "drop/c.arrows": _ipc_stream(tmp_path / "c.arrows", table),
             "drop/d": _ipc_stream(tmp_path / "d", table)}  # fmt: skip
    listing = [BlobInfo(path=k, size=p.stat().st_size, etag="e1") for k, p in files.items()]
    plan = plan_tick(listing, {}, read_head=lambda b: files[b.path].read_bytes()[:HEAD_BYTES])
    assert sorted(b.path for b in plan.new["vector"]) == sorted(files)
    assert not plan.unsupported and not plan.new["raster"]


def test_feather_from_geopandas_publishes_polygons(pg_conn, pg_schema, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"name": NAMES, "rank": [1, 2, 3]},
                             geometry=_squares(LONLAT, 0.01), crs="EPSG:4326")  # fmt: skip
    path = tmp_path / "cities.feather"
    frame.to_feather(path)
    assert path.read_bytes().startswith(b"ARROW1")
    (src,) = open_source(path, "v/cities.feather")
    assert (src.name, src.crs, src.crs_assumed, src.feature_count) == ("cities", "EPSG:4326",
                                                                       False, 3)  # fmt: skip
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, t)
    assert (t.rows_loaded, t.geometry_type, t.srid, t.source_crs) == (
        3, "MultiPolygon", 4326, "EPSG:4326")  # fmt: skip
    rows = _rows(pg_conn, pg_schema, t.table)
    assert rows[1] == ("Zürich", pytest.approx(8.5467), pytest.approx(47.3819))


def test_a_projected_ipc_file_is_reprojected(pg_conn, pg_schema, tmp_path: Path) -> None:
    table = _wkb_table(shapely.points(LV95).tolist(), "EPSG:2056", ["Point"])
    path = _ipc_file(tmp_path / "lv95.arrow", table)
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, t)
    assert (t.rows_loaded, t.geometry_type, t.srid, t.source_crs) == (
        3, "MultiPoint", 4326, "EPSG:2056")  # fmt: skip
    name, lon, lat = _rows(pg_conn, pg_schema, t.table)[0]
    assert (name, lon, lat) == ("Bern", pytest.approx(7.43863, abs=1e-5),
                                pytest.approx(46.94838, abs=1e-5))  # fmt: skip


def test_an_ipc_stream_of_several_batches_publishes_lines(pg_conn, pg_schema, tmp_path: Path):
    lines = [shapely.LineString([p, (p[0] + 0.1, p[1] + 0.1)]) for p in LONLAT]
    path = _ipc_stream(tmp_path / "routes.arrows", _wkb_table(lines, "EPSG:4326", ["LineString"]))
    assert path.read_bytes().startswith(b"\xff\xff\xff\xff")
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, t)
    assert (t.rows_loaded, t.geometry_type, t.srid) == (3, "MultiLineString", 4326)
    count = pg_conn.execute(
        sql.SQL("SELECT count(*) FROM {}.{} WHERE rank = 3 AND name = 'Genève'").format(
            sql.Identifier(pg_schema), sql.Identifier(t.table))
    ).fetchone()  # fmt: skip
    assert count == (1,)


def test_gdal_style_geoarrow_points_take_the_extension_crs(pg_conn, pg_schema, tmp_path: Path):
    path = _gdal_style(tmp_path / "gdal.ipc", "EPSG:4326")
    (src,) = open_source(path, "v/gdal.ipc")
    assert (src.geometry_column, src.crs, src.crs_assumed, src.fields) == (
        "geom", "EPSG:4326", False, ("name",))  # fmt: skip
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, t)
    assert (t.rows_loaded, t.geometry_type, t.srid) == (3, "MultiPoint", 4326)
    assert _rows(pg_conn, pg_schema, t.table)[2] == ("Genève", pytest.approx(6.1432),
                                                     pytest.approx(46.2044))  # fmt: skip


def test_geoarrow_without_a_crs_is_lonlat_assumed(tmp_path: Path) -> None:
    (src,) = open_source(_gdal_style(tmp_path / "nocrs.arrow", None), "v/nocrs.arrow")
    assert (src.crs, src.crs_assumed, src.lonlat_range_check) == ("EPSG:4326", True, True)


def test_natural_earth_as_arrow_publishes_every_country(
    pg_conn, pg_schema, tmp_path: Path, vectors: Path
) -> None:
    shp = "/vsizip/" + str(vectors / "shp_zip_with_prj/naturalearth_lowres.zip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = pyogrio.read_dataframe(shp + "/naturalearth_lowres.shp")
    path = tmp_path / "ne.arrow"
    frame.to_feather(path)
    (t,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    _db_check(pg_conn, t)
    assert (t.rows_loaded, t.geometry_type, t.srid) == (len(frame), "MultiPolygon", 4326)
    found = pg_conn.execute(
        sql.SQL("SELECT continent FROM {}.{} WHERE iso_a3 = 'CHE'").format(
            sql.Identifier(pg_schema), sql.Identifier(t.table))
    ).fetchone()  # fmt: skip
    assert found == ("Europe",)


def test_the_bronze_inventory_reads_an_arrow_stream(tmp_path: Path) -> None:
    table = _wkb_table(_squares(LONLAT, 0.01), "EPSG:4326", ["Polygon"])
    path = _ipc_stream(tmp_path / "cities.arrows", table)
    inv = inventory_file(path, "in/cities.arrows", "vector")
    assert (inv.format, inv.features, inv.crs) == ("Arrow", 3, "EPSG:4326")
    assert [layer["name"] for layer in inv.layers] == ["cities"]


def test_a_truncated_ipc_file_is_unreadable(tmp_path: Path) -> None:
    table = _wkb_table(_squares(LONLAT, 0.01), "EPSG:4326", ["Polygon"])
    data = _ipc_file(tmp_path / "full.arrow", table).read_bytes()
    cut = tmp_path / "cut.arrow"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableFileError, match=r"cannot read Arrow IPC") as err:
        open_source(cut, "in/cut.arrow")
    assert str(tmp_path) not in str(err.value)


def test_published_through_the_vector_workflow_with_a_valid_item(tmp_path, pg_dsn, pg_schema):
    world = World(tmp_path, pg_dsn, pg_schema)
    try:
        frame = gpd.GeoDataFrame({"name": NAMES}, geometry=shapely.points(np.array(LONLAT)),
                                 crs="EPSG:4326")  # fmt: skip
        frame.to_feather(tmp_path / "cities.feather")
        result = world.publish(world.upload("cities.feather", tmp_path / "cities.feather"))
        (table,) = result.tables
        facts = table_facts(world.dsn, world.schema, table.table)
        assert facts[:3] == (3, [4326], ["MULTIPOINT"])
        (item,) = result.items
        validate_stac(item)
    finally:
        world.drop_collections()
