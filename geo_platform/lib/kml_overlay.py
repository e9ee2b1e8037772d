"""A KMZ that is one picture draped on the map (a scanned map, a drone orthophoto exported for
Google Earth): its GroundOverlay is published as a raster.

The rule (documented in docs/raster.md): a ``.kmz`` is a raster when its KML (``doc.kml``, else
the first ``.kml`` at its root, as Google Earth reads it) holds exactly one GroundOverlay and
nothing else to publish (no Placemark, NetworkLink, PhotoOverlay or ScreenOverlay), placed by a
north-up ``LatLonBox`` (no ``rotation``, no ``gx:LatLonQuad``), whose image is a member of the
KMZ itself. Any other KMZ is a vector: its placemarks are published, and its overlays'
footprints with them, each overlay named among what was left out (``vector.left_out``).

The sensor judges a ``.kmz`` from its first and last bytes (``zip_kind.Ends``): the table of
contents at the end, and the KML, which Google Earth and GDAL write first and which is small.
A KMZ whose KML is not within those bytes is a vector, as before. Nothing here imports GDAL.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass
from xml.etree import ElementTree

from geo_platform.lib.types import DataKind
from geo_platform.lib.zip_kind import Ends, NotInEnds

MAX_KML_BYTES = 16 * 2**20
"""A KMZ whose KML is larger than this holds more than one overlay: it is not read here."""

_CONTENT = frozenset({"Placemark", "NetworkLink", "PhotoOverlay", "ScreenOverlay"})


@dataclass(frozen=True)
class Overlay:
    """A GroundOverlay: its name, its image (a path inside the KMZ) and its ``LatLonBox``."""

    name: str
    href: str
    north: float
    south: float
    east: float
    west: float


class NotAnOverlay(ValueError):
    """Why a KMZ is not one GroundOverlay published as a raster (the message says)."""


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


def the_overlay(kml: bytes) -> Overlay:
    """The one GroundOverlay of a KML document that holds nothing else, or ``NotAnOverlay``."""
    try:
        root = ElementTree.fromstring(kml)
    except ElementTree.ParseError as exc:
        raise NotAnOverlay(f"its KML cannot be parsed ({exc})") from exc
    overlays, other = [], set()
    for element in root.iter():
        tag = _local(element.tag)
        if tag == "GroundOverlay":
            overlays.append(element)
        elif tag in _CONTENT:
            other.add(tag)
    if len(overlays) != 1 or other:
        held = f"{len(overlays)} GroundOverlay(s)" + (
            f" and {', '.join(sorted(other))} element(s)" if other else ""
        )
        raise NotAnOverlay(f"its KML holds {held}, not one GroundOverlay alone")
    return _overlay(overlays[0])


def _overlay(element: ElementTree.Element) -> Overlay:
    name = _child_text(element, "name") or "GroundOverlay"
    icon = next((c for c in element if _local(c.tag) == "Icon"), None)
    href = _child_text(icon, "href") if icon is not None else None
    box = next((c for c in element if _local(c.tag) == "LatLonBox"), None)
    if box is None:
        raise NotAnOverlay(f"GroundOverlay {name!r} is not placed by a LatLonBox")
    try:
        edges = {k: float(_child_text(box, k) or "nan") for k in ("north", "south", "east", "west")}
        rotation = float(_child_text(box, "rotation") or 0)
    except ValueError as exc:
        raise NotAnOverlay(f"GroundOverlay {name!r} has a malformed LatLonBox ({exc})") from exc
    if rotation % 360:
        raise NotAnOverlay(f"GroundOverlay {name!r} is rotated by {rotation} degrees")
    n, s, e, w = (edges[k] for k in ("north", "south", "east", "west"))
    if not (-90 <= s < n <= 90 and -180 <= w <= 180 and -180 <= e <= 180 and w != e):
        raise NotAnOverlay(f"GroundOverlay {name!r} has an impossible LatLonBox {edges}")
    if w > e:
        raise NotAnOverlay(f"GroundOverlay {name!r} crosses the antimeridian (west {w}, east {e})")
    if not href:
        raise NotAnOverlay(f"GroundOverlay {name!r} names no image")
    return Overlay(name, href, n, s, e, w)


def member_of(href: str, kml_name: str, names: list[str]) -> str:
    """The KMZ member an overlay's ``href`` names (relative to its KML), or ``NotAnOverlay``
    for an image elsewhere (a URL, an absolute path, a path out of the KMZ, a missing one)."""
    if "://" in href or href.startswith(("/", "\\")) or ":" in href.split("/")[0]:
        raise NotAnOverlay(f"the overlay's image {href!r} is not inside the KMZ")
    member = posixpath.normpath(posixpath.join(posixpath.dirname(kml_name), href))
    if member.startswith("../") or member == "..":
        raise NotAnOverlay(f"the overlay's image {href!r} is outside the KMZ")
    exact = {n: n for n in names}
    found = exact.get(member) or {n.lower(): n for n in names}.get(member.lower())
    if found is None:
        raise NotAnOverlay(f"the overlay's image {href!r} is not in the KMZ")
    return found


def kmz_overlay(archive: zipfile.ZipFile) -> tuple[Overlay, str]:
    """The KMZ's one GroundOverlay and the member holding its image, or ``NotAnOverlay``."""
    names = [i.filename for i in archive.infolist() if not i.is_dir()]
    kml = kml_member(names)
    if kml is None:
        raise NotAnOverlay("it holds no KML document")
    if archive.getinfo(kml).file_size > MAX_KML_BYTES:
        raise NotAnOverlay(f"its KML is larger than {MAX_KML_BYTES} bytes")
    overlay = the_overlay(archive.read(kml))
    return overlay, member_of(overlay.href, kml, names)


def kind_from_ends(head: bytes, tail: bytes, size: int) -> DataKind:
    """Raster for a KMZ that is one GroundOverlay (module docstring), judged from its first and
    last bytes; vector for any other, or when its KML is not within them."""
    try:
        with zipfile.ZipFile(Ends(head, tail, size)) as archive:
            kmz_overlay(archive)
            return "raster"
    except (NotAnOverlay, NotInEnds, zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError):
        return "vector"
