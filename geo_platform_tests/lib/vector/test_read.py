"""Opening bronze vector files: formats, layers, and every kind of bad input."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from geo_platform.lib.errors import (
    DecodingError,
    EmptyDatasetError,
    EmptyFileError,
    FormatMismatchError,
    NoGeometryError,
    TooLargeError,
    UnknownLayerError,
    UnreadableFileError,
    UnsafeArchiveError,
    UnsupportedFormatError,
)
from geo_platform.lib.vector.batches import iter_batches
from geo_platform.lib.vector.options import VectorOptions
from geo_platform.lib.vector.read import list_layers, open_source
from geo_platform_tests.lib.vector.conftest import two_points, zip_dir


@pytest.mark.parametrize(
    ("rel", "driver", "layers"),
    [
        ("csv_latlon/airports.csv", "CSV", {"airports": 3376}),
        ("csv_wkt/curves_line.csv", "CSV", {"curves_line": 9}),
        ("geojson_invalid/switzerlandKinked.geojson", "GeoJSON", {"switzerlandKinked": 1}),
        (
            "gpkg_multilayer/ynp_features.gpkg",
            "GPKG",
            {"ynp_bnd": 1, "roads": 2021, "points_of_interest": 1399},
        ),
        ("kml/styles.kml", "LIBKML", {"Project 2": 2, "Untitled Folder": 0}),
        ("kmz/addresses.kmz", "LIBKML", {" Location history from 2015-08-01 to 2015-08-08 ": 15}),
        (
            "misc/open_shelter_Nanao-shi_2024-01-15.fgb",
            "FlatGeobuf",
            {"open_shelter_Nanao-shi": 28},
        ),
        ("non_ascii/utf.zip", "ESRI Shapefile", {"utf": 2}),
        ("shp_zip_no_prj/counties.zip", "ESRI Shapefile", {"counties": 14}),
        (
            "shp_zip_with_prj/naturalearth_lowres.zip",
            "ESRI Shapefile",
            {"naturalearth_lowres": 177},
        ),
    ],
)
def test_testdata_layers(vectors: Path, rel: str, driver: str, layers: dict[str, int]):
    found = list_layers(vectors / rel, "vectors/" + rel)
    assert {s.name: s.feature_count for s in found} == layers
    assert {s.driver for s in found} == {driver}
    assert all(s.multi_layer == (len(layers) > 1) for s in found)


def test_chosen_layer_and_unknown_layer(vectors: Path):
    path = vectors / "gpkg_multilayer/ynp_features.gpkg"
    (roads,) = open_source(path, "ynp.gpkg", VectorOptions(layer="roads"))
    assert roads.name == "roads" and not roads.multi_layer
    with pytest.raises(UnknownLayerError, match=r"'nope' not found.*'roads'") as err:
        open_source(path, "ynp.gpkg", VectorOptions(layer="nope"))
    assert err.value.path == "ynp.gpkg"


def test_badzip_is_a_format_mismatch(vectors: Path):
    with pytest.raises(FormatMismatchError, match=r"named \.zip but its content is a dBase"):
        open_source(vectors / "misc/badzip.zip", "misc/badzip.zip")


def test_empty_kml_has_no_layers(vectors: Path):
    with pytest.raises(EmptyDatasetError):
        open_source(vectors / "empty_layer/empty.kml", "empty.kml")


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("x.geojson", b"PK\x03\x04zipzipzip" + b"\0" * 40, FormatMismatchError),
        # content decides, the extension is a hint: JSON that is not GeoJSON is no GeoPackage
        ("x.gpkg", b'{"not": "a GeoPackage"}', FormatMismatchError),
        ("x.geojson", b"<!DOCTYPE html><html><body>Not found</body></html>", FormatMismatchError),
        ("x.kml", b'{"not": "xml"}', FormatMismatchError),
        ("x.fgb", b"hello", FormatMismatchError),
        ("x.shp", b"\x00\x01\x02\x03" * 30, FormatMismatchError),
        ("x.geojson", b"", EmptyFileError),
        ("x.docx", b"whatever", UnsupportedFormatError),
        ("x.geojson", b'{"type": "FeatureCollection", "features": [', UnreadableFileError),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, name: str, content: bytes, error: type):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error) as err:
        open_source(path, f"bronze/{name}")
    assert f"bronze/{name}" in str(err.value)


def test_undecodable_geojson(tmp_path: Path):
    path = tmp_path / "latin1.geojson"
    text = '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"n":"Müller"},'
    text += '"geometry":{"type":"Point","coordinates":[1,2]}}]}'
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(DecodingError, match=rf"not valid UTF-8.*offset {text.index('ü')}"):
        open_source(path, "latin1.geojson")


# --- zip archives ----------------------------------------------------------------------------
def test_zip_slip_is_refused(tmp_path: Path):
    path = tmp_path / "slip.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok.geojson", "{}")
        zf.writestr("../../etc/evil.shp", "x")
    with pytest.raises(UnsafeArchiveError, match=r"path traversal"):
        open_source(path, "slip.zip")


def test_absolute_member_is_refused(tmp_path: Path):
    path = tmp_path / "abs.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("/tmp/evil.shp", "x")
    with pytest.raises(UnsafeArchiveError):
        open_source(path, "abs.zip")


def test_zip_bomb_ratio_and_size(tmp_path: Path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.geojson", b"\0" * (50 * 1024 * 1024))  # ~50 KB compressed, ratio ~1000
    with pytest.raises(TooLargeError, match=r"zip bomb"):
        open_source(path, "bomb.zip")
    with pytest.raises(TooLargeError, match=r"expands to"):
        open_source(path, "bomb.zip", VectorOptions(max_archive_ratio=1e9, max_archive_bytes=1024))


def test_zip_without_vector_data(tmp_path: Path):
    path = tmp_path / "docs.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
        zf.writestr("__MACOSX/._x.shp", "resource fork")
    with pytest.raises(NoGeometryError, match=r"no Shapefile.*readme.txt"):
        open_source(path, "docs.zip")


def test_zip_shapefile_without_shx_or_dbf(tmp_path: Path):
    """A missing .shx index is rebuilt (``shx``); a missing .dbf is refused."""
    two_points().to_file(tmp_path / "p.shp")
    path = tmp_path / "noshx.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for ext in (".shp", ".dbf", ".prj"):
            zf.write(tmp_path / f"p{ext}", f"p{ext}")
    (src,) = open_source(path, "noshx.zip")
    assert src.feature_count == 2 and src.crs == "EPSG:4326"
    with zipfile.ZipFile(path, "w") as zf:
        for ext in (".shp", ".shx", ".prj"):
            zf.write(tmp_path / f"p{ext}", f"p{ext}")
    with pytest.raises(UnreadableFileError, match=r"lacks its \.dbf"):
        open_source(path, "noshx.zip")


def test_zip_with_nested_shapefiles(tmp_path: Path):
    folder = tmp_path / "src"
    folder.mkdir()
    two_points().to_file(folder / "one.shp")
    two_points().to_file(folder / "two.shp")
    path = zip_dir(folder, tmp_path / "two.zip", prefix="deep/er/")
    layers = open_source(path, "two.zip")
    assert sorted(s.name for s in layers) == ["one", "two"]
    assert all(s.multi_layer and s.feature_count == 2 for s in layers)


def test_zipped_filegdb(tmp_path: Path):
    two_points().to_file(tmp_path / "data.gdb", layer="pts", driver="OpenFileGDB")
    two_points().to_file(tmp_path / "data.gdb", layer="more", driver="OpenFileGDB", mode="a")
    path = zip_dir(tmp_path / "data.gdb", tmp_path / "gdb.zip", prefix="nested/data.gdb/")
    layers = open_source(path, "gdb.zip")
    assert sorted(s.name for s in layers) == ["more", "pts"]
    assert {s.driver for s in layers} == {"OpenFileGDB"}


def test_loose_shapefile(tmp_path: Path):
    two_points().to_file(tmp_path / "loose.shp")
    (src,) = open_source(tmp_path / "loose.shp", "bronze/loose.shp")
    assert src.name == "loose" and src.crs == "EPSG:4326" and src.feature_count == 2
    (tmp_path / "loose.shx").unlink()  # rebuilt in a private folder (``shx``)
    (src,) = open_source(tmp_path / "loose.shp", "bronze/loose.shp")
    assert src.feature_count == 2 and not (tmp_path / "loose.shx").exists()
    (tmp_path / "loose.dbf").unlink()
    with pytest.raises(UnreadableFileError, match=r"\.dbf"):
        open_source(tmp_path / "loose.shp", "bronze/loose.shp")


def test_geoparquet_source(tmp_path: Path):
    two_points("EPSG:3857").to_parquet(tmp_path / "x.parquet")
    (src,) = open_source(tmp_path / "x.parquet", "x.parquet")
    assert (src.driver, src.crs, src.geometry_type, src.fields) == (
        "GeoParquet",
        "EPSG:3857",
        "Point",
        ("name",),
    )
    batch = next(iter_batches(src))
    assert batch.num_rows == 2 and src.geometry_column in batch.schema.names


def test_plain_parquet_is_unsupported(tmp_path: Path):
    two_points().drop(columns="geometry").to_parquet(tmp_path / "plain.parquet")
    with pytest.raises(UnsupportedFormatError, match=r"without GeoParquet"):
        open_source(tmp_path / "plain.parquet", "plain.parquet")


# --- CSV -------------------------------------------------------------------------------------
def _csv(tmp_path: Path, text: str, name: str = "t.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("header", "lat", "lon"),
    [
        ("name,latitude,longitude", "latitude", "longitude"),
        ("name,Lat,Lng", "Lat", "Lng"),
        ("name,Breite,Länge", "Breite", "Länge"),
        ("name,latitud,longitud", "latitud", "longitud"),
        ("name,LAT_DD,LON_DD", "LAT_DD", "LON_DD"),
        ("name,y,x", "y", "x"),
    ],
)
def test_csv_coordinate_columns_detected(tmp_path: Path, header: str, lat: str, lon: str):
    (src,) = open_source(_csv(tmp_path, f"{header}\na,48.1,11.5\nb,48.2,11.6\n"), "t.csv")
    assert src.open_options["Y_POSSIBLE_NAMES"] == lat
    assert src.open_options["X_POSSIBLE_NAMES"] == lon
    assert src.crs == "EPSG:4326" and src.lonlat_range_check


def test_csv_wkt_column_and_configured_columns(tmp_path: Path):
    path = _csv(tmp_path, 'id,geometry,lat,lon\n1,"POINT (1 2)",5,6\n')
    (src,) = open_source(path, "t.csv")
    # the same CRS rule as lat/lon columns: lon/lat-range coordinates -> EPSG:4326, assumed
    assert src.open_options["GEOM_POSSIBLE_NAMES"] == "geometry"
    assert src.crs == "EPSG:4326" and src.crs_assumed and src.lonlat_range_check
    (src,) = open_source(path, "t.csv", VectorOptions(lat_column="lat", lon_column="lon"))
    assert src.open_options["Y_POSSIBLE_NAMES"] == "lat"


def test_csv_wkt_column_with_a_few_bad_values(tmp_path: Path):
    # 1 of 5 values is not WKT: still the geometry column; GDAL gives that row no geometry
    rows = "".join(f'{i},"POINT ({i} {i})"\n' for i in range(4))
    path = _csv(tmp_path, f"id,WKT\n{rows}4,garbage\n5,\n")
    (src,) = open_source(path, "t.csv")
    assert src.open_options["GEOM_POSSIBLE_NAMES"] == "WKT"
    geoms = next(iter_batches(src)).column(src.geometry_column).to_pylist()
    assert [g is None for g in geoms] == [False] * 4 + [True, True]
    # 2 of 4: not taken for WKT, and the error says why
    path = _csv(tmp_path, 'id,WKT\n1,"POINT (1 1)"\n2,"POINT (2 2)"\n3,n/a\n4,garbage\n')
    with pytest.raises(NoGeometryError, match=r"'WKT' is named like a WKT column but 2 of 4 "
                       r"sampled values are neither WKT nor hex WKB \(e.g. 'n/a'\)"):  # fmt: skip
        open_source(path, "t.csv")


def test_csv_without_coordinates(tmp_path: Path):
    with pytest.raises(NoGeometryError, match=r"no coordinate columns.*'name'"):
        open_source(_csv(tmp_path, "name,value\na,1\n"), "t.csv")
    with pytest.raises(
        NoGeometryError, match=r"neither numbers nor degrees-minutes-seconds \(e.g. .yes.\)"
    ):
        open_source(_csv(tmp_path, "name,lat,long\na,yes,no\n"), "t.csv")
    with pytest.raises(NoGeometryError, match=r"'nope' not found"):
        open_source(_csv(tmp_path, "a,b\n1,2\n"), "t.csv", VectorOptions(wkt_column="nope"))


def test_csv_encoding(tmp_path: Path):
    path = _csv(tmp_path, "name,lat,lon\nMünchen,48.1,11.5\n", encoding="cp1252")
    with pytest.raises(DecodingError, match=r"not valid UTF-8") as err:
        open_source(path, "t.csv")
    assert r"in b'M\xfcnchen,48.1,11.5', which reads 'München,48.1,11.5' in cp1252" in str(
        err.value
    )  # the line with the bad byte, and how the usual Windows encoding reads it
    (src,) = open_source(path, "t.csv", VectorOptions(encoding="cp1252"))
    batch = next(iter_batches(src))
    assert batch.column("name").to_pylist() == ["München"]


def test_hostile_local_file_names(tmp_path: Path):
    """pyogrio parses ; # ? ! in paths as URI/archive syntax: such files are still read."""
    two_points().to_file(tmp_path / "plain.shp")
    for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
        (tmp_path / f"plain{ext}").rename(tmp_path / f"a;b#c?d!e{ext}")
    (src,) = open_source(tmp_path / "a;b#c?d!e.shp", "bronze/a;b#c?d!e.shp")
    assert src.name == "a;b#c?d!e" and src.crs == "EPSG:4326"
    assert sum(b.num_rows for b in iter_batches(src)) == 2
    csv = tmp_path / "x'; DROP TABLE t; --#.csv"
    csv.write_text("name,lat,lon\na,1,2\n")
    (src,) = open_source(csv, "bronze/x.csv")
    assert sum(b.num_rows for b in iter_batches(src)) == 1


def test_geojson_sequence(tmp_path: Path):
    path = tmp_path / "seq.geojsonl"
    lines = [
        '{"type":"Feature","properties":{"n":1},"geometry":{"type":"Point","coordinates":[1,2]}}',
        '{"type":"Feature","properties":{"n":2},"geometry":{"type":"Point","coordinates":[3,4]}}',
    ]
    path.write_text("\n".join(lines) + "\n")
    (src,) = open_source(path, "seq.geojsonl")
    assert src.driver == "GeoJSONSeq" and src.crs == "EPSG:4326"
    assert sum(b.num_rows for b in iter_batches(src)) == 2
