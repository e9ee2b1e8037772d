"""STAC items of published vector tables validate offline and carry provenance."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from geo_platform.lib.errors import ValidationError
from geo_platform.lib.stac.validate import validate_stac
from geo_platform.lib.stac.vector_item import build_vector_item
from geo_platform.lib.types import Provenance
from geo_platform.lib.vector.records import ColumnInfo, LoadedTable

PROV = Provenance("vectors/x.gpkg", '"0x8DC"', run_id="run-1", code_version="0.1.0")


def _table(**kw) -> LoadedTable:
    base = dict(
        schema="geo",
        table="vectors_x",
        layer="roads",
        kind="lines",
        rows_read=12,
        rows_loaded=10,
        dropped_null=1,
        dropped_empty=0,
        repaired=3,
        invalid_dropped=1,
        geometry_type="MultiLineString",
        srid=4326,
        bbox=(10.0, 45.0, 11.0, 46.0),
        source_crs="EPSG:32632",
        crs_assumed=False,
        columns=(
            ColumnInfo("fid", "bigint", None),
            ColumnInfo("name_2", "text", "Name"),
            ColumnInfo("geom", "geometry(MultiLineString,4326)", "geom"),
        ),
        geoparquet_path=Path("/tmp/x.parquet"),
        footprint={
            "type": "Polygon",
            "coordinates": [[[10, 45], [11, 45], [11, 46], [10, 46], [10, 45]]],
        },
        driver="GPKG",
    )
    base.update(kw)
    return LoadedTable(**base)  # type: ignore[arg-type]


def _item(table: LoadedTable, **kw):
    return build_vector_item(
        table,
        item_id="x-gpkg",
        collection_id="vectors",
        table_href="postgresql://127.0.0.1:55432/geo_platform?table=geo.vectors_x",
        parquet_href="https://blob/silver/vectors/x/vectors_x.parquet",
        provenance=PROV,
        datetime_fallback=datetime(2024, 5, 1, tzinfo=UTC),
        **kw,
    )


def test_item_validates_and_describes_the_table():
    d = _item(_table(), parquet_size=1234).to_dict()
    assert validate_stac(d)
    props = d["properties"]
    assert props["table:row_count"] == 10 and props["table:primary_geometry"] == "geom"
    assert props["table:columns"][1] == {
        "name": "name_2",
        "type": "text",
        "description": "source column 'Name'",
    }
    assert props["proj:code"] == "EPSG:4326" and props["geo_platform:srid"] == 4326
    assert props["geo_platform:geometry_type"] == "MultiLineString"
    assert props["geo_platform:source_blob"] == "vectors/x.gpkg"
    assert props["geo_platform:source_etag"] == '"0x8DC"'
    assert props["geo_platform:run_id"] == "run-1" and props["geo_platform:code_version"] == "0.1.0"
    assert "EPSG:32632" in props["processing:lineage"]
    assert props["geo_platform:crs_assumed"] is False
    assert props["datetime"] == "2024-05-01T00:00:00Z"
    assert d["assets"]["postgis"]["type"] == "application/vnd.postgresql"
    assert d["assets"]["geoparquet"]["type"] == "application/vnd.apache.parquet"
    assert d["assets"]["geoparquet"]["file:size"] == 1234
    assert {a["roles"][0] for a in d["assets"].values()} == {"data"}
    assert d["bbox"] == [10.0, 45.0, 11.0, 46.0]


def test_item_across_the_antimeridian_and_empty_table():
    fp = {"type": "MultiPolygon", "coordinates": [
        [[[178, -18], [180, -18], [180, -15], [178, -15], [178, -18]]],
        [[[-180, -18], [-178.5, -18], [-178.5, -15], [-180, -15], [-180, -18]]],
    ]}  # fmt: skip
    d = _item(_table(bbox=(178.0, -18.0, -178.5, -15.0), footprint=fp)).to_dict()
    assert d["bbox"][0] > d["bbox"][2]
    empty = _item(_table(bbox=None, footprint=None, rows_loaded=0)).to_dict()
    assert empty["geometry"] is None and "bbox" not in empty


def test_an_assumed_crs_is_recorded_in_the_item():
    """Issue 17: a CSV whose CRS was assumed (lon/lat ranges) says so in its item."""
    d = _item(_table(crs_assumed=True, source_crs="EPSG:4326")).to_dict()
    assert validate_stac(d)
    assert d["properties"]["geo_platform:crs_assumed"] is True
    assert "assumed" in d["properties"]["processing:lineage"]


def test_credentials_never_reach_the_item():
    with pytest.raises(ValidationError, match=r"credentials"):
        build_vector_item(
            _table(),
            item_id="x",
            collection_id="c",
            table_href="postgresql://user:secret@db:5432/geo?table=geo.x",
            parquet_href=None,
            provenance=PROV,
        )
