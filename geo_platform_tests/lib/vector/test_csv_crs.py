"""Issue 17: one CRS rule for CSV lat/lon and WKT columns. EPSG:4326 is assumed only when every
coordinate fits longitude/latitude ranges, and the layer (then the table and its STAC item)
records that the CRS was assumed; otherwise the file is refused with the assume_crs hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo_platform.lib.errors import CoordinateRangeError
from geo_platform.lib.vector.options import VectorOptions
from geo_platform.lib.vector.read import open_source
from geo_platform_tests.lib.vector.conftest import publish_file
from geo_platform_tests.lib.vector.test_publish import _db_check

LONLAT_WKT = (
    'id,wkt\n1,"LINESTRING (11.5 48.1, 11.6 48.2)"\n2,"LINESTRING (-179.9 -89.9, 179.9 89.9)"\n'
)
LONLAT_COLUMNS = "id,lat,lon\n1,48.1,11.5\n2,-89.9,179.9\n"
METRES_WKT = 'id,wkt\n1,"POINT (500000 5400000)"\n'
METRES_COLUMNS = "id,y,x\n1,5400000,500000\n"


def _csv(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text", [LONLAT_WKT, LONLAT_COLUMNS])
def test_lonlat_coordinates_assume_wgs84_and_say_so(tmp_path: Path, text: str) -> None:
    (src,) = open_source(_csv(tmp_path, text), "v/t.csv")
    assert (src.crs, src.crs_assumed, src.lonlat_range_check) == ("EPSG:4326", True, True)


@pytest.mark.parametrize("text", [LONLAT_WKT, LONLAT_COLUMNS])
def test_a_configured_crs_is_not_assumed(tmp_path: Path, text: str) -> None:
    opts = VectorOptions(assume_crs="EPSG:4258")
    (src,) = open_source(_csv(tmp_path, text), "v/t.csv", opts)
    assert (src.crs, src.crs_assumed) == ("EPSG:4258", False)


@pytest.mark.parametrize("text", [METRES_WKT, METRES_COLUMNS])
def test_coordinates_outside_lonlat_are_refused_with_the_hint(tmp_path: Path, text: str) -> None:
    with pytest.raises(CoordinateRangeError, match=r"v/utm\.csv.*no CRS.*assume_crs"):
        open_source(_csv(tmp_path, text, "utm.csv"), "v/utm.csv")
    # ... and publish once their CRS is given
    opts = VectorOptions(assume_crs="EPSG:32632")
    (src,) = open_source(_csv(tmp_path, text, "utm.csv"), "v/utm.csv", opts)
    assert not src.crs_assumed


def test_wkt_csv_publishes_with_the_crs_recorded_as_assumed(pg_conn, pg_schema, tmp_path):
    (t,) = publish_file(pg_conn, _csv(tmp_path, LONLAT_WKT, "wkt.csv"), pg_schema, tmp_path)
    _db_check(pg_conn, t)
    assert (t.source_crs, t.crs_assumed, t.rows_loaded) == ("EPSG:4326", True, 2)
    (t,) = publish_file(pg_conn, _csv(tmp_path, LONLAT_COLUMNS, "pts.csv"), pg_schema, tmp_path)
    assert (t.source_crs, t.crs_assumed) == ("EPSG:4326", True)


def test_a_row_beyond_the_sample_is_still_checked(pg_conn, pg_schema, tmp_path):
    rows = "".join(f'{i},"POINT (11.{i} 48.1)"\n' for i in range(300))
    path = _csv(tmp_path, f'id,wkt\n{rows}999,"POINT (500000 5400000)"\n', "late.csv")
    (src,) = open_source(path, "v/late.csv")  # the sampled rows fit
    assert src.crs_assumed
    with pytest.raises(CoordinateRangeError, match=r"late\.csv.*assume_crs"):
        publish_file(pg_conn, path, pg_schema, tmp_path)
