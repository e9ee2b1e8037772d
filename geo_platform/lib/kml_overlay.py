"""A KMZ that is a picture draped on the map (a scanned map, a drone orthophoto exported for
Google Earth): published as a raster.

The rule (documented in docs/raster.md): a ``.kmz`` is a raster when its KML (``doc.kml``, else
the first ``.kml`` at its root, as Google Earth reads it) holds nothing to publish as a vector
(no Placemark or PhotoOverlay; a ScreenOverlay, a legend or logo fixed on the screen, is left
out and named in the lineage) and is either
- one GroundOverlay placed by a ``LatLonBox`` (turned by its ``rotation`` about its centre, as
  Google Earth draws it; a ``gx:LatLonQuad`` is not read), whose image is a member of the KMZ:
  ``Overlay``, placed by its box (``raster.kmz_image``);
- several such GroundOverlays side by side, the tiles of one map (Garmin Custom Maps cut a scan
  into tiles of at most 1024x1024 pixels): ``Overlays``, each placed by its box and mosaicked,
  the higher ``drawOrder`` on top (of equal ones, the later in the KML); or
- a superoverlay, the tile pyramid GDAL, QGIS, MapTiler and drone software export: NetworkLinks
  to KML files of the KMZ, each holding tiles (GroundOverlays) and links further down, every
  link and image inside the KMZ: ``Pyramid``, read at its finest level by GDAL's
  KMLSUPEROVERLAY driver.
Any other KMZ is a vector: its placemarks are published, and its overlays' footprints with them,
each overlay named among what was left out (``vector.left_out``). Nothing is ever fetched: a
link or an image outside the KMZ (a URL, an absolute path, ``..``) makes it a vector.

The sensor judges a ``.kmz`` from its first and last bytes (``zip_kind.Ends``): the table of
contents at the end, and the KML, which Google Earth and GDAL write first and which is small
(a pyramid's other KML files are checked when it is published). A KMZ whose KML is not within
those bytes is a vector, as before. Nothing here imports GDAL.
"""

from __future__ import annotations

import math
import posixpath
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote
from xml.etree import ElementTree

from geo_platform.lib.errors import UnreadableFileError, UnsupportedFormatError
from geo_platform.lib.types import DataKind
from geo_platform.lib.zip_kind import Ends, NotInEnds

MAX_KML_BYTES = 16 * 2**20
"""A KML file larger than this is not read here (one of an overlay or of tiles is a few KB)."""

_CONTENT = frozenset({"Placemark", "PhotoOverlay"})
MAX_KML_FILES = 100_000
"""A pyramid of more KML files than this is not read here."""


@dataclass(frozen=True)
class Overlay:
    """A GroundOverlay: its name, its image (a path inside the KMZ) and its ``LatLonBox``."""

    name: str
    href: str
    north: float
    south: float
    east: float
    west: float
    draw_order: int = 0
    left_out: tuple[str, ...] = ()  # the KML's ScreenOverlays (legends, logos): not on the map
    rotation: float = 0.0  # degrees, counter-clockwise about the box's centre

    def envelope(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) of the box as it is drawn: turned by its rotation."""
        if not self.rotation:
            return self.west, self.south, self.east, self.north
        cx, cy = (self.west + self.east) / 2, (self.south + self.north) / 2
        cos, sin = math.cos(math.radians(self.rotation)), math.sin(math.radians(self.rotation))
        corners = [
            (x - cx, y - cy) for x in (self.west, self.east) for y in (self.south, self.north)
        ]
        xs = [cx + dx * cos - dy * sin for dx, dy in corners]
        ys = [cy + dx * sin + dy * cos for dx, dy in corners]
        return min(xs), min(ys), max(xs), max(ys)


@dataclass(frozen=True)
class Overlays:
    """Several GroundOverlays of one KML: (overlay, image member) each, in the KML's order."""

    tiles: tuple[tuple[Overlay, str], ...]
    left_out: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pyramid:
    """A superoverlay: ``kmls`` KML files of tiles, linked from the KMZ's KML ``root``."""

    root: str
    kmls: int
    left_out: tuple[str, ...] = ()


class NotAnOverlay(ValueError):
    """Why a KMZ is not a raster: neither GroundOverlays alone nor a superoverlay (the
    message says)."""


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _child_text(element: ElementTree.Element, name: str) -> str | None:
    found = next((c for c in element if _local(c.tag) == name), None)
    return None if found is None else (found.text or "").strip()


def kml_member(names: list[str]) -> str | None:
    """The KML a reader opens in a KMZ: ``doc.kml``, else the first ``.kml`` at its root, else
    the first ``.kml`` anywhere."""
    kmls = [n for n in names if n.lower().endswith(".kml")]
    for pick in (
        [n for n in kmls if n.lower() == "doc.kml"],
        [n for n in kmls if "/" not in n],
        kmls,
    ):
        if pick:
            return pick[0]
    return None


@dataclass(frozen=True)
class _Kml:
    overlays: list[ElementTree.Element]
    links: list[str]  # the hrefs of its NetworkLinks
    other: set[str]  # the tags of what a raster cannot hold (``_CONTENT``)
    screens: list[str]  # the names of its ScreenOverlays


def _parse(kml: bytes) -> _Kml:
    try:
        root = ElementTree.fromstring(kml)
    except ElementTree.ParseError as exc:
        raise NotAnOverlay(f"its KML cannot be parsed ({exc})") from exc
    out = _Kml([], [], set(), [])
    for element in root.iter():
        tag = _local(element.tag)
        if tag == "GroundOverlay":
            out.overlays.append(element)
        elif tag == "NetworkLink":
            link = next((c for c in element if _local(c.tag) in ("Link", "Url")), None)
            out.links.append((_child_text(link, "href") if link is not None else None) or "")
        elif tag in _CONTENT:
            out.other.add(tag)
        elif tag == "ScreenOverlay":
            out.screens.append(f"ScreenOverlay {_child_text(element, 'name') or ''!r}")
    return out


def _placed(parsed: _Kml, kml: str, members: Members) -> Overlay | Overlays:
    """The GroundOverlays of a KML document that holds nothing else, with their images, or
    ``NotAnOverlay``."""
    if not parsed.overlays or parsed.other or parsed.links:
        raise NotAnOverlay(f"its KML holds {_held(parsed)}, not GroundOverlays alone")
    overlays = [_overlay(element) for element in parsed.overlays]
    images = [member_of(o.href, kml, members) for o in overlays]
    screens = tuple(parsed.screens)
    if len(overlays) == 1:
        return replace(overlays[0], left_out=screens)
    return Overlays(tuple(zip(overlays, images, strict=True)), screens)


def _held(parsed: _Kml) -> str:
    parts = [f"{len(parsed.overlays)} GroundOverlay(s)"]
    if parsed.links:
        parts.append(f"{len(parsed.links)} NetworkLink(s)")
    parts += [f"{tag} element(s)" for tag in sorted(parsed.other)]
    return " and ".join(parts)


def _icon_href(element: ElementTree.Element) -> str | None:
    icon = next((c for c in element if _local(c.tag) == "Icon"), None)
    return _child_text(icon, "href") if icon is not None else None


def _overlay(element: ElementTree.Element) -> Overlay:
    name = _child_text(element, "name") or "GroundOverlay"
    href = _icon_href(element)
    box = next((c for c in element if _local(c.tag) == "LatLonBox"), None)
    if box is None:
        raise NotAnOverlay(f"GroundOverlay {name!r} is not placed by a LatLonBox")
    try:
        edges = {k: float(_child_text(box, k) or "nan") for k in ("north", "south", "east", "west")}
        rotation = float(_child_text(box, "rotation") or 0)
    except ValueError as exc:
        raise NotAnOverlay(f"GroundOverlay {name!r} has a malformed LatLonBox ({exc})") from exc
    if not -360 <= rotation <= 360:
        raise NotAnOverlay(f"GroundOverlay {name!r} has an impossible rotation {rotation}")
    n, s, e, w = (edges[k] for k in ("north", "south", "east", "west"))
    if not (-90 <= s < n <= 90 and -180 <= w <= 180 and -180 <= e <= 180 and w != e):
        raise NotAnOverlay(f"GroundOverlay {name!r} has an impossible LatLonBox {edges}")
    if w > e:
        raise NotAnOverlay(f"GroundOverlay {name!r} crosses the antimeridian (west {w}, east {e})")
    if not href:
        raise NotAnOverlay(f"GroundOverlay {name!r} names no image")
    try:
        order = int(float(_child_text(element, "drawOrder") or 0))
    except ValueError:
        order = 0
    return Overlay(name, href, n, s, e, w, order, rotation=rotation % 360)


class Members:
    """The member names of a KMZ, looked up as its KML hrefs name them."""

    def __init__(self, names: list[str]) -> None:
        self.exact = {n: n for n in names}
        self.folded = {n.lower(): n for n in reversed(names)}

    def find(self, member: str) -> str | None:
        for candidate in dict.fromkeys((member, unquote(member))):  # files/my%20map.png
            found = self.exact.get(candidate) or self.folded.get(candidate.lower())
            if found is not None:
                return found
        return None


def member_of(href: str, kml_name: str, members: Members, what: str = "image") -> str:
    """The KMZ member an ``href`` of the KML ``kml_name`` names (relative to it), or
    ``NotAnOverlay`` for one elsewhere (a URL, an absolute path, a path out of the KMZ, a
    missing one). ``what`` names it in the message."""
    href = href.replace("\\", "/")  # written on Windows
    if "://" in href or href.startswith("/") or ":" in href.split("/")[0]:
        raise NotAnOverlay(f"the {what} {href!r} is not inside the KMZ")
    member = posixpath.normpath(posixpath.join(posixpath.dirname(kml_name), href))
    if member.startswith("../") or member == "..":
        raise NotAnOverlay(f"the {what} {href!r} is outside the KMZ")
    found = members.find(member)
    if found is None:
        raise NotAnOverlay(f"the {what} {href!r} is not in the KMZ")
    return found


def kmz_raster(
    archive: zipfile.ZipFile, *, deep: bool = True
) -> tuple[Overlay | Overlays | Pyramid, str]:
    """What makes the KMZ a raster (module docstring) and the member to read: the image of
    its one ``Overlay``, else its KML (``Overlays``, ``Pyramid``); ``NotAnOverlay`` for others.
    ``deep=False`` (the sensor) reads the root KML only; publishing reads every KML of a
    pyramid and checks its links and images."""
    names = [i.filename for i in archive.infolist() if not i.is_dir()]
    members = Members(names)
    kml = kml_member(names)
    if kml is None:
        raise NotAnOverlay("it holds no KML document")
    parsed = _parse(_read_kml(archive, kml))
    if not parsed.links:
        placed = _placed(parsed, kml, members)
        image = member_of(placed.href, kml, members) if isinstance(placed, Overlay) else kml
        return placed, image
    kmls = _pyramid_kmls(archive, kml, parsed, members, deep)
    return Pyramid(kml, kmls, tuple(parsed.screens)), kml


def _read_kml(archive: zipfile.ZipFile, name: str) -> bytes:
    if archive.getinfo(name).file_size > MAX_KML_BYTES:
        raise NotAnOverlay(f"its KML {name!r} is larger than {MAX_KML_BYTES} bytes")
    return archive.read(name)


def _pyramid_kmls(
    archive: zipfile.ZipFile, root: str, parsed: _Kml, members: Members, deep: bool
) -> int:
    """How many KML files the superoverlay linked from ``root`` has (checked as the module
    docstring says: within the KMZ, and no placemarks), or ``NotAnOverlay``."""
    todo, seen = [(root, parsed)], {root}
    while todo:
        name, kml = todo.pop()
        if kml.other:
            raise NotAnOverlay(f"its KML {name!r} holds {_held(kml)}: not only tiles")
        for element in kml.overlays:
            member_of(_icon_href(element) or "", name, members, "tile")
        for href in kml.links:
            linked = member_of(href, name, members, "NetworkLink")
            if not linked.lower().endswith(".kml"):
                raise NotAnOverlay(f"its NetworkLink {href!r} does not link a KML file")
            if linked not in seen:
                seen.add(linked)
                if len(seen) > MAX_KML_FILES:
                    raise NotAnOverlay(f"its superoverlay has over {MAX_KML_FILES} KML files")
                if deep:
                    todo.append((linked, _parse(_read_kml(archive, linked))))
    return len(seen)


def read_kmz_raster(kmz: Path, name: str) -> tuple[Overlay | Overlays | Pyramid, str]:
    """``kmz_raster`` of the KMZ file ``kmz`` (the bronze blob ``name``), or the input error of
    a KMZ that is not a raster (``UnsupportedFormatError``, saying why) or not a zip
    (``UnreadableFileError``)."""
    try:
        with zipfile.ZipFile(kmz) as archive:
            return kmz_raster(archive)
    except NotAnOverlay as exc:
        raise UnsupportedFormatError(
            f"a KMZ publishes as a raster when it holds north-up GroundOverlays alone, or a "
            f"superoverlay of tiles, all inside it; this one does not: {exc}",
            path=name,
        ) from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableFileError(f"corrupt KMZ archive: {exc}", path=name) from exc


def kind_from_ends(head: bytes, tail: bytes, size: int) -> DataKind:
    """Raster for a KMZ of GroundOverlays alone or a superoverlay (module docstring), judged
    from its first and last bytes; vector for any other, or when its KML is not within them."""
    try:
        with zipfile.ZipFile(Ends(head, tail, size)) as archive:
            kmz_raster(archive, deep=False)
            return "raster"
    except (NotAnOverlay, NotInEnds, zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError):
        return "vector"
