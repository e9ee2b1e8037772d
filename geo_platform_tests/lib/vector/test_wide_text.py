"""GeoJSON written in UTF-16 (PowerShell's ``Out-File``) or UTF-32 publishes like its UTF-8
twin (``lib.vector.wide_text``): the sensor sees a vector, and the table holds every feature
with its accented text."""

from __future__ import annotations

import json

import pytest

from geo_platform.lib.content import HEAD_BYTES, content_kind
from geo_platform_tests.lib.vector.conftest import publish_file

FEATURES = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"name": name},
     "geometry": {"type": "Point", "coordinates": [lon, 47.0]}}
    for name, lon in (("Zürich", 8.5), ("Genève", 6.1), ("Łódź", 19.4))
]}  # fmt: skip


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-32-be"])
def test_wide_json_publishes_like_utf8(pg_conn, pg_schema, tmp_path, encoding):
    path = tmp_path / "towns.geojson"
    text = json.dumps(FEATURES, ensure_ascii=False, indent=1)
    bom = "" if encoding in ("utf-16", "utf-32") else "\ufeff"  # these two write their own
    path.write_bytes((bom + text).encode(encoding))
    assert content_kind(path.read_bytes()[:HEAD_BYTES], path.name)[0] == "vector"
    (table,) = publish_file(pg_conn, path, pg_schema, tmp_path)
    assert table.rows_loaded == 3 and table.driver == "GeoJSON"
    rows = pg_conn.execute(
        f'SELECT name, ST_X(ST_GeometryN(geom, 1)) FROM "{pg_schema}"."{table.table}" ORDER BY fid'
    ).fetchall()
    assert rows == [("Zürich", 8.5), ("Genève", 6.1), ("Łódź", 19.4)]
