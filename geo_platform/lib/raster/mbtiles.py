"""MBTiles files: a raster tile set is a raster; one of vector tiles is refused."""

from __future__ import annotations

import contextlib
from pathlib import Path

from geo_platform.lib.errors import UnsupportedFormatError


def refuse_vector_tiles(path: Path, name: str) -> None:
    """``UnsupportedFormatError`` for an MBTiles of vector tiles (Mapbox Vector Tiles)."""
    if mbtiles_format(path) == "pbf":
        raise UnsupportedFormatError(
            "an MBTiles of vector tiles (Mapbox Vector Tiles) is not published: tiles are a "
            "rendering of data, cut and simplified per zoom level; upload the source data "
            "(GeoPackage, GeoJSON...) instead",
            path=name,
        )


def mbtiles_format(path: Path) -> str | None:
    """The tile format an MBTiles file declares (``png``, ``jpg``, ``webp``, ``pbf``), or None."""
    import sqlite3

    try:
        uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            row = db.execute("SELECT value FROM metadata WHERE name = 'format'").fetchone()
    except (sqlite3.Error, ValueError, OSError):
        return None
    return str(row[0]).lower() if row else None
