"""GPX from sports devices and apps: heart rate, cadence, power and temperature under
``<extensions>`` become typed columns, and times are UTC instants (``lib.vector.gpx_extensions``),
published through ``publish_vector`` into real PostGIS from a local store and from Azurite."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest
import shapely
from azure.storage.blob import BlobServiceClient
from psycopg import sql

from geo_platform.lib.vector.gpx_extensions import attached, read_extensions
from geo_platform.store.blobs.azure import AzureBlobStore
from geo_platform.workflows.publish_vector import PublishedVector, VectorSettings
from geo_platform_tests.fixtures.vector_world import World, table_facts

# As Garmin Connect and Strava write them: a power element of its own, Garmin's
# TrackPointExtension with hr/cad/atemp (cad missing on one point), a point without extensions,
# a track colour, a waypoint's proximity, and a route point with Garmin's repeated shaping
# points (gpxx:rpt, attributes only) beside a Subclass. One time has an offset.
RIDE = """<?xml version="1.0" encoding="UTF-8"?>
<gpx creator="StravaGPX" version="1.1" xmlns="http://www.topografix.com/GPX/1/1"
 xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1"
 xmlns:gpxx="http://www.garmin.com/xmlschemas/GpxExtensions/v3">
 <metadata><time>2024-05-01T06:00:00Z</time></metadata>
 <wpt lat="52.0" lon="4.0"><name>Start</name><extensions><gpxx:WaypointExtension>
  <gpxx:Proximity>10</gpxx:Proximity><gpxx:DisplayMode>SymbolAndName</gpxx:DisplayMode>
 </gpxx:WaypointExtension></extensions></wpt>
 <trk><name>Morning Ride</name><type>cycling</type><extensions><gpxx:TrackExtension>
  <gpxx:DisplayColor>Red</gpxx:DisplayColor></gpxx:TrackExtension></extensions>
  <trkseg>
   <trkpt lat="52.1" lon="4.3"><ele>1.2</ele><time>2024-05-01T06:00:00Z</time><extensions>
    <power>210</power><gpxtpx:TrackPointExtension><gpxtpx:atemp>18.5</gpxtpx:atemp>
    <gpxtpx:hr>120</gpxtpx:hr><gpxtpx:cad>80</gpxtpx:cad></gpxtpx:TrackPointExtension>
   </extensions></trkpt>
   <trkpt lat="52.101" lon="4.301"><ele>1.5</ele><time>2024-05-01T08:00:05+02:00</time>
    <extensions><power>0</power><gpxtpx:TrackPointExtension><gpxtpx:atemp>18</gpxtpx:atemp>
    <gpxtpx:hr>125</gpxtpx:hr></gpxtpx:TrackPointExtension></extensions></trkpt>
   <trkpt lat="52.102" lon="4.302"><ele>1.7</ele><time>2024-05-01T06:00:10Z</time></trkpt>
  </trkseg>
 </trk>
 <rte><name>Planned</name><rtept lat="52.0" lon="4.0"><extensions><gpxx:RoutePointExtension>
  <gpxx:Subclass>000000000000FFFFFFFFFFFFFFFFFFFFFFFF</gpxx:Subclass>
  <gpxx:rpt lat="52.05" lon="4.05"/><gpxx:rpt lat="52.06" lon="4.06"/>
 </gpxx:RoutePointExtension></extensions></rtept><rtept lat="52.1" lon="4.1"/></rte>
</gpx>
"""


def test_extension_leaves_are_read_per_layer_and_typed() -> None:
    found = read_extensions(io.BytesIO(RIDE.encode()))
    points = found["track_points"]
    assert list(points.columns) == ["power", "gpxtpx_atemp", "gpxtpx_hr", "gpxtpx_cad"]
    assert points.columns["gpxtpx_hr"].to_pylist() == [120, 125, None]
    assert str(points.columns["gpxtpx_hr"].type) == "int64"
    assert points.columns["gpxtpx_atemp"].to_pylist() == [18.5, 18.0, None]
    assert points.columns["gpxtpx_cad"].to_pylist() == [80, None, None]
    assert points.keys.tolist() == [[4.3, 52.1], [4.301, 52.101], [4.302, 52.102]]
    # GDAL's own columns for the same elements (its names), replaced by these.
    assert points.replaces == {"power", "gpxtpx_TrackPointExtension"}
    assert found["tracks"].columns["gpxx_DisplayColor"].to_pylist() == ["Red"]
    assert found["tracks"].keys == ["Morning Ride"]
    assert found["waypoints"].columns["gpxx_Proximity"].to_pylist() == [10]
    # Repeated shaping points (no text, no single value) are not columns; Subclass is.
    assert list(found["route_points"].columns) == ["gpxx_Subclass"]
    assert "routes" not in found


def test_a_file_without_extensions_gives_none() -> None:
    plain = '<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><wpt lat="1" lon="2"/>'
    plain += "</gpx>"
    assert read_extensions(io.BytesIO(plain.encode())) == {}


class _AzureWorld(World):
    """``World`` on Azurite: bronze and silver containers of its own."""

    def __init__(self, tmp_path: Path, dsn: str, schema: str, connection_string: str) -> None:
        super().__init__(tmp_path, dsn, schema)
        suffix = uuid.uuid4().hex[:8]
        self.containers = {"bronze_container": f"bronze-{suffix}",
                           "silver_container": f"silver-{suffix}"}  # fmt: skip
        self.store = AzureBlobStore(connection_string=connection_string)  # type: ignore[assignment]
        for name in self.containers.values():
            self.store.ensure_container(name)

    def settings(self, **kw: Any) -> VectorSettings:
        return super().settings(**self.containers, **kw)

    def upload(self, name: str, local: Path) -> str:
        blob = f"{self.prefix}/{name}"
        self.store.upload_file(self.containers["bronze_container"], blob, local)
        self.blobs.append(blob)
        return blob


@pytest.fixture(params=["local", pytest.param("azure", marks=pytest.mark.azurite)])
def world(request: pytest.FixtureRequest, tmp_path: Path, pg_dsn: str, pg_schema: str
          ) -> Iterator[World]:  # fmt: skip
    """The vector world on the local store, and on Azurite."""
    if request.param == "local":
        w = World(tmp_path, pg_dsn, pg_schema)
        yield w
        w.drop_collections()
        return
    conn = request.getfixturevalue("azurite_connection_string")
    azure = _AzureWorld(tmp_path, pg_dsn, pg_schema, conn)
    try:
        yield azure
    finally:
        azure.drop_collections()
        service = BlobServiceClient.from_connection_string(conn)
        for name in azure.containers.values():
            service.delete_container(name)


def _rows(w: World, table: str, columns: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(w.dsn) as conn:
        q = sql.SQL("SELECT {} FROM {}.{} ORDER BY fid").format(
            sql.SQL(columns), sql.Identifier(w.schema), sql.Identifier(table)
        )
        return conn.execute(q).fetchall()


def _column_types(w: World, table: str) -> dict[str, str]:
    with psycopg.connect(w.dsn) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            (w.schema, table),
        ).fetchall()
    return dict(rows)


def _table(published: PublishedVector, layer: str) -> str:
    return next(t.table for t in published.tables if t.layer == layer)


def test_a_strava_ride_publishes_heart_rate_cadence_and_power(world: World, tmp_path: Path) -> None:
    src = tmp_path / "Morning Ride.gpx"
    src.write_text(RIDE)
    published = world.publish(world.upload("Morning Ride.gpx", src))
    points = _table(published, "track_points")
    assert table_facts(world.dsn, world.schema, points)[:2] == (3, [4326])
    types = _column_types(world, points)
    assert types["gpxtpx_hr"] == "bigint" and types["power"] == "bigint"
    assert types["gpxtpx_atemp"] == "double precision"
    assert types["time"] == "timestamp with time zone"
    # GDAL's reading of the nested element (0 for every point) is not published.
    assert "gpxtpx_trackpointextension" not in types
    rows = _rows(world, points, "time, power, gpxtpx_hr, gpxtpx_cad, gpxtpx_atemp")
    assert rows == [
        (datetime(2024, 5, 1, 6, 0, 0, tzinfo=UTC), 210, 120, 80, 18.5),
        (datetime(2024, 5, 1, 6, 0, 5, tzinfo=UTC), 0, 125, None, 18.0),  # 08:00:05+02:00
        (datetime(2024, 5, 1, 6, 0, 10, tzinfo=UTC), None, None, None, None),
    ]
    assert _rows(world, _table(published, "tracks"), "name, gpxx_displaycolor") == [
        ("Morning Ride", "Red")
    ]
    assert _rows(world, _table(published, "waypoints"), "name, gpxx_proximity") == [("Start", 10)]
    route_points = _table(published, "route_points")
    assert _rows(world, route_points, "gpxx_subclass") == [
        ("000000000000FFFFFFFFFFFFFFFFFFFFFFFF",),
        (None,),
    ]
    # The item describes the new columns.
    item = next(i for i in published.items if points in json.dumps(i["assets"]))
    described = {c["name"]: c["type"] for c in item["properties"]["table:columns"]}
    assert described["gpxtpx_hr"] == "bigint"


def test_a_zipped_gpx_keeps_its_extensions_too(world: World, tmp_path: Path) -> None:
    src = tmp_path / "rides.zip"
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("export/ride.gpx", RIDE)
    published = world.publish(world.upload("rides.zip", src))
    points = _table(published, "track_points")
    assert _rows(world, points, "gpxtpx_hr") == [(120,), (125,), (None,)]


def test_values_go_only_to_the_feature_they_were_read_for() -> None:
    """Where GDAL's feature at a position is not the one read there (other coordinates), or
    GDAL has more features than were read, the extension values are null, never shifted."""
    ext = read_extensions(io.BytesIO(RIDE.encode()))["track_points"]
    points = [shapely.Point(4.3, 52.1), shapely.Point(9.0, 9.0), shapely.Point(4.302, 52.102),
              shapely.Point(4.303, 52.103)]  # fmt: skip
    batch = pa.record_batch(
        {"ele": [1.0, 2.0, 3.0, 4.0], "wkb_geometry": shapely.to_wkb(points).tolist()}
    )
    schema, batches = attached(batch.schema, [batch.slice(0, 2), batch.slice(2)], ext,
                               "wkb_geometry")  # fmt: skip
    table = pa.Table.from_batches(list(batches), schema=schema)
    assert table.column("gpxtpx_hr").to_pylist() == [120, None, None, None]
    assert table.column("power").to_pylist() == [210, None, None, None]
    assert table.column("ele").to_pylist() == [1.0, 2.0, 3.0, 4.0]
