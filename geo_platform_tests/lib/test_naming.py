import pytest

from geo_platform.lib import naming
from geo_platform.lib.errors import UnsafePathError

HOSTILE = [
    "rasters/dem/aster 2020.tif",
    "x/Robert'); DROP TABLE students;--.geojson",
    'quote"d/na"me.gpkg',
    "ünïcödé/Hněvošický háj.shp",
    "emoji/🌍 world.geojson",
    "a/" + "long_name_" * 40 + ".tif",
    "dots/what...now.tif",
    "ctrl/tab\there.tif",
    "pct/100%,done.csv",
    "select/select.csv",
    "9lives/123.gpkg",
]


@pytest.mark.parametrize("path", HOSTILE)
def test_partition_keys_round_trip_and_are_dagster_safe(path):
    key = naming.partition_key_for_blob(path)
    assert "..." not in key
    assert not any(ord(c) < 32 for c in key)
    assert "," not in key
    assert naming.blob_for_partition_key(key) == path


def test_ordinary_partition_keys_stay_readable():
    assert (
        naming.partition_key_for_blob("rasters/dem/aster_2020.tif") == "rasters/dem/aster_2020.tif"
    )


@pytest.mark.parametrize("path", HOSTILE)
def test_table_names_are_safe_identifiers(path):
    name = naming.table_name(path)
    assert len(name.encode()) <= 63
    assert name == name.lower()
    assert all(c.isascii() and (c.isalnum() or c == "_") for c in name)
    assert not name[0].isdigit()


def test_table_names_do_not_collide_for_different_sources():
    names = {naming.table_name(p) for p in ["a/x y.gpkg", "a/x_y.gpkg", "a/X-Y.gpkg", "b/x_y.gpkg"]}
    assert len(names) == 4
    assert naming.table_name("a/" + "n" * 100 + "1.gpkg") != naming.table_name(
        "a/" + "n" * 100 + "2.gpkg"
    )


def test_reserved_words_are_avoided():
    assert naming.pg_identifier("select") == "select_"
    assert naming.pg_identifier("Table") == "table_"
    assert naming.pg_identifier("a b") == "a_b_" + naming.short_hash("a b")
    assert naming.pg_identifier("table") == "table_"


def test_unique_identifiers_are_unique_and_lowercase():
    cols = naming.unique_pg_identifiers(
        ["Name", "name", "NAME", "", "a b", "a_b", "Größe", "x" * 80]
    )
    assert len(set(cols)) == len(cols)
    assert all(c == c.lower() and len(c.encode()) <= 63 for c in cols)


def test_item_and_collection_ids():
    assert naming.collection_id("rasters/dem/aster_2020.tif") == "rasters-dem"
    assert naming.collection_id("top.tif") == "root"
    a = naming.item_id("d/a b.tif")
    b = naming.item_id("d/a-b.tif")
    assert a != b and " " not in a


@pytest.mark.parametrize(
    "bad", ["../etc/passwd", "/abs/path.tif", "a/../../b.tif", "", "C:/x.tif", "a\x00b"]
)
def test_normalize_blob_path_refuses_escapes(bad):
    with pytest.raises(UnsafePathError):
        naming.normalize_blob_path(bad)


def test_normalize_blob_path_cleans():
    assert naming.normalize_blob_path("a//b/./c.tif") == "a/b/c.tif"
    assert naming.normalize_blob_path("a\\b.tif") == "a/b.tif"


@pytest.mark.parametrize(
    ("blob", "table", "item"),
    [
        ("Straße.geojson", "strasse", "strasse.geojson"),
        ("Łódź roads.gpkg", "lodz_roads", "lodz-roads.gpkg"),
        ("Ørsted_Æble.shp.zip", "orsted_aeble", "orsted_aeble.shp.zip"),
        ("data/Москва.geojson", "data_moskva", "moskva.geojson"),
        ("карта_высот.tif", "karta_vysot", "karta_vysot.tif"),
        ("Αθήνα.kml", "athina", "athina.kml"),
        ("東京.geojson", "dongjing", "dongjing.geojson"),
        ("🚀 launch.csv", "launch", "launch.csv"),
    ],
)
def test_names_in_any_script_stay_readable(blob: str, table: str, item: str) -> None:
    """Letters of any script are transliterated (a name was all hash before: 'Москва' gave
    't_74b47fcc'); the hash of the original still keeps two sources apart."""
    assert naming.table_name(blob) == f"{table}_{naming.short_hash(blob)}"
    assert naming.item_id(blob) == f"{item}-{naming.short_hash(blob.rsplit('/', 1)[-1])}"
