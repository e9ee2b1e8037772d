"""CSV files as point (lat/lon columns) or WKT layers.

Detection rule (configurable through ``VectorOptions``):

1. ``wkt_column`` or ``lat_column``/``lon_column`` when configured (must exist).
2. Otherwise a column whose name is a known WKT name (``wkt``, ``geom``, ``geometry``,
   ``the_geom``, ``shape``...) *and* whose sampled values look like WKT (all but a few:
   ``WKT_TOLERATED_SHARE``; the rows GDAL cannot parse get no geometry and are counted).
3. Otherwise the best latitude and longitude columns by name, in several languages (``lat``,
   ``latitude``, ``breite``, ``latitud``, ``y``... / ``lon``, ``lng``, ``long``, ``länge``,
   ``longitud``, ``x``...), whose sampled values must be numeric, or degrees-minutes-seconds
   (``52°22'30"N``: ``dms.py``, read from a copy with decimal columns added).
4. Otherwise a column, whatever its name, whose every sampled value is WKT or hex (E)WKB that
   parses (``footprint``, ``wkb_geometry`` from ``ogr2ogr -f CSV``, ``st_asewkb``...).
5. Otherwise a column named like a coordinate pair (``location``, ``coordinates``, ``latlng``...)
   whose values end in two numbers (``"(41.88, -87.62)"``: ``coord_pair.py``, read the same way).

A header without rows is an ``EmptyDatasetError``; repeated header names are loaded as ``a``,
``a_2``; ``#`` comment lines above the header are skipped. A geometry column may hold WKT, EWKT
(``SRID=28992;POINT (...)``) or hex (E)WKB as PostGIS exports it; an SRID the values carry is
the layer's CRS (``csv_srid``).

CRS rule, the same for lat/lon and WKT columns: unless its values carry an SRID, a CSV
declares no CRS, so ``assume_crs`` is used when configured; otherwise WGS84 longitude/latitude
(``options.csv_crs``, EPSG:4326) is assumed only when every coordinate fits longitude
-180..180 and latitude -90..90, and the layer records
that its CRS was assumed (``LayerSource.crs_assumed``; the STAC item property
``geo_platform:crs_assumed``). The sampled rows are checked when the file is opened
and every row while loading; either way a ``CoordinateRangeError`` names the file and hints to
set ``assume_crs``: a CSV in metres is refused, never published at the wrong place.

Text must be UTF-8, or ``options.encoding`` names the encoding (the file is then transcoded to
a temporary UTF-8 copy for GDAL).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import warnings
import weakref
from collections.abc import Iterator
from dataclasses import replace
from typing import IO, Any

import pyogrio

from geo_platform.lib.content import UTF16_BOMS
from geo_platform.lib.errors import (
    DecodingError,
    EmptyDatasetError,
    InvalidCRSError,
    NoGeometryError,
    TooLargeError,
)
from geo_platform.lib.gdal_paths import split_vsizip
from geo_platform.lib.naming import ascii_fold
from geo_platform.lib.vector import coord_pair, csv_coords, csv_srid, dms
from geo_platform.lib.vector.archive import open_member
from geo_platform.lib.vector.geomtext import is_geometry_text
from geo_platform.lib.vector.options import VectorOptions
from geo_platform.lib.vector.sniff import first_undecodable

WKT_TOLERATED_SHARE = 0.2
"""A WKT-named column is the geometry when at most this share of its sampled non-empty values
is not WKT (a typo or "n/a" in a few rows); those rows get no geometry (``dropped_null``)."""
_BASE_OPTIONS = {"EMPTY_STRING_AS_NULL": "YES", "AUTODETECT_SIZE_LIMIT": "10000000"}


class TempCopy:
    """A temporary UTF-8 copy of a CSV, deleted when the last layer using it goes away."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._finalizer = weakref.finalize(self, _unlink, path)


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def normalize(name: str) -> str:
    """'Länge (WGS84)' -> 'langewgs84': lowercase ASCII letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", ascii_fold(name).lower())


@contextlib.contextmanager
def _open_raw(gdal_path: str) -> Iterator[IO[bytes]]:
    inside = split_vsizip(gdal_path)
    if inside is None:
        with open(gdal_path, "rb") as fh:
            yield fh
        return
    with open_member(*inside) as (fh, _size):
        yield fh


def seen_as(raw: bytes, pos: int) -> str:
    """How text around an undecodable byte reads in the usual Windows encoding: a hint for
    the ``encoding`` option (``"Caf\\xe9 M\u00fcller" reads 'Café Müller' in cp1252``)."""
    start = raw.rfind(b"\n", 0, pos) + 1
    end = raw.find(b"\n", pos)
    line = raw[start : end if end >= 0 else len(raw)].strip(b"\r")
    try:
        guess = line.decode("cp1252")
    except UnicodeDecodeError:
        return ""
    return f", in {line!r}, which reads {guess!r} in cp1252"


def _ensure_utf8(base: Any, options: VectorOptions) -> Any:
    """The layer source itself when UTF-8, else a transcoded copy (or DecodingError)."""
    with _open_raw(base.gdal_path) as fh:
        bom = fh.read(2)
        fh.seek(0)
        bad = first_undecodable(fh, "utf-8")
        if bad is not None and not options.encoding:
            fh.seek(0)
            near = fh.read(bad + 24)[max(0, bad - 24) :]
            pos = min(bad, 24)
    if bad is None:
        return base
    if not options.encoding and bom in UTF16_BOMS:  # the BOM says which: no guessing
        options = replace(options, encoding="utf-16")
    if not options.encoding:
        raise DecodingError(
            f"CSV text is not valid UTF-8 (first bad byte at offset {bad}{seen_as(near, pos)}); "
            "set the vector encoding option (e.g. cp1252) if it uses another encoding",
            path=base.display,
        )
    try:
        text = _read_all(base, options, "transcode").decode(options.encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise DecodingError(
            f"CSV text is not valid {options.encoding}: {exc}", path=base.display
        ) from exc
    return _temp_copy(base, text)


def _read_all(base: Any, options: VectorOptions, why: str) -> bytes:
    with _open_raw(base.gdal_path) as fh:
        raw = fh.read(options.max_transcode_bytes + 1)
    if len(raw) > options.max_transcode_bytes:
        raise TooLargeError(
            f"CSV too large to {why} (over max_transcode_bytes, {options.max_transcode_bytes})",
            path=base.display,
        )
    return raw


def _temp_copy(base: Any, text: str) -> Any:
    """``base`` read from a temporary UTF-8 copy holding ``text``."""
    fd, tmp = tempfile.mkstemp(suffix=".csv", prefix="geo_platform_")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        out.write(text)
    return replace(base, gdal_path=tmp, keepalive=TempCopy(tmp))


def _sample(gdal_path: str, n: int = 200) -> tuple[list[str], dict[str, list[Any]], int]:
    """(header fields, sampled values by name, sampled row count).

    A repeated header name (``a,a``) keeps the values of its first column here; the loader
    reads every column by position and names the repeats ``a_2``...
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, table = pyogrio.read_arrow(gdal_path, max_features=n, AUTODETECT_TYPE="NO")
    sample: dict[str, list[Any]] = {}
    for i, name in enumerate(table.column_names):
        sample.setdefault(name, table.column(i).to_pylist())
    return list(table.column_names), sample, table.num_rows


def _numeric_share(values: list[Any]) -> float:
    present = [v for v in values if v not in (None, "")]
    if not present:
        return 0.0
    ok = 0
    for v in present:
        try:
            float(str(v).replace(",", "."))
            ok += 1
        except ValueError:
            pass
    return ok / len(present)


def _dms_share(values: list[Any], axis: dms.Axis) -> float:
    present = [v for v in values if v not in (None, "")]
    return sum(dms.parse(v, axis) is not None for v in present) / len(present) if present else 0


def _odd(values: list[Any]) -> str:
    return next(
        (str(v)[:40] for v in values if v not in (None, "") and not _numeric_share([v])), ""
    )


def _pick(fields: list[str], wanted: tuple[str, ...]) -> str | None:
    by_norm: dict[str, str] = {}
    for f in fields:
        by_norm.setdefault(normalize(f), f)
    for name in wanted:
        if name in by_norm:
            return by_norm[name]
    return None


def _choose(
    fields: list[str], sample: dict[str, list[Any]], options: VectorOptions, display: str
) -> tuple[str, str | None, str | None]:
    """('wkt', column, None), ('latlon' or 'dms', lat, lon) or ('pair', column, order)."""

    def require(col: str) -> str:
        if col not in fields:
            raise NoGeometryError(
                f"configured CSV column {col!r} not found (columns: {fields})", path=display
            )
        return col

    if options.wkt_column:
        return "wkt", require(options.wkt_column), None
    if options.lat_column or options.lon_column:
        if not (options.lat_column and options.lon_column):
            raise NoGeometryError("configure both lat_column and lon_column", path=display)
        return "latlon", require(options.lat_column), require(options.lon_column)
    named, not_wkt = _named_geometry_column(fields, sample, options)
    if named is not None:
        return "wkt", named, None
    lat, lon = _pick(fields, options.lat_names), _pick(fields, options.lon_names)
    if lat and lon and lat != lon:
        if min(_numeric_share(sample.get(lat, [])), _numeric_share(sample.get(lon, []))) >= 0.8:
            return "latlon", lat, lon
        if min(_dms_share(sample.get(lat, []), "lat"), _dms_share(sample.get(lon, []), "lon")) >= (
            dms.DMS_SHARE
        ):
            return "dms", lat, lon
        raise NoGeometryError(
            f"CSV columns {lat!r}/{lon!r} look like coordinates but hold values that are "
            f"neither numbers nor degrees-minutes-seconds (e.g. {_odd(sample.get(lat, []))!r})",
            path=display,
        )
    found = _geometry_valued_column(fields, sample)
    if found is not None:  # "footprint" holding POLYGON ((...)) or hex EWKB
        return "wkt", found, None
    pair = coord_pair.pair_column(fields, sample, normalize)
    if pair is not None:  # "(41.88, -87.62)" in a "location" column
        return "pair", pair[0], "lonlat" if pair[1] else "latlon"
    raise NoGeometryError(
        "CSV has no coordinate columns: found neither a latitude/longitude pair "
        f"(e.g. lat/lon, latitude/longitude, breite/länge) nor a WKT column among {fields}; "
        f"configure lat_column/lon_column or wkt_column{not_wkt}"
        + coord_pair.why_not(fields, sample, normalize),
        path=display,
    )


def _bad_geometry_text(values: list[str]) -> list[str]:
    return [v for v in values if not is_geometry_text(v)]


def _named_geometry_column(
    fields: list[str], sample: dict[str, list[Any]], options: VectorOptions
) -> tuple[str | None, str]:
    """(the first column named like a geometry whose sampled values are WKT or hex WKB, or
    None with why the named ones are not)."""
    not_wkt = ""
    for f in fields:
        if normalize(f) in options.wkt_names:
            values = [str(v) for v in sample.get(f, []) if v not in (None, "")]
            bad = _bad_geometry_text(values)
            if values and len(bad) <= WKT_TOLERATED_SHARE * len(values):
                return f, ""
            if values and not not_wkt:
                not_wkt = (
                    f"; column {f!r} is named like a WKT column but {len(bad)} of "
                    f"{len(values)} sampled values are neither WKT nor hex WKB "
                    f"(e.g. {bad[0][:40]!r})"
                )
    return None, not_wkt


def _geometry_valued_column(fields: list[str], sample: dict[str, list[Any]]) -> str | None:
    """The first column, whatever its name, whose every sampled value is WKT or hex (E)WKB
    that parses (a column of hex ids that happen to start with 00/01 does not)."""
    import shapely

    for f in fields:
        values = [str(v).strip() for v in sample.get(f, []) if v not in (None, "")]
        if not values or _bad_geometry_text(values):
            continue
        hexed = [v for v in values if v[:1] == "0"]
        try:
            if hexed:
                shapely.from_wkb(hexed)
        except Exception:
            continue
        return f
    return None


def _is_geographic(crs: str, display: str) -> bool:
    from pyproj import CRS

    try:
        return bool(CRS.from_user_input(crs).is_geographic)
    except Exception as exc:
        raise InvalidCRSError(f"unusable CRS {crs!r}: {exc}", path=display) from exc


def csv_layers(base: Any, options: VectorOptions) -> list[Any]:
    """The single layer of a CSV file, with GDAL open options set for its geometry."""
    base = _without_comment_lines(_ensure_utf8(base, options), options)
    fields, sample, rows = _sample(base.gdal_path)
    if rows == 0:
        raise EmptyDatasetError(
            f"the CSV has no rows (header only: {fields})"
            if fields
            else "the CSV has no rows and no header",
            path=base.display,
        )
    mode, first, second = _choose(fields, sample, options, base.display)
    opts = dict(_BASE_OPTIONS)
    declared, prj = None, csv_srid.prj_crs(base)  # the .prj beside it, as a Shapefile's
    if mode == "wkt":
        assert first is not None
        base, declared = _srid_of(base, first, sample.get(first, []), options)
        opts.update(GEOM_POSSIBLE_NAMES=first, KEEP_GEOM_COLUMNS="NO", AUTODETECT_TYPE="YES")
        gtype = "Unknown"
    elif mode in ("dms", "pair"):  # decimal copies become the point, the text columns are kept
        assert first is not None and second is not None
        text = _read_all(base, options, "convert its coordinates").decode("utf-8")
        if mode == "dms":
            text = dms.rewrite_csv(text, first, second)
        else:
            text = coord_pair.rewrite_csv(text, first, second == "lonlat")
        base = _temp_copy(base, text)
        opts.update(X_POSSIBLE_NAMES=dms.LON_COLUMN, Y_POSSIBLE_NAMES=dms.LAT_COLUMN)
        opts.update(KEEP_GEOM_COLUMNS="NO", AUTODETECT_TYPE="YES")
        gtype = "Point"
    else:
        assert first is not None and second is not None
        opts.update(X_POSSIBLE_NAMES=second, Y_POSSIBLE_NAMES=first, KEEP_GEOM_COLUMNS="YES")
        opts.update(AUTODETECT_TYPE="YES")
        gtype = "Point"
    declared = declared or prj
    assumed = not (declared or options.assume_crs)
    crs = declared or options.assume_crs or options.csv_crs
    geographic = _is_geographic(crs, base.display)
    if assumed and geographic:
        x, y, at = csv_coords.sampled_xy(mode, first, second, sample)
        csv_coords.require_lonlat(x, y, crs, base.display, at)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = pyogrio.read_info(base.gdal_path, **opts)
    count = info.get("features")
    return [
        replace(
            base,
            open_options=opts,
            crs=crs,
            geometry_type=gtype,
            feature_count=None if count is None or count < 0 else int(count),
            fields=tuple(str(f) for f in info.get("fields", ())),
            # GDAL names a WKT geometry after its source column ("geometry", "geom"...)
            geometry_column=str(info.get("geometry_name") or "wkb_geometry"),
            lonlat_range_check=geographic,
            crs_assumed=assumed,
        )
    ]


def _without_comment_lines(base: Any, options: VectorOptions) -> Any:
    """A copy without the ``#`` lines some tools write above the header, if there are any."""
    with _open_raw(base.gdal_path) as fh:
        if fh.read(1) != b"#":
            return base
    lines = _read_all(base, options, "drop its comment lines").decode("utf-8").splitlines(True)
    header = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    return _temp_copy(base, "".join(lines[header:]))


def _srid_of(
    base: Any, column: str, sampled: list[Any], options: VectorOptions
) -> tuple[Any, str | None]:
    """(layer source, CRS its geometry column declares) for EWKT and hex EWKB values (see
    ``csv_srid``); plain WKT columns cost nothing here."""
    if not csv_srid.carries_srid_or_hex(sampled):
        return base, None
    counts, n_ewkt = csv_srid.column_srids(base.gdal_path, column, _BASE_OPTIONS)
    declared = csv_srid.declared_crs(base, column, counts, options.assume_crs)
    if n_ewkt:
        text = _read_all(base, options, "rewrite its EWKT column").decode("utf-8")
        base = _temp_copy(base, csv_srid.strip_ewkt(text))
    return base, declared
